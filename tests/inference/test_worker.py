"""The inference worker loads in the background: calls wait behind the load, in order."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.inference.worker import InferenceWorker


class FakeEngine:
    """Stands in for an engine: records which thread ran each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []


async def test_calls_made_during_the_load_run_after_it_in_order() -> None:
    gate = threading.Event()
    engine = FakeEngine()

    def load() -> FakeEngine:
        gate.wait()
        return engine

    worker: InferenceWorker[FakeEngine] = InferenceWorker(load)
    worker.start_loading()  # returns at once
    try:
        assert not worker.loaded
        with pytest.raises(RuntimeError, match="not loaded its engine yet"):
            _ = worker.engine
        calls = [asyncio.ensure_future(worker.call(
            lambda e, n=n: e.calls.append((str(n), threading.current_thread().name))))
            for n in range(3)]
        ready = asyncio.ensure_future(worker.ready())
        await asyncio.sleep(0)
        assert not ready.done() and not any(call.done() for call in calls)
        gate.set()
        await asyncio.wait_for(asyncio.gather(ready, *calls), 10)
        assert worker.loaded and worker.engine is engine
        assert engine.calls == [(str(n), "neurostream-inference") for n in range(3)]
    finally:
        gate.set()
        await worker.close()


async def test_a_failed_load_fails_ready_and_every_call() -> None:
    def load() -> FakeEngine:
        raise OSError("no such checkpoint")

    worker: InferenceWorker[FakeEngine] = InferenceWorker(load)
    worker.start_loading()
    pending = asyncio.ensure_future(worker.call(lambda e: "never"))
    with pytest.raises(OSError, match="no such checkpoint"):
        await asyncio.wait_for(worker.ready(), 10)
    with pytest.raises(OSError, match="no such checkpoint"):
        await asyncio.wait_for(pending, 10)
    with pytest.raises(OSError, match="no such checkpoint"):
        await asyncio.wait_for(worker.call(lambda e: "later"), 10)
    assert not worker.loaded
    await asyncio.wait_for(worker.close(), 10)


async def test_close_during_the_load_does_not_wait_for_it() -> None:
    gate = threading.Event()

    def load() -> FakeEngine:
        gate.wait()
        return FakeEngine()

    worker: InferenceWorker[FakeEngine] = InferenceWorker(load)
    worker.start_loading()
    try:
        await asyncio.wait_for(worker.close(), 10)  # the load is still blocked on the gate
        assert not gate.is_set()
    finally:
        gate.set()
    # Once the load ends, the thread sees the stop and exits.
    thread = worker._thread
    await asyncio.get_running_loop().run_in_executor(None, thread.join, 10)
    assert not thread.is_alive()
