"""Saving results: a generated batch's PNGs are written while the next batch generates.

The encoded bytes are kept and handed to ``record`` with the file, so the DONE event carries
the result itself (``ResultOutput``): the delivery re-reads and re-parses nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain.a1111 import format_parameters
from bot.domain.jobs import Job
from bot.domain.recipe import Recipe
from bot.queue.events import ResultOutput
from bot.render.png import result_filename, write_png

if TYPE_CHECKING:
    from PIL import Image

    from bot.inference.results import GenerationResult

log = logging.getLogger(__name__)

RunBlocking = Callable[[Callable[[], None]], Awaitable[None]]
# Records one job's outcome: its recipe and file with the encoded bytes, or None and why it
# could not be saved.
Record = Callable[[Job, Recipe, Path | None, ResultOutput | None, str | None], Awaitable[None]]


class ResultSaver:
    """Writes result PNGs off the event loop, one batch at a time, and records each job.

    ``save`` returns as soon as the batch before has been saved, so the dispatcher can start the
    next generation while this batch's PNGs are written: saving never leaves the model idle, and
    at most one batch of images waits in memory.
    """

    def __init__(self, output_dir: Path, *, compress_level: int = 1,
                 run_blocking: RunBlocking | None = None) -> None:
        self._output_dir = output_dir
        self._compress_level = compress_level
        # PNG encoding is tens of ms: by default on a thread of its own, alongside the next
        # generation (the app passes the inference thread on a CPU).
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-png")
        self._run_blocking = run_blocking or self._on_own_thread
        self.saving: dict[int, Job] = {}  # generated; their PNGs are being written
        self._task: asyncio.Task[None] | None = None

    async def save(self, jobs: Sequence[Job], result: GenerationResult, record: Record) -> None:
        """Wait for the batch being saved, then start saving this one and return.

        The jobs count as being saved from the call on. A shutdown that interrupts the wait
        still saves them before it goes on: generated images are delivered, not redone.
        """
        for job in jobs:
            self.saving[job.id] = job
        try:
            await self.settle()
        except asyncio.CancelledError:
            await self._save(list(jobs), result, record)
            raise
        self._task = asyncio.create_task(self._save(list(jobs), result, record),
                                         name=f"save-jobs-{jobs[0].id}")

    async def settle(self) -> None:
        """Wait for the batch being saved (its failures are its own, already recorded)."""
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            try:
                await task  # shutting down: the save still completes
            except Exception:
                log.exception("saving results failed")
            raise
        except Exception:
            log.exception("saving results failed")

    async def close(self) -> None:
        """Finish the save in progress (generated images are delivered, not redone)."""
        await self.settle()
        self._pool.shutdown(wait=True)

    async def _save(self, jobs: list[Job], result: GenerationResult, record: Record) -> None:
        for job, image, recipe in zip(jobs, result.images, result.recipes, strict=True):
            path = self._output_dir / result_filename(job.id, recipe.seed or 0)
            encoded: list[bytes | None] = []  # run_blocking returns nothing: the work puts it here
            try:
                await self._run_blocking(functools.partial(
                    _write_keeping, encoded, path, image, format_parameters(recipe),
                    self._compress_level))
            except Exception as error:
                log.exception("saving the image of job %d failed", job.id)
                await record(job, recipe, None, None, f"the image could not be saved ({error})")
            else:
                data = encoded[0] if encoded else None
                output = ResultOutput(data, path.name) if isinstance(data, bytes) else None
                await record(job, recipe, path, output, None)
            finally:
                self.saving.pop(job.id, None)

    async def _on_own_thread(self, work: Callable[[], None]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, work)


def _write_keeping(into: list[bytes | None], path: Path, image: Image.Image, parameters: str,
                   compress_level: int) -> None:
    """Write the PNG and keep the bytes written (blocking: runs off the event loop)."""
    into.append(write_png(path, image, parameters, compress_level=compress_level))
