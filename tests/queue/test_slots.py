"""N-slot dispatch on a gated backend: the test decides when each step of each slot runs, so
every ordering is forced, never timed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.domain import JobState, Recipe, Requester, scheduling
from bot.domain.errors import GenerationCancelled, OutOfMemory
from bot.domain.jobs import Job
from bot.inference.results import GenerationResult, StepProgress
from bot.queue import EventKind, JobQueue
from bot.queue.backend import ProgressCallback
from bot.storage import JobRepository
from bot.storage.database import Database
from tests.queue.gated_backend import STEP_SECONDS, GatedBackend, GatedCall

SMALL = Recipe(prompt="a kite", width=64, height=64, steps=3, model="gated")
QueueFactory = Callable[..., JobQueue]


class RaisingBackend(GatedBackend):
    """A gated backend whose calls for the prompt ``boom`` raise once the test allows a step."""

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: ProgressCallback | None,
                       cancel: threading.Event) -> GenerationResult:
        if recipes[0].prompt != "boom":
            return await super().generate(recipes, on_progress=on_progress, cancel=cancel)
        call = GatedCall(list(recipes), cancel)
        self.calls.put_nowait(call)
        self.calls_made.append(call)
        try:
            while call.steps_allowed < 1:
                call.opened.clear()
                await call.opened.wait()
            raise RuntimeError("replica lost (injected)")
        finally:
            call.finished.set()


@pytest.fixture
async def slot_queue(database: Database, tmp_path: Path) -> AsyncIterator[QueueFactory]:
    """Build queues on a given gated backend; each is closed at the end."""
    built: list[tuple[JobQueue, GatedBackend]] = []

    def build(backend: GatedBackend, **kwargs: Any) -> JobQueue:
        queue = JobQueue(JobRepository(database), backend, tmp_path / "outputs", **kwargs)
        built.append((queue, backend))
        return queue

    yield build
    for queue, backend in built:
        for call in backend.calls_made:  # a failed test may leave calls gated: let them stop
            call.allow()
        await queue.close()


async def _in_flight(backend: GatedBackend, count: int) -> list[GatedCall]:
    """The next ``count`` calls, all made before any of them was allowed a step."""
    return [await backend.next_call() for _ in range(count)]


async def test_jobs_spread_across_slots_none_twice_in_the_policys_order(
        slot_queue: QueueFactory) -> None:
    backend = GatedBackend(slots=3)
    queue = slot_queue(backend)
    # A heavy user on one server, two light users elsewhere and a stream job: the policy's
    # order is not the arrival order.
    plan = [Requester(user_id=1, guild_id=10)] * 4 + [Requester(user_id=2, guild_id=20),
                                                        Requester(user_id=3, guild_id=20)]
    jobs = [await queue.submit(SMALL.with_seed(i), who) for i, who in enumerate(plan)]
    jobs.append(await queue.submit(SMALL.with_seed(len(jobs)), Requester(user_id=4),
                                   priority=-10))
    jobs.append(await queue.submit(SMALL.with_seed(len(jobs)), Requester(user_id=5,
                                                                         guild_id=30)))
    expected = _policy_order(jobs, max_batch=1)
    assert expected != [job.recipe.seed for job in jobs]  # the test means something
    await queue.start()
    in_flight = await _in_flight(backend, 3)  # three batches generate at once
    assert len(queue.running()) == 3 and len(queue.waiting()) == len(jobs) - 3
    while in_flight:  # free the slots one at a time, oldest first: each takes the next job
        in_flight.pop(0).allow()
        if len(backend.calls_made) < len(jobs):
            in_flight.append(await backend.next_call())
    done = [await queue.wait(job.id) for job in jobs]
    assert all(job.state is JobState.DONE and job.attempts == 1 for job in done)
    started = [call.recipes[0].seed for call in backend.calls_made]
    assert sorted(started) == sorted(job.recipe.seed for job in jobs)  # each ran exactly once
    assert started == expected
    # A lone job arriving while every slot is free: one slot takes it, the others leave it.
    lone = await queue.submit(SMALL.with_seed(99), Requester(user_id=9))
    (await backend.next_call()).allow()
    finished = await queue.wait(lone.id)
    assert finished.state is JobState.DONE and finished.attempts == 1
    assert backend.calls.empty() and len(backend.calls_made) == len(jobs) + 1


def _policy_order(jobs: list[Job], *, max_batch: int) -> list[int | None]:
    """The seeds in the order the pure policy starts them, one pick after another, served
    marked as the one-dispatcher queue marked them."""
    last_served: dict[tuple[object, ...], float] = {}
    waiting, order, served = list(jobs), [], 0
    while waiting:
        batch = scheduling.pick_batch(waiting, max_batch, last_served)
        for job in batch:
            served += 1
            last_served[scheduling.user_key(job)] = last_served[scheduling.guild_key(job)] = served
        waiting = [job for job in waiting if job not in batch]
        order += [job.recipe.seed for job in batch]
    return order


async def test_a_slot_that_raises_fails_only_its_own_batch(
        slot_queue: QueueFactory, database: Database) -> None:
    backend = RaisingBackend(slots=3)
    queue = slot_queue(backend)
    good = await queue.submit(SMALL.with_seed(1), Requester(user_id=1))
    bad = await queue.submit(Recipe(prompt="boom", width=64, height=64, steps=3, model="gated"),
                             Requester(user_id=2))
    other = await queue.submit(SMALL.with_seed(3), Requester(user_id=3))
    await queue.start()
    calls = await _in_flight(backend, 3)
    next(call for call in calls if call.recipes[0].prompt == "boom").allow()
    failed = await queue.wait(bad.id)
    assert failed.state is JobState.FAILED and "replica lost" in (failed.error or "")
    repository = JobRepository(database)
    for job in (good, other):  # the other slots' batches go on untouched
        stored = await repository.get(job.id)
        assert stored is not None and stored.state is JobState.RUNNING
    assert not any(call.cancel.is_set() for call in calls)
    for call in calls:
        call.allow()
    assert (await queue.wait(good.id)).state is JobState.DONE
    assert (await queue.wait(other.id)).state is JobState.DONE
    later = await queue.submit(SMALL.with_seed(4), Requester(user_id=4))  # the slot still works
    (await backend.next_call()).allow()
    assert (await queue.wait(later.id)).state is JobState.DONE


async def test_cancel_a_job_running_in_slot_2_of_3(slot_queue: QueueFactory) -> None:
    backend = GatedBackend(slots=3)
    queue = slot_queue(backend)
    jobs = [await queue.submit(SMALL.with_seed(i), Requester(user_id=i + 1)) for i in range(3)]
    await queue.start()
    calls = await _in_flight(backend, 3)
    second = next(job for job in jobs if job.recipe.seed == calls[1].recipes[0].seed)
    cancelled = await queue.cancel(second.id)
    assert cancelled is not None and cancelled.id == second.id
    assert [call.cancel.is_set() for call in calls] == [False, True, False]
    for call in calls:
        call.allow()
    states = {job.id: (await queue.wait(job.id)).state for job in jobs}
    assert states == {job.id: JobState.CANCELLED if job is second else JobState.DONE
                      for job in jobs}
    assert len(backend.calls_made) == 3  # nothing was run again


class TickingBackend(GatedBackend):
    """A gated backend whose calls for the prompt ``tick`` report a step at every turn of the
    event loop (the watchdog stays fed, with no clock involved) until ``release`` is set."""

    def __init__(self, slots: int) -> None:
        super().__init__(slots)
        self.release = asyncio.Event()
        self.ticking_calls = 0

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: ProgressCallback | None,
                       cancel: threading.Event) -> GenerationResult:
        if recipes[0].prompt != "tick":
            return await super().generate(recipes, on_progress=on_progress, cancel=cancel)
        self.ticking_calls += 1
        step = 0
        while not self.release.is_set():
            if cancel.is_set():
                raise GenerationCancelled(f"cancelled after step {step}")
            step += 1
            if on_progress is not None:
                on_progress(StepProgress(step=step, total=step + 1, elapsed=step * STEP_SECONDS,
                                         preview=None))
            await asyncio.sleep(0)
        images = [Image.new("RGB", (r.width, r.height)) for r in recipes]
        return GenerationResult(images=images, recipes=[r.with_seed(r.seed or 0) for r in recipes],
                                seconds=step * STEP_SECONDS, step_seconds=STEP_SECONDS)


async def test_the_watchdog_stops_only_the_hung_slot(slot_queue: QueueFactory) -> None:
    backend = TickingBackend(slots=2)
    queue = slot_queue(backend, step_timeout=1.0)
    hung = await queue.submit(SMALL.with_seed(1), Requester(user_id=1))
    ticking = await queue.submit(Recipe(prompt="tick", width=64, height=64, steps=3, seed=2,
                                        model="gated"), Requester(user_id=2))
    await queue.start()
    (stuck,) = [call for call in await _in_flight(backend, 1)]  # the ticking call is not gated
    failed = await queue.wait(hung.id)  # its slot never reports a step
    assert failed.state is JobState.FAILED and "longer than 1 s" in (failed.error or "")
    assert stuck.cancel.is_set()
    assert queue.position(ticking.id) == 0  # the other slot still generates, untouched
    backend.release.set()
    assert (await queue.wait(ticking.id)).state is JobState.DONE
    assert backend.ticking_calls == 1  # never stopped nor run again
    stuck.allow()  # the abandoned call stops at its next step (its outcome is discarded)
    later = await queue.submit(SMALL.with_seed(3), Requester(user_id=3))
    (await backend.next_call()).allow()
    assert (await queue.wait(later.id)).state is JobState.DONE


async def test_etas_with_two_slots_go_to_the_slot_that_frees_first(
        slot_queue: QueueFactory) -> None:
    backend = GatedBackend(slots=2)
    queue = slot_queue(backend)
    jobs = [await queue.submit(SMALL.with_seed(i), Requester(user_id=i + 1)) for i in range(4)]
    third, fourth = jobs[2], jobs[3]
    events, steps = queue.subscribe(fourth.id), queue.subscribe(jobs[1].id)
    await queue.start()
    first_call, second_call = await _in_flight(backend, 2)
    assert [c.recipes[0].seed for c in (first_call, second_call)] == [0, 1]
    assert queue.estimate_wait(third.id) is None  # nothing measured yet: no guess
    second_call.allow(1)
    while (await asyncio.wait_for(steps.get(), 30)).kind is not EventKind.PROGRESS:
        pass
    # Slot 1 has 3 steps left, slot 2 has 2: the third job goes to slot 2 (after 2 steps), the
    # fourth to slot 1 (after 3), not after both jobs ahead of it as one slot would have it.
    assert queue.estimate_wait(third.id) == pytest.approx(2 * STEP_SECONDS)
    assert queue.estimate_wait(fourth.id) == pytest.approx(3 * STEP_SECONDS)
    first_call.allow()
    third_call = await backend.next_call()
    assert third_call.recipes[0].seed == third.recipe.seed
    while (queued := await asyncio.wait_for(events.get(), 30)).kind is not EventKind.QUEUED \
            or queued.position != 1:
        pass
    assert queued.eta == pytest.approx(2 * STEP_SECONDS)  # slot 2's two steps left
    second_call.allow()
    third_call.allow()
    (await backend.next_call()).allow()
    assert (await queue.wait(fourth.id)).state is JobState.DONE


class HalvingBackend(GatedBackend):
    """A gated backend that runs out of memory on any batch of more than one image."""

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: ProgressCallback | None,
                       cancel: threading.Event) -> GenerationResult:
        if len(recipes) > 1:
            raise OutOfMemory(f"out of memory at batch {len(recipes)} (injected)")
        return await super().generate(recipes, on_progress=on_progress, cancel=cancel)


async def test_close_while_a_split_batch_retries_requeues_every_part(
        slot_queue: QueueFactory, database: Database) -> None:
    backend = HalvingBackend(slots=2)
    queue = slot_queue(backend, max_batch=2)
    jobs = [await queue.submit(SMALL.with_seed(i), Requester(user_id=i + 1)) for i in range(2)]
    await queue.start()
    first_half = await backend.next_call()  # the pair failed; its first half runs alone
    assert len(first_half.recipes) == 1
    closing = asyncio.ensure_future(queue.close())
    await asyncio.sleep(0)  # close() has raised every slot's flag
    first_half.allow()
    await closing
    repository = JobRepository(database)
    for job in jobs:  # the half still to retry was recorded as running: it is back in line too
        stored = await repository.get(job.id)
        assert stored is not None and stored.state is JobState.QUEUED, stored
        assert stored.attempts == 0
    assert len(backend.calls_made) == 1
