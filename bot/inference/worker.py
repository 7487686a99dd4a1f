"""The inference worker: ONE thread owns the engine; the event loop only awaits results.

Modelled on aiosqlite: a dedicated thread takes work from a queue and hands results back with
``loop.call_soon_threadsafe``. Every generation runs on this same thread, never on the default
executor, so torch keeps its threads warm and nothing blocking reaches the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
T = TypeVar("T")

_STOP = object()


class _WorkItem:
    __slots__ = ("fn", "future", "loop")

    def __init__(self, fn: Callable[[Any], Any], future: asyncio.Future[Any],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.fn, self.future, self.loop = fn, future, loop


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class InferenceWorker(Generic[E]):
    """A thread that builds the engine with ``factory`` and runs submitted calls on it in order."""

    def __init__(self, factory: Callable[[], E], *, name: str = "neurostream-inference") -> None:
        self._factory = factory
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._engine: E | None = None
        self._ready: asyncio.Future[None] | None = None

    @property
    def engine(self) -> E:
        """The engine (only for reading attributes such as ``model_id`` from the loop)."""
        if self._engine is None:
            raise RuntimeError("the inference worker has not started")
        return self._engine

    async def start(self) -> None:
        """Start the thread and wait until the engine is built (load errors raise here)."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._thread.start()
        self._queue.put(_WorkItem(lambda _: None, self._ready, loop))
        await self._ready

    async def call(self, fn: Callable[[E], T]) -> T:
        """Run ``fn(engine)`` on the worker thread and return its result."""
        if not self._thread.is_alive():
            raise RuntimeError("the inference worker is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_WorkItem(fn, future, loop))
        return await future

    def thread_safe(self, loop: asyncio.AbstractEventLoop,
                    callback: Callable[[T], None]) -> Callable[[T], None]:
        """Wrap ``callback`` so that calling it on the worker thread runs it on ``loop``."""
        def forward(value: T) -> None:
            loop.call_soon_threadsafe(callback, value)
        return forward

    async def close(self) -> None:
        """Finish the call in progress, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def _run(self) -> None:
        try:
            self._engine = self._factory()
        except BaseException as error:  # a load error is raised by start(), then we stop
            item = self._queue.get()
            item.loop.call_soon_threadsafe(_set_exception, item.future, error)
            return
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                value = item.fn(self._engine)
            except BaseException as error:  # every failure goes back to its caller
                item.loop.call_soon_threadsafe(_set_exception, item.future, error)
            else:
                item.loop.call_soon_threadsafe(_set_result, item.future, value)
