"""Dispatching: N slot tasks, one per backend slot, each running one batch at a time.

A free slot takes the next batch by the pure policy (``QueuePolicy.pick``) and pops it from
the waiting jobs with no await between, so no two slots take the same job and the start order
is the policy's order. Each slot marks its batch running, awaits the backend under its own step
watchdog and cancel flag, and hands the images to its own saver, which writes them while the
slot's next batch generates. Failures stay in their slot: an out-of-memory batch is split in
halves, any other failing batch is retried job by job, and a failing job fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain.errors import (
    GenerationCancelled,
    NeurostreamError,
    OutOfMemory,
    RendererLost,
    RenderersUnreachable,
)
from bot.domain.jobs import Job, JobState
from bot.domain.recipe import Recipe
from bot.queue.backend import Backend
from bot.queue.events import EventBus, EventKind, JobEvent, ResultOutput
from bot.queue.policy import BusySlot, QueuePolicy
from bot.queue.saving import ResultSaver
from bot.storage.jobs import JobRepository

if TYPE_CHECKING:
    from bot.inference.results import GenerationResult, StepProgress

log = logging.getLogger(__name__)


class StepTimeout(NeurostreamError):
    """A denoising step took longer than the watchdog allows."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a batch failed, and whether it was the device's memory."""

    reason: str
    out_of_memory: bool = False
    renderer_lost: bool = False  # the renderer died, not the job: worth one more try


@dataclass(eq=False)
class Slot:
    """One backend slot: the batch it generates now, its cancel flag, its saver."""

    index: int
    saver: ResultSaver
    running: dict[int, Job] = field(default_factory=dict)  # in the pipeline call now
    cancel: threading.Event | None = None
    cancelled: set[int] = field(default_factory=set)  # asked for by cancel(), not by close()
    step: int = 0

    def busy(self) -> BusySlot | None:
        """What the slot generates now, for ETAs (None when it is idle)."""
        job = next(iter(self.running.values()), None)
        return BusySlot(job.recipe, self.step) if job is not None else None


class Dispatcher:
    """The waiting jobs in memory and the slots that run them."""

    def __init__(self, jobs: JobRepository, backend: Backend, policy: QueuePolicy,
                 events: EventBus, new_saver: Callable[[], ResultSaver], *, max_batch: int,
                 step_timeout: float) -> None:
        self._jobs = jobs
        self._backend = backend
        self._policy = policy
        self._events = events
        self.max_batch = max(1, max_batch)
        self._step_timeout = step_timeout
        self.waiting: dict[int, Job] = {}
        # A backend that does not say how many batches it runs at once runs one.
        count = max(1, int(getattr(backend, "slots", 1)))
        self.slots = [Slot(index, new_saver()) for index in range(count)]
        self._wake = asyncio.Event()
        self._positions_due = False  # a publication of the positions is scheduled
        self._tasks: list[asyncio.Task[None]] = []

    # -- state ---------------------------------------------------------------------------------

    def add(self, job: Job) -> None:
        """Put a queued job in line (and wake a free slot)."""
        self.waiting[job.id] = job
        self._wake.set()

    def running(self) -> list[Job]:
        """Jobs started and not finished: those being saved, then those generating."""
        return [*(job for slot in self.slots for job in slot.saver.saving.values()),
                *(job for slot in self.slots for job in slot.running.values())]

    def started(self, job_id: int) -> bool:
        """Whether a slot has taken the job (generating or being saved)."""
        return any(job_id in slot.running or job_id in slot.saver.saving for slot in self.slots)

    def busy(self) -> list[BusySlot | None]:
        """Each slot's running batch, for ETAs."""
        return [slot.busy() for slot in self.slots]

    def cancel_running(self, job_id: int) -> Job | None:
        """Stop the slot generating ``job_id`` at its next step; None if no slot generates it.

        The engine checks between steps; the slot records the cancellation and puts the other
        jobs of the batch back in line.
        """
        for slot in self.slots:
            if job_id in slot.running and slot.cancel is not None:
                slot.cancelled.add(job_id)
                slot.cancel.set()
                return slot.running[job_id]
        return None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start one task per slot (once)."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run_slot(slot), name=f"job-slot-{slot.index}")
                           for slot in self.slots]
        self._wake.set()

    async def close(self) -> None:
        """Stop every slot; running batches go back to queued once their model has stopped."""
        for slot in self.slots:  # first, with no await: every model stops at its next step
            if slot.cancel is not None:
                slot.cancel.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for slot in self.slots:
            await slot.saver.close()

    # -- one slot ------------------------------------------------------------------------------

    async def _run_slot(self, slot: Slot) -> None:
        while True:
            if not self.waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._renderers_reachable()
            if not self.waiting:  # taken by another slot meanwhile
                continue
            # Pick and pop with no await between: another slot sees these jobs gone.
            batch = self._policy.pick(list(self.waiting.values()), self.max_batch)
            for job in batch:
                self.waiting.pop(job.id)
            try:
                await self._run_contained(slot, batch)
            except asyncio.CancelledError:
                # The whole batch, not only the part running now: after a failure the parts
                # still to retry are recorded as running too. Those handed to the saver are
                # saved, not re-queued; finished ones are left as they are.
                unsaved = [job for job in batch if job.id not in slot.saver.saving]
                await asyncio.shield(self._requeue(slot, unsaved))
                raise
            except Exception:  # the slot must survive anything a batch does
                log.exception("slot %d: dispatching jobs %s failed", slot.index,
                              [job.id for job in batch])
                with contextlib.suppress(Exception):  # not left "running" for ever
                    await self._finish(slot, list(slot.running.values()), JobState.FAILED,
                                       EventKind.FAILED, error="the queue failed to run it")
                slot.running.clear()

    async def _run_contained(self, slot: Slot, batch: list[Job], *, retried: bool = False
                             ) -> None:
        """Run a batch; on failure split it (halves on OOM, else one by one). A batch whose
        renderer died is run again once, whole (a scale-out backend sends it to another)."""
        failure = await self._run_batch(slot, batch)
        if failure is None:
            return
        if failure.renderer_lost and not retried:
            log.warning("slot %d: %s; retrying jobs %s once", slot.index, failure.reason,
                        [job.id for job in batch])
            slot.running.clear()
            fresh = await self._jobs.transition_many([job.id for job in batch], JobState.QUEUED,
                                                     attempts_delta=-1, started_at=None)
            await self._run_contained(slot, fresh, retried=True)
            return
        if len(batch) == 1:
            await self._finish(slot, batch, JobState.FAILED, EventKind.FAILED,
                               error=failure.reason)
            return
        # The attempt of a failed batch is not held against its jobs: they run again now.
        half = len(batch) // 2
        parts = ([batch[:half], batch[half:]] if failure.out_of_memory
                 else [[job] for job in batch])
        log.warning("slot %d: batch %s failed (%s); retrying as %s", slot.index,
                    [j.id for j in batch], failure.reason, [[j.id for j in part] for part in parts])
        slot.running.clear()
        for part in parts:
            fresh = await self._jobs.transition_many([job.id for job in part], JobState.QUEUED,
                                                     attempts_delta=-1, started_at=None)
            await self._run_contained(slot, fresh, retried=retried)

    async def _renderers_reachable(self) -> None:
        """Wait while the backend's renderers are away (a backend without the notion is
        always reachable); the waiting jobs stay in line meanwhile."""
        wait = getattr(self._backend, "wait_reachable", None)
        if wait is not None:
            await wait()

    async def _requeue(self, slot: Slot, jobs: Sequence[Job]) -> list[Job]:
        """Put running jobs back to queued in the table; returns them as now recorded."""
        # Only those still running go back (the statement skips one that ended meanwhile); a
        # shutdown is not the job's fault, so it does not count as an attempt.
        requeued = await self._jobs.transition_many(
            [job.id for job in jobs], JobState.QUEUED,
            attempts_delta=-1, started_at=None, strict=False)
        slot.running.clear()
        return requeued

    async def _run_batch(self, slot: Slot, batch: list[Job]) -> Failure | None:
        """Run one pipeline call; returns a failure reason, or None when it is all settled."""
        # 1. The slot holds the batch from here (cancel works at once); mark the jobs running,
        #    the attempt counted before the model is touched.
        cancel = threading.Event()
        slot.running = {job.id: job for job in batch}
        slot.cancel, slot.step = cancel, 0
        slot.cancelled.clear()
        started = time.time()
        # One statement for the whole batch: each round trip to the database thread is time
        # the slot's replica sits idle between two batches.
        running = await self._jobs.transition_many([job.id for job in batch], JobState.RUNNING,
                                                   attempts_delta=1, started_at=started)
        slot.running.update((job.id, job) for job in running)
        for job in running:
            self._events.publish(JobEvent(EventKind.STARTED, job, position=0))
        self.publish_positions()

        # 2. Generate on the backend, under the slot's step watchdog.
        try:
            if cancel.is_set():  # cancelled while being marked running: the model is spared
                raise GenerationCancelled("cancelled before its first step")
            result = await self._generate(slot, running, cancel)
        except GenerationCancelled:
            cancelled = [job for job in running if job.id in slot.cancelled]
            await self._finish(slot, cancelled, JobState.CANCELLED, EventKind.CANCELLED)
            others = [job for job in running if job.id not in slot.cancelled]
            # Back in line as the table now has them (queued, attempt given back), not as the
            # running copies: those would count the attempt twice when they start again.
            for job in await self._requeue(slot, others):
                self.add(job)
            return None
        except OutOfMemory as error:
            return Failure(str(error), out_of_memory=True)
        except RendererLost as error:
            return Failure(str(error), renderer_lost=True)
        except RenderersUnreachable as error:
            # Not the jobs' fault: back in line (attempt given back); this slot and the others
            # wait in _renderers_reachable, and the waiting users are told where they stand.
            log.warning("slot %d: %s", slot.index, error)
            for job in await self._requeue(slot, running):
                self.add(job)
            self.publish_positions()
            return None
        except NeurostreamError as error:
            return Failure(str(error))
        except Exception as error:
            log.exception("job(s) %s failed", [job.id for job in running])
            return Failure(f"unexpected error ({type(error).__name__}: {error})")
        finally:
            slot.cancel = None

        # 3. Learn the step cost for ETAs; the saver writes and records while the slot's next
        #    batch generates. One batch per slot is saved at a time, so finished images never
        #    pile up in memory. The jobs pass from generating to saving at once (no await
        #    between): a shutdown while the batch before is still being saved must save these,
        #    not re-queue them.
        self._policy.learn_step_cost(running[0].recipe, result.step_seconds)
        for job in running:
            slot.running.pop(job.id, None)
        # The safety checker's verdict per job, recorded with the result.
        flagged = {job.id: result.is_flagged(index) for index, job in enumerate(running)}
        await slot.saver.save(running, result, functools.partial(
            self._record_saved, step_seconds=result.step_seconds, flagged=flagged))
        return None

    async def _record_saved(self, job: Job, recipe: Recipe, path: Path | None,
                            output: ResultOutput | None, error: str | None, *,
                            step_seconds: float, flagged: dict[int, bool]) -> None:
        if path is None:
            ended = await self._jobs.transition(job.id, JobState.FAILED,
                                                finished_at=time.time(), error=error)
            self._events.publish(JobEvent(EventKind.FAILED, ended))
            return
        done = await self._jobs.transition(
            job.id, JobState.DONE, recipe=recipe, output_path=str(path),
            finished_at=time.time(), step_seconds=step_seconds,
            flagged=int(flagged.get(job.id, False)))
        self._events.publish(JobEvent(EventKind.DONE, done, output=output))

    async def _generate(self, slot: Slot, running: list[Job],
                        cancel: threading.Event) -> GenerationResult:
        last_step = time.monotonic()
        recipe = running[0].recipe

        def on_progress(progress: StepProgress) -> None:
            nonlocal last_step
            last_step = time.monotonic()
            slot.step = progress.step
            self._policy.observe_progress(recipe, progress.step, progress.elapsed)
            for job in running:
                self._events.publish(JobEvent(EventKind.PROGRESS, job, step=progress.step,
                                              total=progress.total, preview=progress.preview))

        task = asyncio.ensure_future(self._backend.generate(
            [job.recipe for job in running], on_progress=on_progress, cancel=cancel))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._step_timeout / 4)
                if done:
                    return task.result()
                if getattr(self._backend, "loading", None) is not None:
                    # Loading a model is not a step: a large checkpoint may take minutes.
                    last_step = time.monotonic()
                elif time.monotonic() - last_step > self._step_timeout:
                    # A thread cannot be killed: ask it to stop at the next step, fail the job.
                    cancel.set()
                    _discard_outcome(task)
                    raise StepTimeout(f"a denoising step took longer than "
                                      f"{self._step_timeout:g} s; the job was stopped")
        except asyncio.CancelledError:
            # Shutting down: the model stops at its next step. Wait for that (no longer than
            # the watchdog would), so the model is free when close() returns and the
            # generation's GenerationCancelled is not left for the loop to log as "never
            # retrieved".
            cancel.set()
            patience = self._step_timeout - (time.monotonic() - last_step)
            await asyncio.wait({task}, timeout=max(0.0, patience))
            _discard_outcome(task)
            raise

    async def _finish(self, slot: Slot, jobs: Sequence[Job], state: JobState, kind: EventKind,
                      *, error: str | None = None) -> None:
        ended = await self._jobs.transition_many([job.id for job in jobs], state,
                                                 finished_at=time.time(), error=error)
        for job in ended:
            slot.running.pop(job.id, None)
            self._events.publish(JobEvent(kind, job))

    # -- positions -----------------------------------------------------------------------------

    def etas(self, order: Sequence[Job]) -> list[float | None]:
        """Seconds until each job of ``order`` (a prefix of the waiting order) starts."""
        return self._policy.etas(order, self.busy())

    def publish_positions(self) -> None:
        """Tell each watched waiting job its place and ETA, once the current callbacks ran.

        Ordering the waiting jobs costs O(n log n), so the starts of many slots in one
        iteration of the event loop (64 replicas finishing together) share one publication.
        """
        if self._positions_due:
            return
        self._positions_due = True
        asyncio.get_running_loop().call_soon(self._publish_positions_now)

    def _publish_positions_now(self) -> None:
        self._positions_due = False
        order = self._policy.ordered(list(self.waiting.values()))
        watched = [index for index, job in enumerate(order) if self._events.watched(job.id)]
        if not watched:
            return
        order = order[: watched[-1] + 1]
        for place, (job, eta) in enumerate(zip(order, self.etas(order), strict=True), start=1):
            if self._events.watched(job.id):
                self._events.publish(JobEvent(EventKind.QUEUED, job, position=place, eta=eta))


def _discard_outcome(task: asyncio.Future[GenerationResult]) -> None:
    """Retrieve an abandoned generation's outcome (now or when it ends) so it is not logged."""
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
