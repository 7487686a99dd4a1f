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
    """A thread that builds the engine with ``factory`` and runs submitted calls on it in order.

    ``start_loading`` returns at once: the engine is built on the thread while the caller goes
    on (the bot connects to Discord meanwhile). Calls submitted during the load wait behind it,
    in order; ``ready`` waits for the load and raises its error.
    """

    def __init__(self, factory: Callable[[], E], *, name: str = "neurostream-inference") -> None:
        self._factory = factory
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._engine: E | None = None
        self._ready: asyncio.Future[None] | None = None
        self._load_error: BaseException | None = None

    @property
    def engine(self) -> E:
        """The engine (only for reading attributes such as ``model_id`` from the loop)."""
        if self._engine is None:
            raise RuntimeError("the inference worker has not loaded its engine yet")
        return self._engine

    @property
    def loaded(self) -> bool:
        """Whether the engine is built (False while it loads, and after a failed load)."""
        return self._engine is not None

    def start_loading(self) -> None:
        """Start the thread; it builds the engine while the caller carries on."""
        if self._ready is not None:
            return
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        # Retrieved here so that a load nobody awaits is not reported as "never retrieved";
        # ready() still raises it.
        self._ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._thread.start()
        self._queue.put(_WorkItem(lambda _: None, self._ready, loop))

    async def ready(self) -> None:
        """Wait until the engine is built; a load error is raised here (to every caller)."""
        if self._ready is None:
            raise RuntimeError("the inference worker was not started")
        await asyncio.shield(self._ready)

    async def start(self) -> None:
        """Start the thread and wait until the engine is built (load errors raise here)."""
        self.start_loading()
        await self.ready()

    async def call(self, fn: Callable[[E], T]) -> T:
        """Run ``fn(engine)`` on the worker thread and return its result (after the load)."""
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
        """Finish the call in progress, then stop the thread.

        A load still in progress cannot be interrupted: the thread is told to stop when it ends
        (it is a daemon thread, so it never holds the process up), and close returns at once.
        """
        if not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        if self._ready is not None and not self._ready.done():
            log.info("stopping while the model is still loading")
            return
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def _run(self) -> None:
        try:
            self._engine = self._factory()
        except BaseException as error:  # raised by ready(); later calls fail with it too
            self._load_error = error
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._load_error is not None:
                _reply(item, _set_exception, self._load_error)
                continue
            try:
                value = item.fn(self._engine)
            except BaseException as error:  # every failure goes back to its caller
                _reply(item, _set_exception, error)
            else:
                _reply(item, _set_result, value)


def _reply(item: _WorkItem, setter: Callable[[asyncio.Future[Any], Any], None],
           value: Any) -> None:
    try:
        item.loop.call_soon_threadsafe(setter, item.future, value)
    except RuntimeError:  # the loop closed while a slow load finished: nobody is waiting
        log.debug("dropped a result for a closed event loop")
