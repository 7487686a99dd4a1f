"""The application's parts, built once from settings and closed in reverse order."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.domain.requests import Defaults
from bot.domain.scheduling import Caps
from bot.inference.batching import auto_batch_size
from bot.inference.worker import InferenceWorker
from bot.queue.backend import InProcessBackend
from bot.queue.queue import JobQueue
from bot.services.generation import GenerationService
from bot.services.streams import StreamService
from bot.services.themes import ThemeService, load_presets, load_token_counter, preset_folders
from bot.storage.database import Database
from bot.storage.jobs import JobRepository
from bot.storage.streams import StreamRepository
from bot.storage.themes import ThemeRepository

if TYPE_CHECKING:
    from bot.inference.engine import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class App:
    """Everything a front end (the bot or the CLI) talks to."""

    settings: Settings
    database: Database
    jobs: JobRepository
    worker: InferenceWorker[Engine]
    queue: JobQueue
    generation: GenerationService
    themes: ThemeService
    streams: StreamService


def engine_factory(settings: Settings) -> Callable[[], Engine]:
    """A function that loads the configured engine; it runs on the worker thread."""
    model = settings.model
    threads = settings.worker.torch_threads

    def load() -> Engine:
        import torch

        from bot.inference import load_engine

        if threads:
            torch.set_num_threads(threads)
        log.info("loading model %s on %s", model.id, model.device)
        return load_engine(model.id, device=model.device, dtype=model.dtype,
                           family=model.family or None, limits=model.limits)

    return load


def on_worker_if_cpu(worker: InferenceWorker[Engine]
                     ) -> Callable[[Callable[[], None]], Awaitable[None]] | None:
    """On a CPU, blocking result work runs on the inference thread, between generations.

    Torch's CPU kernels use every core and stall when another thread takes one (measured on 2
    cores, queued 512² jobs against a plain loop: 0.962× with PNGs encoded alongside the next
    generation, 0.985× with them encoded here). On a GPU a separate thread is better: the GPU
    keeps generating while the CPU encodes.
    """
    if worker.engine.device.type != "cpu":
        return None

    async def run(work: Callable[[], None]) -> None:
        await worker.call(lambda _engine: work())

    return run


def defaults_from(settings: Settings) -> Defaults:
    """Request defaults from ``[model]``."""
    model = settings.model
    return Defaults(width=model.width, height=model.height, steps=model.steps,
                    guidance=model.guidance, scheduler=model.scheduler)


@contextlib.asynccontextmanager
async def open_app(settings: Settings, *, sources: Iterable[str], recover: bool,
                   factory: Callable[[], Engine] | None = None) -> AsyncIterator[App]:
    """Open the database, load the model on its worker thread, start the queue; close on exit.

    ``factory`` replaces the configured model loader (tests and benchmarks share one engine).
    """
    # Tokenizers spawn their own thread pool; with one worker thread it only adds contention.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    database = await Database.open(settings.database_path)
    try:
        jobs = JobRepository(database)
        worker: InferenceWorker[Engine] = InferenceWorker(factory or engine_factory(settings))
        await worker.start()
        try:
            queue_settings = settings.queue
            max_batch = queue_settings.max_batch or await worker.call(
                lambda engine: auto_batch_size(engine, settings.model.width,
                                               settings.model.height))
            queue = JobQueue(jobs, InProcessBackend(worker), settings.output_dir,
                             sources=sources, compress_level=settings.storage.png_compress_level,
                             max_batch=max_batch, max_attempts=queue_settings.max_attempts,
                             step_timeout=queue_settings.step_timeout,
                             run_blocking=on_worker_if_cpu(worker))
            caps = Caps(per_user=queue_settings.max_per_user, total=queue_settings.max_total)
            generation = GenerationService(queue, defaults=defaults_from(settings),
                                           limits=settings.model.limits,
                                           model_id=worker.engine.model_id, caps=caps)
            generation.count_tokens = await worker.call(load_token_counter)
            limits = settings.model.limits
            # A few small files, read once before anything is served. Not asyncio.to_thread:
            # starting the loop's default executor here made the gateway-resume test hang.
            catalog = load_presets(preset_folders(settings), limits)
            pools = StreamRepository(database)
            themes = ThemeService(ThemeRepository(database), pools, catalog, limits)
            await themes.load()
            streams = StreamService(pools, jobs, queue, generation, themes,
                                    every=settings.themes.stream_every,
                                    every_min=settings.themes.stream_every_min,
                                    every_max=settings.themes.stream_every_max)
            await streams.load()
            await queue.start(recover=recover)
            try:
                yield App(settings, database, jobs, worker, queue, generation, themes, streams)
            finally:
                await queue.close()
        finally:
            await worker.close()
    finally:
        await database.close()
