"""The queue with real aiosqlite, the real worker thread and the tiny pipeline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.domain import JobState, Mode, Recipe, Requester
from bot.domain.a1111 import parse_parameters
from bot.domain.errors import GenerationError
from bot.queue import EventKind, InProcessBackend, JobQueue, saving
from bot.render import read_parameters
from bot.storage import JobRepository

SMALL = Recipe(prompt="a red fox in snow", width=64, height=64, steps=3, model="tiny")


async def test_jobs_run_in_order_and_write_pngs(make_queue: Callable[..., JobQueue],
                                                database: Any) -> None:
    queue = make_queue()
    await queue.start()
    try:
        jobs = [await queue.submit(SMALL.with_seed(seed), Requester()) for seed in (1, 2)]
        drawn = await queue.submit(SMALL, Requester())  # seed left empty: drawn and recorded
        finished = [await queue.wait(job.id) for job in [*jobs, drawn]]
    finally:
        await queue.close()
    assert [job.state for job in finished] == [JobState.DONE] * 3
    assert finished[0].started_at is not None and finished[0].step_seconds
    assert isinstance(finished[2].recipe.seed, int)
    for job in finished:
        path = Path(job.output_path or "")
        assert path.name == f"job-{job.id:06d}-seed-{job.recipe.seed}.png"
        parsed = parse_parameters(read_parameters(path) or "")
        assert parsed["Seed"] == str(job.recipe.seed)
        assert parsed["Size"] == "64x64" and parsed["Model"] == "tiny"
    stored = await JobRepository(database).get(finished[2].id)
    assert stored is not None and stored.recipe.seed == finished[2].recipe.seed


class FailingBackend:
    """The real backend, except for prompts containing 'boom' (an injected failure)."""

    def __init__(self, inner: InProcessBackend) -> None:
        self.inner = inner

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: Any,
                       cancel: threading.Event) -> Any:
        if any("boom" in r.prompt for r in recipes):
            raise GenerationError("out of GPU memory at 64x64, batch 1 (injected)")
        if any("crash" in r.prompt for r in recipes):
            raise RuntimeError("a bug")
        return await self.inner.generate(recipes, on_progress=on_progress, cancel=cancel)


async def test_a_failing_job_is_reported_and_the_next_one_works(
        make_queue: Callable[..., JobQueue], worker: Any) -> None:
    queue = make_queue(FailingBackend(InProcessBackend(worker)))
    await queue.start()
    try:
        bad = await queue.submit(Recipe(prompt="boom", width=64, height=64, steps=2), Requester())
        crash = await queue.submit(Recipe(prompt="crash", width=64, height=64, steps=2),
                                   Requester())
        good = await queue.submit(SMALL.with_seed(3), Requester())
        results = [await queue.wait(job.id) for job in (bad, crash, good)]
    finally:
        await queue.close()
    assert results[0].state is JobState.FAILED
    assert "out of GPU memory" in (results[0].error or "")
    assert results[1].state is JobState.FAILED and "RuntimeError" in (results[1].error or "")
    assert results[2].state is JobState.DONE


async def test_an_exception_inside_the_engine_fails_only_that_job(
        make_queue: Callable[..., JobQueue], tmp_path: Path) -> None:
    queue = make_queue()
    await queue.start()
    try:
        # img2img from a file that does not exist: raised on the worker thread.
        broken = Recipe(prompt="x", width=64, height=64, steps=4, mode=Mode.IMG2IMG,
                        strength=0.5, init_image=str(tmp_path / "missing.png"))
        bad = await queue.submit(broken, Requester())
        good = await queue.submit(SMALL.with_seed(4), Requester())
        assert (await queue.wait(bad.id)).state is JobState.FAILED
        assert (await queue.wait(good.id)).state is JobState.DONE
    finally:
        await queue.close()


async def test_cancel_running_job_stops_within_a_step(make_queue: Callable[..., JobQueue],
                                                      worker: Any) -> None:
    # Every step forwarded (the default forwards at most two a second), to count them.
    queue = make_queue(InProcessBackend(worker, progress_interval=0))
    await queue.start()
    try:
        job = await queue.submit(Recipe(prompt="long", width=128, height=128, steps=40, seed=1),
                                 Requester())
        events = queue.subscribe(job.id)
        steps_seen: list[int] = []
        while True:
            event = await asyncio.wait_for(events.get(), 60)
            if event.kind is EventKind.PROGRESS:
                steps_seen.append(event.step)
                if event.step == 2:
                    await queue.cancel(job.id)
            if event.kind.final:
                break
        assert event.kind is EventKind.CANCELLED
        assert max(steps_seen) <= 3  # at most the step in flight finished after the cancel
        assert (await queue.wait(job.id)).state is JobState.CANCELLED
        after = await queue.submit(SMALL.with_seed(5), Requester())
        assert (await queue.wait(after.id)).state is JobState.DONE
    finally:
        await queue.close()


async def test_cancel_queued_job(make_queue: Callable[..., JobQueue]) -> None:
    queue = make_queue()
    first = await queue.submit(SMALL.with_seed(1), Requester())
    second = await queue.submit(SMALL.with_seed(2), Requester())
    assert queue.position(second.id) == 2
    cancelled = await queue.cancel(second.id)
    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    await queue.start()
    try:
        assert (await queue.wait(first.id)).state is JobState.DONE
    finally:
        await queue.close()


async def test_jobs_survive_a_restart(make_queue: Callable[..., JobQueue], database: Any) -> None:
    # A queue that stops before running anything: the job stays queued in the file.
    first = make_queue(sources=("discord",))
    requester = Requester(user_id=7, source="discord")
    job = await first.submit(SMALL.with_seed(8), requester)
    repo = JobRepository(database)
    await repo.transition(job.id, JobState.RUNNING)  # as if killed mid-generation
    second = make_queue(sources=("discord",))
    recovered = await second.start()
    try:
        assert [j.id for j in recovered] == [job.id]
        assert (await second.wait(job.id)).state is JobState.DONE
    finally:
        await second.close()


async def test_the_event_loop_runs_while_the_model_generates_and_pngs_are_written(
        make_queue: Callable[..., JobQueue], worker: Any, shared_engine: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Structural: generation and PNG encoding run off the loop, and the loop answers a call
    made from the middle of a generation (how late it is under load: bench/queue.py lateness)."""
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    generating_on: set[int] = set()
    answered_mid_generation: list[bool] = []
    real_generate = shared_engine.generate

    def handshaking(recipes: Any, *, progress: Any = None, **kwargs: Any) -> Any:
        def on_step(step: Any) -> None:
            generating_on.add(threading.get_ident())
            if not answered_mid_generation:
                answered = threading.Event()
                loop.call_soon_threadsafe(answered.set)  # runs only if the loop is free
                answered_mid_generation.append(answered.wait(60))
            progress(step)
        return real_generate(recipes, progress=on_step, **kwargs)

    writing_on: set[int] = set()
    real_write = saving.write_png

    def recording_write(*args: Any, **kwargs: Any) -> None:
        writing_on.add(threading.get_ident())
        real_write(*args, **kwargs)

    monkeypatch.setattr(shared_engine, "generate", handshaking)
    monkeypatch.setattr(saving, "write_png", recording_write)
    queue = make_queue(InProcessBackend(worker, progress_interval=0))
    await queue.start()
    try:
        job = await queue.submit(SMALL.with_seed(1), Requester())
        assert (await queue.wait(job.id)).state is JobState.DONE
    finally:
        await queue.close()
    assert answered_mid_generation == [True]
    assert generating_on and loop_thread not in generating_on
    assert writing_on and loop_thread not in writing_on
