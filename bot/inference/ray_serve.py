"""The Ray Serve application: replicas that load each model once and render batches of recipes.

Each replica is one :class:`Renderer`: one thread of its own owns its engines (like the
in-process worker), ``serve.multiplexed`` keeps an LRU of models keyed by the recipe's model
name (so a request is routed to a replica that has its model loaded), and ``serve.batch``
merges compatible requests that meet on a replica into one pipeline call.

The bot talks to the application over HTTP (``bot.queue.ray_backend``), so it needs no Ray to
use a remote cluster and a cluster that goes away costs it a refused connection, not a crash:

- ``POST /<route>`` with JSON ``{"recipes": [...], "images": [...], "masks": [...]}`` (recipes as
  ``Recipe.to_dict``; input images as base64 file bytes, sent along because a remote replica
  cannot read the bot's disk) and the header ``serve_multiplexed_model_id: <model>``;
- the answer streams one JSON object a line: ``progress`` messages (the first and last step and
  at most two a second between, with a small PNG preview), then one ``result`` (base64 PNGs,
  the recipes as rendered, timings, the replica) or one ``error`` (its kind and message);
- closing the connection cancels the request: the replica stops at the next step once every
  request of its pipeline call is cancelled;
- ``GET /<route>`` tells which models the answering replica has loaded.

Ray, torch and starlette are imported where they are used: the bot imports this module's wire
helpers without them. ``bot.inference.ray_cluster`` starts the application.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from bot.domain.errors import GenerationCancelled, GenerationError, OutOfMemory, ValidationError
from bot.domain.models import ModelCatalog
from bot.domain.recipe import Recipe

if TYPE_CHECKING:
    from bot.inference.engine import Engine
    from bot.inference.results import GenerationResult, StepProgress

log = logging.getLogger(__name__)

APP_NAME = "neurostream"
ROUTE = "/neurostream"
MODEL_HEADER = "serve_multiplexed_model_id"  # Serve's own header for multiplexed routing
# The error kinds a replica reports, and the bot raises again as such.
ERRORS: dict[str, type[Exception]] = {
    "OutOfMemory": OutOfMemory,
    "ValidationError": ValidationError,
    "GenerationCancelled": GenerationCancelled,
    "GenerationError": GenerationError,
}


# 1. The wire: images and messages --------------------------------------------------------------

def encode_png(image: Image.Image) -> str:
    """``image`` as base64 PNG text (lossless: the bot gets the replica's pixels exactly)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_image(data: str, mode: str | None = None) -> Image.Image:
    """An image from base64 file bytes (PNG, JPEG, ...), loaded, converted to ``mode``."""
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        image.load()
        return image.convert(mode) if mode and image.mode != mode else image.copy()


def error_message(error: BaseException) -> dict[str, Any]:
    """The ``error`` message for ``error``: the most specific kind the bot knows."""
    kind = next((name for name, cls in ERRORS.items() if isinstance(error, cls)), None)
    text = str(error).strip().splitlines()
    message = text[0] if text else type(error).__name__
    if kind is None:  # a bug or a library's error: the bot fails the job with its name
        kind, message = "GenerationError", f"{type(error).__name__}: {message}"
    return {"kind": "error", "error": kind, "message": message}


# 2. What a replica is told ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RendererConfig:
    """A replica's settings (pickled to the replicas: neurostream is installed there too)."""

    catalog: ModelCatalog  # the models served, by the names recipes carry; default loaded first
    torch_threads: int = 0  # 0 = torch's default
    max_batch_size: int = 4  # images in one pipeline call, over the requests merged
    batch_wait_s: float = 0.01
    models_per_replica: int = 2
    progress_interval: float = 0.5
    lora_dirs: tuple[str, ...] = ()  # on the replica's machine
    keep_loras: int = 8


# 3. One replica ---------------------------------------------------------------------------------

@dataclass(eq=False)
class _Request:
    """One HTTP request on a replica: its recipes, its images, where its messages go."""

    recipes: list[Recipe]
    images: list[Image.Image] | None
    masks: list[Image.Image] | None
    messages: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    cancelled: bool = False
    # The pipeline call it is in, once started: stopped when all its requests are cancelled.
    call: list[_Request] = field(default_factory=list)
    call_cancel: threading.Event | None = None

    def cancel(self) -> None:
        """The client went away: stop the pipeline call if nobody else waits for it."""
        self.cancelled = True
        if self.call_cancel is not None and all(r.cancelled for r in self.call):
            self.call_cancel.set()


def _image_count(requests: list[_Request]) -> int:
    return sum(len(request.recipes) for request in requests)


class _LoadedModel:
    """A multiplexed model; Serve calls ``__del__`` when the LRU evicts it."""

    def __init__(self, engine: Engine, on_unload: Callable[[Engine], None]) -> None:
        self.engine = engine
        self._on_unload: Callable[[Engine], None] | None = on_unload

    def __del__(self) -> None:
        if self._on_unload is not None:  # once: Serve's call, then the garbage collector's
            on_unload, self._on_unload = self._on_unload, None
            on_unload(self.engine)


class Renderer:
    """One Serve replica: its models (an LRU), one render thread, batched pipeline calls."""

    def __init__(self, config: RendererConfig) -> None:
        """Load the default model now, so the replica is ready only once it can render."""
        from ray import serve

        self._config = config
        self._name = _replica_name()
        # One thread owns the engines (they are not thread-safe) and is the only one to run
        # torch, as in the in-process worker: a second thread would start a second OpenMP pool.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-render")
        self.loads: list[str] = []  # every model load, in order (operators, tests)
        self.loaded: list[str] = []
        self.stopped = 0  # pipeline calls stopped because every request of theirs was cancelled
        self._loras: Any = None
        if config.lora_dirs:
            from pathlib import Path

            from bot.inference.lora_files import LoraFiles

            self._loras = LoraFiles(Path(folder) for folder in config.lora_dirs)
        default = config.catalog.default.name
        self._warm: dict[str, Engine] = {
            default: self._thread.submit(self._first_load, default).result()}

        async def load(model: str) -> _LoadedModel:
            return await self._load(model)

        async def render_batch(requests: list[_Request]) -> list[None]:
            return await self._render_batch(requests)

        self._model = serve.multiplexed(
            max_num_models_per_replica=self._config.models_per_replica)(load)
        self._batched = serve.batch(
            max_batch_size=self._config.max_batch_size,
            batch_wait_timeout_s=self._config.batch_wait_s,
            batch_size_fn=_image_count)(render_batch)

    # -- models --------------------------------------------------------------------------------

    def _first_load(self, name: str) -> Engine:
        if self._config.torch_threads:
            import torch

            torch.set_num_threads(self._config.torch_threads)
        return self._load_engine(name)

    def _load_engine(self, name: str) -> Engine:
        from bot.inference.models import load_model

        if name not in self._config.catalog:
            raise GenerationError(f"model {name!r} is not served by these renderers (served: "
                                  f"{', '.join(self._config.catalog.names())})")
        engine = load_model(self._config.catalog.get(name), loras=self._loras,
                            keep_loras=self._config.keep_loras,
                            batch_sizes=sorted({1, self._config.max_batch_size}))
        self.loads.append(name)
        return engine

    async def _load(self, name: str) -> _LoadedModel:
        engine = self._warm.pop(name, None)
        if engine is None:
            engine = await asyncio.get_running_loop().run_in_executor(
                self._thread, self._load_engine, name)
        self.loaded.append(name)
        return _LoadedModel(engine, self._unloaded)

    def _unloaded(self, engine: Engine) -> None:
        """Serve's LRU evicted ``engine``: free its memory now (nothing renders during a
        load: one batch at a time, and a batch's groups load their model in turn)."""
        from bot.inference.models import release_engine

        if engine.model_id in self.loaded:
            self.loaded.remove(engine.model_id)
        release_engine(engine)
        log.info("model %s unloaded (least recently used)", engine.model_id)

    # -- requests ------------------------------------------------------------------------------

    async def __call__(self, request: Any) -> Any:
        """``POST``: render and stream the messages; ``GET``: the models loaded here."""
        from starlette.responses import JSONResponse, StreamingResponse

        if request.method == "GET":
            return JSONResponse({"replica": self._name, "loaded": self.loaded,
                                 "loads": self.loads, "stopped": self.stopped})
        body = await request.json()
        job = await asyncio.get_running_loop().run_in_executor(
            self._thread, _parse_request, body)
        task = asyncio.ensure_future(self._batched(job))
        task.add_done_callback(lambda done: _report_failure(done, job))
        return StreamingResponse(self._stream(job, task), media_type="application/x-ndjson")

    async def _stream(self, job: _Request, task: asyncio.Future[None]) -> AsyncIterator[str]:
        try:
            while True:
                message = await job.messages.get()
                yield json.dumps(message) + "\n"
                if message["kind"] != "progress":
                    return
        except asyncio.CancelledError:  # the client went away (a cancel, or the bot stopped)
            job.cancel()
            task.cancel()  # still waiting for its batch: Serve drops it
            raise

    async def _render_batch(self, requests: list[_Request]) -> list[None]:
        """Serve's batch: one pipeline call per group of compatible requests, in turn."""
        groups: dict[tuple[object, ...], list[_Request]] = {}
        for job in requests:
            groups.setdefault(job.recipes[0].batch_key(), []).append(job)
        for group in groups.values():
            live = [job for job in group if not job.cancelled]
            if not live:
                continue
            cancel = threading.Event()
            for job in live:
                job.call, job.call_cancel = live, cancel
            try:
                model = await self._model(live[0].recipes[0].model)
                loop = asyncio.get_running_loop()
                result, pngs = await loop.run_in_executor(
                    self._thread, self._generate, model.engine, live, cancel, loop)
            except Exception as error:
                if isinstance(error, GenerationCancelled):
                    self.stopped += 1
                for job in live:
                    job.messages.put_nowait(error_message(error))
                continue
            self._hand_out(live, result, pngs)
        return [None] * len(requests)

    def _generate(self, engine: Engine, jobs: list[_Request], cancel: threading.Event,
                  loop: asyncio.AbstractEventLoop) -> tuple[GenerationResult, list[str]]:
        """On the render thread: one pipeline call for every recipe of ``jobs``."""
        recipes = [recipe for job in jobs for recipe in job.recipes]
        images = _joined([job.images for job in jobs], [len(job.recipes) for job in jobs])
        masks = _joined([job.masks for job in jobs], [len(job.recipes) for job in jobs])

        def progress(step: StepProgress) -> None:
            # The preview shows image 0: the first request's. PNG-encoded here, off the loop.
            preview = encode_png(step.preview) if step.preview is not None else None
            for index, job in enumerate(jobs):
                message = {"kind": "progress", "step": step.step, "total": step.total,
                           "elapsed": step.elapsed, "preview": preview if index == 0 else None,
                           "replica": self._name}
                loop.call_soon_threadsafe(job.messages.put_nowait, message)

        result = engine.generate(recipes, images=images, masks=masks, progress=progress,
                                 progress_interval=self._config.progress_interval, cancel=cancel)
        # Encoded here too: the loop only moves text.
        return result, [encode_png(image) for image in result.images]

    def _hand_out(self, jobs: list[_Request], result: GenerationResult, pngs: list[str]) -> None:
        start, replica = 0, self._name
        for job in jobs:
            end = start + len(job.recipes)
            job.messages.put_nowait({
                "kind": "result", "images": pngs[start:end],
                "flagged": [result.is_flagged(index) for index in range(start, end)],
                "recipes": [recipe.to_dict() for recipe in result.recipes[start:end]],
                "seconds": result.seconds, "step_seconds": result.step_seconds,
                "replica": replica})
            start = end


def _parse_request(body: dict[str, Any]) -> _Request:
    """A request's recipes and decoded images (on the render thread: decoding is CPU work)."""
    recipes = [Recipe.from_dict(data) for data in body["recipes"]]
    images = [decode_image(data, "RGB") for data in body.get("images") or []]
    masks = [decode_image(data, "L") for data in body.get("masks") or []]
    return _Request(recipes, images or None, masks or None)


def _joined(parts: Sequence[list[Image.Image] | None], counts: Sequence[int]
            ) -> list[Image.Image] | None:
    """The images of merged requests, one per recipe (a request's single image shared)."""
    if all(part is None for part in parts):
        return None
    joined: list[Image.Image] = []
    for part, count in zip(parts, counts, strict=True):
        if not part:
            raise GenerationError("requests of one batch must all have input images or none")
        joined += part * count if len(part) == 1 else part
    return joined


def _report_failure(task: asyncio.Future[None], job: _Request) -> None:
    """A batch that failed as a whole (not one of its groups) still answers its requests."""
    if not task.cancelled() and task.exception() is not None:
        job.messages.put_nowait(error_message(task.exception()))  # type: ignore[arg-type]


def _replica_name() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_actor_name() or f"pid {os.getpid()}"
    except Exception:  # outside an actor (tests calling the class directly)
        return f"pid {os.getpid()}"
