"""The queue's policy state: whom it served last (fairness) and what a step costs (ETAs).

The order itself is the pure policy of ``bot.domain.scheduling``; this keeps the state it reads
(``last_served``) and the measured step cost, and turns a waiting order into start times on N
backend slots. No I/O and no awaits, so a slot can pick and mark served in one go.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.domain import scheduling
from bot.domain.jobs import Job
from bot.domain.recipe import Recipe


@dataclass(frozen=True, slots=True)
class BusySlot:
    """What a slot is generating now: the recipe of its batch and the steps done so far."""

    recipe: Recipe
    steps_done: int


class QueuePolicy:
    """Fairness bookkeeping and step-cost learning for one queue."""

    def __init__(self) -> None:
        # When each user and server last had a job started (a counter), for round-robin.
        self.last_served: dict[tuple[object, ...], float] = {}
        self._served_count = 0
        # Measured seconds per denoising step per pixel (exponential average), for ETAs.
        self.step_cost: float | None = None
        self._live_cost: float | None = None  # from a running job, before the first finishes
        # Seconds to get a model ready (0 when loaded; None: no switch costs anything).
        self.switch_seconds: Callable[[str], float] | None = None

    # -- fairness ----------------------------------------------------------------------------

    def ordered(self, waiting: Sequence[Job]) -> list[Job]:
        """The waiting jobs in the order they will start."""
        return scheduling.ordered(waiting, self.last_served)

    def position(self, waiting: Sequence[Job], job_id: int) -> int | None:
        """1-based place of ``job_id`` among ``waiting``, or None if it is not there."""
        return scheduling.position(waiting, job_id, self.last_served)

    def pick(self, waiting: Sequence[Job], max_batch: int) -> list[Job]:
        """The next batch, marked served at once: the next pick already sees it as served."""
        batch = scheduling.pick_batch(waiting, max_batch, self.last_served)
        for job in batch:
            self._served_count += 1
            self.last_served[scheduling.user_key(job)] = self._served_count
            self.last_served[scheduling.guild_key(job)] = self._served_count
        return batch

    # -- ETAs --------------------------------------------------------------------------------

    def learn_step_cost(self, recipe: Recipe, step_seconds: float) -> None:
        """Fold a finished batch's measured seconds per step into the cost per pixel."""
        if step_seconds <= 0:
            return
        cost = step_seconds / (recipe.width * recipe.height)
        self.step_cost = cost if self.step_cost is None else 0.7 * self.step_cost + 0.3 * cost

    def observe_progress(self, recipe: Recipe, step: int, elapsed: float) -> None:
        """A running batch's pace, used until a batch has finished and been measured."""
        if step > 0:
            self._live_cost = elapsed / step / (recipe.width * recipe.height)

    def etas(self, order: Sequence[Job], busy: Sequence[BusySlot | None]) -> list[float | None]:
        """Seconds until each job of ``order`` (a prefix of the waiting order) starts.

        ``busy`` has one entry per backend slot (None: idle). Each job goes, in order, to the
        slot that frees first, as the slots will take them; with one slot this is the sum of
        what is left of the running job and of every job ahead.
        """
        cost = self.step_cost or self._live_cost
        if cost is None:
            return [None] * len(order)
        free_at = [scheduling.estimate_wait(
            [], max(0, slot.recipe.steps - slot.steps_done) if slot else 0,
            slot.recipe.width * slot.recipe.height if slot else 0, cost)
            for slot in busy] or [0.0]
        etas: list[float | None] = []
        # Each slot's model: a job of another model waits for that model's load too.
        models = [slot.recipe.model if slot else None for slot in busy] or [None]
        # The slot that frees first (the first of the earliest on a tie) from a heap: with many
        # replicas and a long queue, a scan of every slot per job was the loop's largest cost.
        heap = [(at, index) for index, at in enumerate(free_at)]
        heapq.heapify(heap)
        for job in order:
            at, slot = heapq.heappop(heap)
            model = job.recipe.model
            if self.switch_seconds is not None and model != models[slot]:
                at += self.switch_seconds(model)
                models[slot] = model
            etas.append(at)
            heapq.heappush(heap, (at + scheduling.estimate_wait([job], 0, 0, cost), slot))
        return etas
