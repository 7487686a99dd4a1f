"""The job table's bookkeeping at a cancel, a shutdown and for ETAs: a gated backend decides
when each step runs, so every ordering is forced, never timed."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.domain import JobState, Recipe, Requester
from bot.queue import EventKind, JobQueue
from bot.queue.saving import ResultSaver
from bot.storage import JobRepository
from bot.storage.database import Database
from tests.queue.gated_backend import STEP_SECONDS, GatedBackend

SMALL = Recipe(prompt="a kite", width=64, height=64, steps=3, model="gated")
QueueFactory = Callable[..., JobQueue]


@pytest.fixture
def backend() -> GatedBackend:
    """The gated backend the queue generates on."""
    return GatedBackend()


@pytest.fixture
async def gated_queue(database: Database, backend: GatedBackend,
                      tmp_path: Path) -> AsyncIterator[QueueFactory]:
    """Build queues on the gated backend; each is closed at the end."""
    built: list[JobQueue] = []

    def build(**kwargs: Any) -> JobQueue:
        queue = JobQueue(JobRepository(database), backend, tmp_path / "outputs", **kwargs)
        built.append(queue)
        return queue

    yield build
    for queue in built:
        await queue.close()


async def test_close_mid_generation_waits_for_the_model_and_requeues_the_job(
        gated_queue: QueueFactory, backend: GatedBackend, database: Database) -> None:
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    try:
        queue = gated_queue()
        job = await queue.submit(SMALL.with_seed(1), Requester(user_id=1, source="discord"))
        await queue.start()
        call = await backend.next_call()
        call.allow(1)
        closing = asyncio.ensure_future(queue.close())
        await asyncio.sleep(0)  # close() has run up to its first wait: the flag is raised
        assert call.cancel.is_set() and not call.finished.is_set()
        call.allow()  # the model reaches its next step and stops there
        await closing
        assert call.finished.is_set()  # close() returned once the model had stopped
        await asyncio.sleep(0)
        gc.collect()  # an abandoned task logs its exception when it is collected
    finally:
        loop.set_exception_handler(previous)
    assert not [c for c in unhandled if "never retrieved" in str(c.get("message"))], unhandled
    stored = await JobRepository(database).get(job.id)
    assert stored is not None and stored.state is JobState.QUEUED
    assert stored.started_at is None and stored.attempts == 0  # a shutdown is no attempt


async def test_close_while_the_batch_before_is_saved_saves_the_next_one_too(
        gated_queue: QueueFactory, backend: GatedBackend, database: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    gate = asyncio.Event()

    async def gated_write(work: Callable[[], None]) -> None:
        await gate.wait()
        await asyncio.to_thread(work)

    second_saving = asyncio.Event()
    real_save = ResultSaver.save

    async def noting_save(self: ResultSaver, jobs: Any, result: Any, record: Any) -> None:
        if jobs[0].id == second.id:
            second_saving.set()
        await real_save(self, jobs, result, record)

    monkeypatch.setattr(ResultSaver, "save", noting_save)
    queue = gated_queue(run_blocking=gated_write)
    first = await queue.submit(SMALL.with_seed(1), Requester(user_id=1))
    second = await queue.submit(SMALL.with_seed(2), Requester(user_id=2))
    await queue.start()
    (await backend.next_call()).allow()
    (await backend.next_call()).allow()
    await asyncio.wait_for(second_saving.wait(), 30)  # generated; waits for the first's save
    closing = asyncio.ensure_future(queue.close())
    await asyncio.sleep(0)  # close() has run up to its first wait: the shutdown is under way
    gate.set()
    await closing
    repository = JobRepository(database)
    for job in (first, second):  # both generated: both delivered, neither re-queued
        stored = await repository.get(job.id)
        assert stored is not None and stored.state is JobState.DONE, stored
        assert stored.output_path and stored.started_at is not None and stored.attempts == 1
    assert len(backend.calls_made) == 2  # nothing is generated twice


async def test_a_batch_mate_cancelled_requeues_the_other_as_the_table_has_it(
        gated_queue: QueueFactory, backend: GatedBackend, database: Database) -> None:
    queue = gated_queue(max_batch=2)
    cancelled = await queue.submit(SMALL.with_seed(1), Requester(user_id=1))
    other = await queue.submit(SMALL.with_seed(2), Requester(user_id=2))
    await queue.start()
    batch = await backend.next_call()
    assert len(batch.recipes) == 2
    await queue.cancel(cancelled.id)
    batch.allow()
    alone = await backend.next_call()  # the other job, back in line, runs again
    assert [r.seed for r in alone.recipes] == [2]
    (running,) = queue.running()
    stored = await JobRepository(database).get(other.id)
    assert stored is not None and stored.state is JobState.RUNNING
    assert running.attempts == stored.attempts == 1  # the cancelled batch's attempt was given back
    alone.allow()
    done = await queue.wait(other.id)
    assert done.state is JobState.DONE and done.attempts == 1 and done.started_at is not None
    assert (await queue.wait(cancelled.id)).state is JobState.CANCELLED


async def test_waiting_jobs_get_an_eta_once_a_step_cost_is_measured(
        gated_queue: QueueFactory, backend: GatedBackend) -> None:
    queue = gated_queue()
    jobs = [await queue.submit(SMALL.with_seed(i), Requester(user_id=i)) for i in range(3)]
    middle, last = jobs[1], jobs[2]
    steps, events = queue.subscribe(middle.id), queue.subscribe(last.id)
    await queue.start()
    first = await backend.next_call()
    queued = await asyncio.wait_for(events.get(), 30)
    assert queued.kind is EventKind.QUEUED and queued.position == 2
    assert queued.eta is None  # nothing measured yet: no guess
    first.allow()
    second = await backend.next_call()  # the first job's steps cost STEP_SECONDS each
    queued = await asyncio.wait_for(events.get(), 30)
    assert queued.kind is EventKind.QUEUED and queued.position == 1
    # The running job's three steps are still to come, at the measured cost.
    assert queued.eta == pytest.approx(SMALL.steps * STEP_SECONDS)
    assert queue.estimate_wait(last.id) == pytest.approx(SMALL.steps * STEP_SECONDS)
    second.allow(1)
    while (await asyncio.wait_for(steps.get(), 30)).kind is not EventKind.PROGRESS:
        pass
    assert queue.estimate_wait(last.id) == pytest.approx((SMALL.steps - 1) * STEP_SECONDS)
    second.allow()
    (await backend.next_call()).allow()
    assert (await queue.wait(last.id)).state is JobState.DONE
