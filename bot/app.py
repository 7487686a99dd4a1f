"""The application's parts, built once from settings and closed in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.domain.errors import NeurostreamError
from bot.domain.images import InputLimits, MiB
from bot.domain.models import ModelSpec
from bot.domain.requests import Defaults
from bot.domain.scheduling import Caps
from bot.inference.batching import auto_batch_size
from bot.inference.models import ModelPool
from bot.inference.worker import InferenceWorker
from bot.queue.backend import InProcessBackend
from bot.queue.queue import JobQueue
from bot.services.craft import StyleService, load_styles, style_folders
from bot.services.generation import GenerationService
from bot.services.intake import IntakeService
from bot.services.moderation import ModerationService, open_moderation
from bot.services.party import PartyService
from bot.services.streams import StreamService
from bot.services.themes import ThemeService, load_presets, load_token_counter, preset_folders
from bot.services.tools import ToolService
from bot.services.wall import WallService
from bot.storage.attachments import AttachmentStore
from bot.storage.database import Database
from bot.storage.jobs import JobRepository
from bot.storage.lineage import LineageRepository
from bot.storage.party import PartyRepository
from bot.storage.streams import StreamRepository
from bot.storage.themes import ThemeRepository

if TYPE_CHECKING:
    from bot.inference.engine import Engine
    from bot.inference.lora_files import LoraFiles
    from bot.queue.backend import Backend
    from bot.queue.ray_backend import RayServeBackend

log = logging.getLogger(__name__)


class ModelLoadError(NeurostreamError):
    """The model failed to load for a reason of its own (a broken file, out of memory)."""


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
    # Done once the model is loaded and the queue dispatches; raises the load's error.
    ready: asyncio.Future[None]
    # Starts loading the model (if ``open_app`` was told not to) and waits until it is ready.
    load_model: Callable[[], Awaitable[None]]
    # Input images kept by content hash (recipes name them ``sha256:<hex>``).
    attachments: AttachmentStore
    # Uploaded images taken in safely (/sketch, /inpaint).
    intake: IntakeService
    # Style presets, prompt checks and the teaching grids (/styles, /xy).
    craft: StyleService
    # Server blocklists, quotas, denied members, the safety setting and the audit log.
    moderation: ModerationService
    # Parties, votes, the star board, /best and /history; which channels the wall shows.
    party: PartyService
    wall: WallService
    # Vary, upscale, zoom out, remix and morph finished images.
    tools: ToolService

    # The Ray Serve renderers when ``[backend] kind = "ray"`` (None: the in-process worker).
    renderers: RayServeBackend | None
    # The named models loaded in this process (None: rendering happens elsewhere).
    models: ModelPool | None = None

    @property
    def renderers_unreachable(self) -> bool:
        """Whether the Ray Serve renderers are away (jobs are kept and wait for them)."""
        return self.renderers is not None and self.renderers.unreachable

    @property
    def loading(self) -> bool:
        """Whether the model is still loading (requests wait in the queue meanwhile)."""
        return not self.ready.done()


def engine_factory(settings: Settings) -> Callable[[], Engine]:
    """A function that loads the configured (default) engine; it runs on the worker thread."""
    model = settings.model
    threads = settings.worker.torch_threads
    # Its own view of the LoRA folders (it looks again when a name is new to it).
    load_named = model_loader(settings, lora_files(settings))

    def load() -> Engine:
        import torch

        if threads:
            torch.set_num_threads(threads)
        log.info("loading model %s on %s", model.id, model.device)
        return load_named(settings.catalog.default)

    return load


def lora_files(settings: Settings) -> LoraFiles | None:
    """The LoRA files of ``[loras] dirs`` (None when there are none configured)."""
    from bot.inference.lora_files import LoraFiles

    dirs = [settings.path(folder) for folder in settings.loras.dirs]
    return LoraFiles(dirs) if dirs else None


def model_loader(settings: Settings, loras: LoraFiles | None) -> Callable[[ModelSpec], Engine]:
    """Loads a catalogue model (on the worker thread), LoRAs and speed settings applied."""
    batch_sizes = sorted({1, settings.queue.max_batch or 1})

    def load(spec: ModelSpec) -> Engine:
        from bot.inference.models import load_model

        return load_model(spec, loras=loras, keep_loras=settings.loras.keep_loaded,
                          batch_sizes=batch_sizes)

    return load


def on_worker_if_cpu(worker: InferenceWorker[Engine]
                     ) -> Callable[[Callable[[], None]], Awaitable[None]] | None:
    """On a CPU, blocking result work runs on the inference thread, between generations.

    Torch's CPU kernels use every core and stall when another thread takes one (measured on 2
    cores, queued 512² jobs against a plain loop: 0.962× with PNGs encoded alongside the next
    generation, 0.985× with them encoded here). On a GPU a separate thread is better: the GPU
    keeps generating while the CPU encodes. Needs the loaded engine (its device).
    """
    if worker.engine.device.type != "cpu":
        return None

    async def run(work: Callable[[], None]) -> None:
        await worker.call(lambda _engine: work())

    return run


def _result_work_runner(worker: InferenceWorker[Engine], pool: ThreadPoolExecutor
                        ) -> Callable[[Callable[[], None]], Awaitable[None]]:
    """``on_worker_if_cpu`` decided at each call, so it can be built before the model loads
    (results exist only once it has): the inference thread on a CPU, ``pool`` on a GPU."""
    async def run(work: Callable[[], None]) -> None:
        on_worker = on_worker_if_cpu(worker)
        if on_worker is not None:
            await on_worker(work)
        else:
            await asyncio.get_running_loop().run_in_executor(pool, work)

    return run


def input_limits(settings: Settings) -> InputLimits:
    """What an uploaded image may be, from ``[limits]``."""
    limits = settings.limits
    return InputLimits(max_bytes=int(limits.attachment_max_mb * MiB),
                       max_side=limits.attachment_max_side,
                       max_pixels=int(limits.attachment_max_megapixels * 1_000_000))


def stored_image_limits(settings: Settings) -> dict[str, int]:
    """The attachments store's own guard: an upload is stored as a PNG at the size its job
    runs at (at most the model's largest size), which can be larger than the upload."""
    model = settings.model
    pixels = model.width_max * model.height_max
    return {"max_bytes": max(int(settings.limits.attachment_max_mb * MiB), 4 * pixels + MiB),
            "max_pixels": max(int(settings.limits.attachment_max_megapixels * 1e6), pixels)}


def _on_pool(pool: ThreadPoolExecutor) -> Callable[[Callable[[], None]], Awaitable[None]]:
    """Result work on ``pool`` (with Ray Serve, no torch runs in this process)."""
    async def run(work: Callable[[], None]) -> None:
        await asyncio.get_running_loop().run_in_executor(pool, work)

    return run


async def _when_renderers_ready(settings: Settings, renderers: RayServeBackend, queue: JobQueue,
                                load_requested: asyncio.Event, *, recover: bool) -> None:
    """Start the local Ray Serve application (or reach the cluster's), then dispatch."""
    await load_requested.wait()
    await renderers.start()
    if not settings.queue.max_batch:  # "auto": as many as a replica renders in one call
        queue.max_batch = settings.backend.max_batch_size
    await queue.start(recover=recover)
    log.info("Ray Serve renderers ready; the queue is running")


def defaults_from(settings: Settings) -> Defaults:
    """Request defaults from ``[model]``."""
    model = settings.model
    return Defaults(width=model.width, height=model.height, steps=model.steps,
                    guidance=model.guidance, scheduler=model.scheduler)


async def _when_loaded(settings: Settings, worker: InferenceWorker[Engine], queue: JobQueue,
                       generation: GenerationService, load_requested: asyncio.Event, *,
                       recover: bool) -> None:
    """Finish what needs the engine, then let the queue dispatch (jobs wait until then)."""
    await load_requested.wait()
    try:
        await worker.ready()
    except NeurostreamError:
        raise  # already one clear line (a missing file, an unknown device)
    except Exception as error:
        lines = str(error).strip().splitlines()
        raise ModelLoadError(f"model {settings.model.id!r} could not be loaded: "
                             f"{type(error).__name__}: {lines[0] if lines else ''}") from error
    engine_model_id = worker.engine.model_id
    if engine_model_id != generation.model_id:  # a factory (benchmarks) may load another model
        generation.model_id = engine_model_id
    if not settings.queue.max_batch:
        queue.max_batch = max(1, await worker.call(
            lambda engine: auto_batch_size(engine, settings.model.width, settings.model.height)))
    generation.count_tokens = await worker.call(load_token_counter)
    # Recovery was done at once (open_app); dispatching waits for the model: a re-queued job
    # must not be marked running while the model loads (its step watchdog would count the load).
    await queue.start(recover=recover)
    log.info("model %s loaded; the queue is running", engine_model_id)


@contextlib.asynccontextmanager
async def open_app(settings: Settings, *, sources: Iterable[str], recover: bool,
                   factory: Callable[[], Engine] | None = None,
                   wait_for_model: bool = True, start_model: bool = True
                   ) -> AsyncIterator[App]:
    """Open the database, load the model on its worker thread, start the queue; close on exit.

    With ``wait_for_model=False`` this returns as soon as the database is open: the model
    loads on the worker thread meanwhile, requests are recorded and wait in the queue, and
    ``app.ready`` completes when it dispatches (or raises the load's error). ``factory``
    replaces the configured model loader (tests and benchmarks share one engine). With
    ``start_model=False`` the load starts only when ``app.load_model()`` is called (the CLI
    checks its request first, so a bad argument costs no model load).
    """
    # Tokenizers spawn their own thread pool; with one worker thread it only adds contention.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    database = await Database.open(settings.database_path)
    # PNGs are encoded here on a GPU (on a CPU, on the inference thread: _result_work_runner).
    png_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-png")
    attachments = AttachmentStore(database, settings.output_dir / "attachments",
                                  **stored_image_limits(settings))
    try:
        jobs = JobRepository(database)
        loras = lora_files(settings)
        worker: InferenceWorker[Engine] = InferenceWorker(factory or engine_factory(settings))
        load_requested = asyncio.Event()
        renderers: RayServeBackend | None = None
        # The named models, loaded on demand on the worker thread (at most max_loaded_models).
        models = ModelPool(settings.catalog, model_loader(settings, loras),
                           capacity=settings.worker.max_loaded_models,
                           owns_first=factory is None)
        backend: Backend = InProcessBackend(worker, locate=attachments.locate, models=models)
        if settings.backend.kind == "ray" and factory is None:
            from bot.queue.ray_backend import RayServeBackend

            renderers = backend = RayServeBackend.from_settings(settings,
                                                                locate=attachments.locate)
        if start_model:
            if renderers is None:
                worker.start_loading()
            load_requested.set()
        try:
            queue_settings = settings.queue
            queue = JobQueue(jobs, backend, settings.output_dir,
                             sources=sources, compress_level=settings.storage.png_compress_level,
                             max_batch=queue_settings.max_batch or 1,
                             max_attempts=queue_settings.max_attempts,
                             step_timeout=queue_settings.step_timeout,
                             run_blocking=(_result_work_runner(worker, png_pool)
                                           if renderers is None else _on_pool(png_pool)))
            if recover:  # at once: while the model loads, positions count re-queued jobs
                await queue.recover()
            caps = Caps(per_user=queue_settings.max_per_user, total=queue_settings.max_total)
            # The model id comes from the settings: the engine is not there yet.
            generation = GenerationService(queue, defaults=defaults_from(settings),
                                           limits=settings.model.limits,
                                           model_id=settings.catalog.default.name, caps=caps,
                                           jobs=jobs, lineage=LineageRepository(database))
            generation.models = settings.catalog  # /dream model:, themes' models
            generation.loras = loras  # <lora:name:weight> in prompts
            limits = settings.model.limits
            # A few small files, read once before anything is served. Not asyncio.to_thread:
            # starting the loop's default executor here made the gateway-resume test hang.
            catalog = load_presets(preset_folders(settings), limits)
            pools = StreamRepository(database)
            themes = ThemeService(ThemeRepository(database), pools, catalog, limits)
            themes.models = settings.catalog  # a theme's model: is checked when it is set
            await themes.load()
            generation.themes = themes  # the one door applies channel themes and presets
            # Blocklists, quotas and denied members on the one door, before a stream submits.
            moderation = await open_moderation(settings, database, generation)
            streams = StreamService(pools, jobs, queue, generation, themes,
                                    every=settings.themes.stream_every,
                                    every_min=settings.themes.stream_every_min,
                                    every_max=settings.themes.stream_every_max)
            await streams.load()
            intake = IntakeService(attachments, generation, limits=input_limits(settings))
            tools = ToolService(generation, attachments, LineageRepository(database))
            party_rows = PartyRepository(database)
            party = PartyService(party_rows, LineageRepository(database), themes,
                                 output_dir=settings.output_dir,
                                 default_threshold=settings.starboard.threshold)
            await party.load()
            generation.parties = party  # the one door: a party's group and theme
            wall = WallService(party_rows)
            styles = load_styles(style_folders(settings))
            generation.styles = styles  # the one door applies /dream style: presets
            craft = StyleService(generation, styles, lineage=LineageRepository(database),
                                 max_side=settings.grids.max_side,
                                 cell_size=settings.grids.cell_size)
            ready = asyncio.ensure_future(
                _when_loaded(settings, worker, queue, generation, load_requested,
                             recover=recover) if renderers is None else
                _when_renderers_ready(settings, renderers, queue, load_requested,
                                      recover=recover))

            async def load_model() -> None:
                if renderers is None:
                    worker.start_loading()
                load_requested.set()
                await asyncio.shield(ready)

            try:
                if wait_for_model:
                    await asyncio.shield(ready)
                yield App(settings, database, jobs, worker, queue, generation, themes, streams,
                          ready, load_model, attachments, intake=intake, craft=craft,
                          moderation=moderation, party=party, wall=wall, tools=tools,
                          renderers=renderers, models=models if renderers is None else None)
            finally:
                intake.close()
                tools.close()
                party.close()
                craft.close()
                ready.cancel()  # still loading: nothing waits for it any more
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ready  # its error, if any, was raised where it mattered
                await queue.close()
                if renderers is not None:
                    await renderers.close()
        finally:
            await worker.close()
    finally:
        png_pool.shutdown(wait=True)
        attachments.close()
        await database.close()
