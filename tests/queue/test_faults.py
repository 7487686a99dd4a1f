"""Batching and fault containment in the queue, with the real worker and the tiny pipeline.

The injected failures wrap the real backend (a fake at the edge): the rest is real.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.domain import JobState, Recipe, Requester
from bot.domain.errors import OutOfMemory
from bot.queue import InProcessBackend, JobQueue
from bot.queue.saving import ResultSaver
from bot.storage import JobRepository

SMALL = Recipe(prompt="a lighthouse", width=64, height=64, steps=3, model="tiny")


class RecordingBackend:
    """The real backend; records batch sizes and can fail on chosen batch sizes or prompts."""

    def __init__(self, inner: InProcessBackend, *, oom_above: int = 0,
                 fail_batches: bool = False, hang_prompt: str = "") -> None:
        self.inner = inner
        self.sizes: list[int] = []
        self.oom_above = oom_above
        self.fail_batches = fail_batches
        self.hang_prompt = hang_prompt

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: Any,
                       cancel: threading.Event) -> Any:
        self.sizes.append(len(recipes))
        if self.oom_above and len(recipes) > self.oom_above:
            raise OutOfMemory(f"out of GPU memory at 64x64, batch {len(recipes)} (injected)")
        if self.fail_batches and len(recipes) > 1:
            raise RuntimeError("batch kernel failure (injected)")
        if any(r.prompt == self.hang_prompt for r in recipes):
            await asyncio.sleep(3600)
        return await self.inner.generate(recipes, on_progress=on_progress, cancel=cancel)


def _pixels(path: str | None) -> np.ndarray:
    with Image.open(path or "") as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


async def _run_all(queue: JobQueue, recipes: list[Recipe]) -> list[Any]:
    jobs = [await queue.submit(recipe, Requester(user_id=i, source="cli"))
            for i, recipe in enumerate(recipes)]
    await queue.start()
    try:
        return [await queue.wait(job.id) for job in jobs]
    finally:
        await queue.close()


async def test_batched_images_equal_unbatched_within_rounding(
        make_queue: Callable[..., JobQueue], worker: Any) -> None:
    recipes = [SMALL.with_seed(seed) for seed in (11, 12, 13)]
    backend = RecordingBackend(InProcessBackend(worker))
    batched = await _run_all(make_queue(backend, max_batch=3), recipes)
    assert backend.sizes == [3]
    alone_backend = RecordingBackend(InProcessBackend(worker))
    alone = await _run_all(make_queue(alone_backend, max_batch=1), recipes)
    assert alone_backend.sizes == [1, 1, 1]
    for one, other in zip(batched, alone, strict=True):
        assert one.recipe == other.recipe  # seeds and recipes recorded exactly
        difference = np.abs(_pixels(one.output_path) - _pixels(other.output_path))
        assert difference.max() <= 1 and difference.mean() < 0.05


async def test_lone_job_does_not_wait_for_company(make_queue: Callable[..., JobQueue],
                                                  worker: Any) -> None:
    backend = RecordingBackend(InProcessBackend(worker))
    queue = make_queue(backend, max_batch=4)
    await queue.start()
    try:
        job = await queue.submit(SMALL.with_seed(1), Requester())
        done = await asyncio.wait_for(queue.wait(job.id), 60)
    finally:
        await queue.close()
    assert done.state is JobState.DONE and backend.sizes == [1]


async def test_out_of_memory_halves_the_batch(make_queue: Callable[..., JobQueue],
                                              worker: Any) -> None:
    backend = RecordingBackend(InProcessBackend(worker), oom_above=1)
    results = await _run_all(make_queue(backend, max_batch=4),
                             [SMALL.with_seed(s) for s in range(4)])
    assert [job.state for job in results] == [JobState.DONE] * 4
    assert backend.sizes == [4, 2, 1, 1, 2, 1, 1]
    assert all(job.attempts == 1 for job in results)


async def test_failing_batch_is_retried_one_by_one(make_queue: Callable[..., JobQueue],
                                                   worker: Any) -> None:
    backend = RecordingBackend(InProcessBackend(worker), fail_batches=True)
    results = await _run_all(make_queue(backend, max_batch=3),
                             [SMALL.with_seed(s) for s in range(3)])
    assert [job.state for job in results] == [JobState.DONE] * 3
    assert backend.sizes == [3, 1, 1, 1]


async def test_cancel_one_job_of_a_batch_requeues_the_others(
        make_queue: Callable[..., JobQueue], worker: Any) -> None:
    queue = make_queue(max_batch=2)
    slow = Recipe(prompt="slow", width=128, height=128, steps=30)
    first = await queue.submit(slow.with_seed(1), Requester(user_id=1))
    second = await queue.submit(slow.with_seed(2), Requester(user_id=2))
    events = queue.subscribe(first.id)
    await queue.start()
    try:
        while (await asyncio.wait_for(events.get(), 60)).step < 1:
            pass
        await queue.cancel(first.id)
        assert (await queue.wait(first.id)).state is JobState.CANCELLED
        assert (await queue.wait(second.id)).state is JobState.DONE
    finally:
        await queue.close()


async def test_watchdog_fails_a_hanging_job_and_the_next_works(
        make_queue: Callable[..., JobQueue], worker: Any) -> None:
    backend = RecordingBackend(InProcessBackend(worker), hang_prompt="hang")
    queue = make_queue(backend, step_timeout=2.0)
    hung = await queue.submit(Recipe(prompt="hang", width=64, height=64, steps=2), Requester())
    good = await queue.submit(SMALL.with_seed(2), Requester())
    await queue.start()
    try:
        failed = await asyncio.wait_for(queue.wait(hung.id), 30)
        assert failed.state is JobState.FAILED and "longer than 2 s" in (failed.error or "")
        assert (await asyncio.wait_for(queue.wait(good.id), 60)).state is JobState.DONE
    finally:
        await queue.close()


class LoadingBackend(RecordingBackend):
    """Loads a model for ``load_seconds`` (reporting it, as the in-process backend does)
    before rendering: no step is reported meanwhile."""

    def __init__(self, inner: InProcessBackend, load_seconds: float) -> None:
        super().__init__(inner)
        self.load_seconds = load_seconds
        self.loading: str | None = None

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: Any,
                       cancel: threading.Event) -> Any:
        self.loading = "a-large-checkpoint"
        try:
            await asyncio.sleep(self.load_seconds)
        finally:
            self.loading = None
        return await super().generate(recipes, on_progress=on_progress, cancel=cancel)


async def test_a_model_load_longer_than_the_step_timeout_is_not_a_hung_step(
        make_queue: Callable[..., JobQueue], worker: Any) -> None:
    # The load takes 4 step timeouts; a watchdog that counted it would fail the job.
    queue = make_queue(LoadingBackend(InProcessBackend(worker), load_seconds=2.0),
                       step_timeout=0.5)
    job = await queue.submit(SMALL.with_seed(3), Requester())
    await queue.start()
    try:
        done = await asyncio.wait_for(queue.wait(job.id), 60)
    finally:
        await queue.close()
    assert done.state is JobState.DONE, done.error


async def test_poison_job_is_failed_after_max_attempts(make_queue: Callable[..., JobQueue],
                                                       database: Any) -> None:
    repo = JobRepository(database)
    requester = Requester(user_id=5, source="discord")
    poison = await repo.add(SMALL.with_seed(1), requester)
    retry = await repo.add(SMALL.with_seed(2), requester)
    # Each crashed the process while running: poison three times, retry once.
    await repo.transition(poison.id, JobState.RUNNING, attempts=3)
    await repo.transition(retry.id, JobState.RUNNING, attempts=1)
    queue = make_queue(sources=("discord",), max_attempts=3)
    recovered = await queue.start()
    try:
        assert [job.id for job in recovered] == [retry.id]
        failed = await repo.get(poison.id)
        assert failed is not None and failed.state is JobState.FAILED
        assert "stopped after 3 attempts" in (failed.error or "")
        assert (await queue.wait(retry.id)).state is JobState.DONE
    finally:
        await queue.close()


class GatedSaves:
    """A ``run_blocking`` that holds each save until the test opens the gate."""

    def __init__(self, *, fail_first: bool = False) -> None:
        self.gate = asyncio.Event()
        self.saving = asyncio.Event()
        self.fail_first = fail_first

    async def __call__(self, work: Callable[[], None]) -> None:
        self.saving.set()
        await self.gate.wait()
        if self.fail_first:
            self.fail_first = False
            raise OSError(28, "No space left on device")
        await asyncio.to_thread(work)


async def test_next_job_generates_while_the_previous_is_saved(
        make_queue: Callable[..., JobQueue], worker: Any) -> None:
    saves = GatedSaves()
    queue = make_queue(run_blocking=saves)
    first = await queue.submit(SMALL.with_seed(1), Requester(user_id=1))
    second = await queue.submit(SMALL.with_seed(2), Requester(user_id=2))
    started = queue.subscribe(second.id)
    await queue.start()
    try:
        await asyncio.wait_for(saves.saving.wait(), 60)
        while (await asyncio.wait_for(started.get(), 60)).step < 1:
            pass  # the second job is generating while the first one's PNG waits
        assert [job.id for job in queue.running()] == [first.id, second.id]
        assert queue.position(first.id) == 0
        assert (await queue.cancel(first.id)) is None  # generated: too late to cancel
        saves.gate.set()
        assert (await queue.wait(first.id)).state is JobState.DONE
        assert (await queue.wait(second.id)).state is JobState.DONE
    finally:
        await queue.close()


async def test_a_failed_save_fails_that_job_with_the_reason_and_the_next_works(
        make_queue: Callable[..., JobQueue], worker: Any) -> None:
    saves = GatedSaves(fail_first=True)
    saves.gate.set()
    results = await _run_all(make_queue(run_blocking=saves),
                             [SMALL.with_seed(1), SMALL.with_seed(2)])
    assert results[0].state is JobState.FAILED
    assert "could not be saved" in (results[0].error or "")
    assert "No space left on device" in (results[0].error or "")
    assert results[1].state is JobState.DONE


async def test_close_finishes_a_save_in_progress(make_queue: Callable[..., JobQueue],
                                                 database: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    saves = GatedSaves()
    queue = make_queue(run_blocking=saves)
    job = await queue.submit(SMALL.with_seed(1), Requester())
    await queue.start()
    await asyncio.wait_for(saves.saving.wait(), 60)
    real_settle = ResultSaver.settle

    async def open_when_close_waits(self: ResultSaver) -> None:
        saves.gate.set()  # close() now waits for the save: only now may the image be written
        await real_settle(self)

    monkeypatch.setattr(ResultSaver, "settle", open_when_close_waits)
    await asyncio.wait_for(queue.close(), 30)
    saved = await JobRepository(database).get(job.id)
    assert saved is not None and saved.state is JobState.DONE and saved.output_path
