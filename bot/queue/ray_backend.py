"""The bot's side of Ray Serve: a Backend that renders on Serve replicas, over HTTP.

``[backend] kind = "ray"`` selects it. With ``address = "local"`` the bot starts a small Ray
instance and the Serve application (``bot.inference.ray_serve``, started by
``bot.inference.ray_cluster``) itself; with a URL it uses
the application that ``neurostream serve`` runs on a cluster. Either way it speaks to Serve's
HTTP proxy, so the bot process is no Ray driver of a remote cluster: when the cluster goes
away the bot sees refused connections (and keeps its jobs), not a crash. Nothing here imports
torch, and Ray only when a local instance is started.

Faults, as the queue sees them:

- a replica that dies mid-job: ``RendererLost`` (the queue retries the job once; Serve routes
  the retry to a live replica and replaces the dead one);
- nothing answers: ``RenderersUnreachable`` (the queue puts the jobs back in line and waits on
  ``wait_reachable``, which probes the renderers until they answer again).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import itertools
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.domain.errors import (
    ConfigError,
    GenerationCancelled,
    GenerationError,
    RendererLost,
    RenderersUnreachable,
)
from bot.domain.lineage import is_attachment_ref
from bot.domain.recipe import Recipe
from bot.inference.ray_serve import ERRORS, MODEL_HEADER, ROUTE, decode_image
from bot.inference.results import GenerationResult, StepProgress
from bot.queue.backend import Locate, ProgressCallback

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

INSTALL_HINT = 'Ray Serve is not installed here: pip install -e ".[ray]"'
UNREACHABLE_NOTE = "the renderers are unreachable, your job is kept"
# Seconds between probes of unreachable renderers (the last one repeats).
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


def require_ray() -> None:
    """Raise one clear line when Ray Serve is not installed."""
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("starlette") is None:
        raise ConfigError(f'[backend] kind = "ray" with address = "local" needs Ray Serve. '
                          f"{INSTALL_HINT}")


class RayServeBackend:
    """Renders batches on Ray Serve replicas; as many at once as there are replicas."""

    def __init__(self, *, model_id: str, slots: int, url: str | None = None,
                 launch: Callable[[], str] | None = None, stop: Callable[[], None] | None = None,
                 locate: Locate | None = None, retry_delays: Sequence[float] = RETRY_DELAYS,
                 cancel_poll: float = 0.1) -> None:
        """``url``: the application's endpoint (``http://host:8000/neurostream``); or
        ``launch``, which starts one here (blocking) and returns its proxy's base URL."""
        if (url is None) == (launch is None):
            raise ValueError("give the renderers' url or a launch function, not both")
        self._model_id = model_id
        self._slots = max(1, slots)
        self._url = url
        self._launch, self._stop = launch, stop
        self._locate = locate
        self._retry_delays = tuple(retry_delays) or RETRY_DELAYS
        self._cancel_poll = cancel_poll
        self._session: aiohttp.ClientSession | None = None
        # Blocking work of ours: starting Ray (seconds), reading input images, decoding PNGs.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-ray")
        self._reconnect: asyncio.Future[None] | None = None
        self._calls = itertools.count()
        self._busy: dict[int, str] = {}
        self.unreachable = False  # read by the bot to tell waiting users why

    @classmethod
    def from_settings(cls, settings: Settings, *, locate: Locate | None = None
                      ) -> RayServeBackend:
        """The backend ``[backend]`` describes (Ray itself is needed only for "local")."""
        backend = settings.backend
        if backend.address.strip() != "local":
            return cls(model_id=settings.catalog.default.name, slots=backend.replicas,
                       url=backend.address.strip().rstrip("/") + ROUTE, locate=locate)
        require_ray()
        from bot.inference import ray_cluster

        config, shape = ray_cluster.from_settings(settings)
        return cls(model_id=config.catalog.default.name, slots=backend.replicas,
                   launch=lambda: ray_cluster.start_local(config, shape),
                   stop=ray_cluster.stop_local, locate=locate)

    @property
    def model_id(self) -> str:
        """The model recipes are rendered with (the replicas serve it by this name)."""
        return self._model_id

    @property
    def slots(self) -> int:
        """One batch per replica at a time."""
        return self._slots

    def busy_replicas(self) -> list[str]:
        """The replicas rendering a request of ours now (their Ray actor names)."""
        return list(self._busy.values())

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the local application (seconds: Ray, then each replica loads its model), or
        check that the cluster answers (if not, jobs wait: see ``wait_reachable``)."""
        loop = asyncio.get_running_loop()
        if self._session is None:
            # No overall timeout: a render takes as long as it takes (the queue's step
            # watchdog decides); a connection that cannot be made fails in seconds.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        if self._launch is not None and self._url is None:
            try:
                base = await loop.run_in_executor(self._io, self._launch)
            except Exception as error:
                lines = str(error).strip().splitlines()
                raise RenderersUnreachable(
                    f"could not start Ray Serve here: {type(error).__name__}: "
                    f"{lines[0] if lines else ''}") from error
            self._url = base.rstrip("/") + ROUTE
            log.info("Ray Serve started here: %d replica(s) at %s", self._slots, self._url)
        elif not await self._probe():
            self.unreachable = True
            log.warning("the renderers at %s do not answer; jobs wait until they do", self._url)

    async def close(self) -> None:
        """Close the connections; stop the local application if this backend started it."""
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._stop is not None and self._launch is not None and self._url is not None:
            await asyncio.get_running_loop().run_in_executor(self._io, self._stop)
        self._io.shutdown(wait=True)

    async def wait_reachable(self) -> None:
        """Return once the renderers answer (at once unless a request found them away)."""
        if not self.unreachable:
            return
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.ensure_future(self._probe_until_back())
        await asyncio.shield(self._reconnect)

    async def _probe_until_back(self) -> None:
        for attempt in itertools.count():
            if await self._probe():
                self.unreachable = False
                log.warning("the renderers at %s answer again", self._url)
                return
            await asyncio.sleep(self._retry_delays[min(attempt, len(self._retry_delays) - 1)])

    async def _probe(self) -> bool:
        if self._session is None or self._url is None:
            return False
        try:
            async with self._session.get(self._url, timeout=aiohttp.ClientTimeout(total=10)
                                         ) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    # -- rendering -----------------------------------------------------------------------------

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: ProgressCallback | None,
                       cancel: threading.Event) -> GenerationResult:
        """Render ``recipes`` (one batch key) on a replica that has their model."""
        session, url = self._session, self._url
        if session is None or url is None:
            raise RenderersUnreachable("the renderers are not started")
        recipes = list(recipes)
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(self._io, _request_body, recipes, self._locate)
        try:
            response = await session.post(url, data=body, headers={
                MODEL_HEADER: recipes[0].model, "Content-Type": "application/json"})
        except aiohttp.ClientConnectionError as error:  # refused, reset, no route: nobody home
            self.unreachable = True
            raise RenderersUnreachable(f"{UNREACHABLE_NOTE} ({url}: {error})") from error
        call = next(self._calls)
        try:
            async with response:
                if response.status != 200:
                    text = (await response.text()).strip().splitlines()
                    if response.status == 503:  # Serve has no replica to take it
                        self.unreachable = True
                        raise RenderersUnreachable(f"{UNREACHABLE_NOTE} (HTTP 503)")
                    raise RendererLost(f"the renderer failed (HTTP {response.status}: "
                                       f"{text[-1] if text else ''})")
                return await self._follow(response, call, on_progress, cancel)
        finally:
            self._busy.pop(call, None)

    async def _follow(self, response: aiohttp.ClientResponse, call: int,
                      on_progress: ProgressCallback | None,
                      cancel: threading.Event) -> GenerationResult:
        """Read the answer while watching ``cancel`` (closing the connection cancels it)."""
        reader = asyncio.ensure_future(self._read(response, call, on_progress))
        try:
            while True:
                done, _ = await asyncio.wait({reader}, timeout=self._cancel_poll)
                if done:
                    return reader.result()
                if cancel.is_set():
                    raise GenerationCancelled("cancelled while rendering on Ray Serve")
        finally:
            if not reader.done():
                response.close()  # the replica sees the client go: it stops at its next step
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    async def _read(self, response: aiohttp.ClientResponse, call: int,
                    on_progress: ProgressCallback | None) -> GenerationResult:
        try:
            async for line in _lines(response):
                message = json.loads(line)
                kind = message.get("kind")
                if kind == "progress":
                    self._busy[call] = message.get("replica", "")
                    if on_progress is not None:
                        preview = message.get("preview")
                        on_progress(StepProgress(
                            int(message["step"]), int(message["total"]),
                            float(message["elapsed"]),
                            decode_image(preview) if preview else None))
                elif kind == "result":
                    return await asyncio.get_running_loop().run_in_executor(
                        self._io, _result, message)
                elif kind == "error":
                    error = ERRORS.get(message.get("error", ""), GenerationError)
                    raise error(message.get("message", "the renderer failed"))
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as error:
            raise RendererLost(f"the renderer stopped mid-job ({type(error).__name__}); "
                               "its replica died") from error
        raise RendererLost("the renderer's answer ended before its result; its replica died")


async def _lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The answer's lines (results are long lines: aiohttp's readline caps their length)."""
    buffer = bytearray()
    async for chunk in response.content.iter_any():
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            yield bytes(buffer[:end])
            del buffer[: end + 1]


def _file_bytes(source: str, locate: Locate | None) -> str:
    """A recipe's input image (a path or a stored attachment) as base64 file bytes."""
    path = Path(source)
    if is_attachment_ref(source):
        if locate is None:
            raise GenerationError(f"the input image {source} is in the attachments store, "
                                  "and this backend has none")
        try:
            path = locate(source)
        except FileNotFoundError as error:
            raise GenerationError(str(error)) from None
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _request_body(recipes: list[Recipe], locate: Locate | None) -> bytes:
    """The request: recipes and their input images' bytes (a remote replica cannot read the
    bot's disk). Runs off the loop: it reads files."""
    body: dict[str, Any] = {"recipes": [recipe.to_dict() for recipe in recipes]}
    if any(recipe.init_image for recipe in recipes):
        body["images"] = [_file_bytes(recipe.init_image or "", locate) for recipe in recipes]
    if any(recipe.mask_image for recipe in recipes):
        body["masks"] = [_file_bytes(recipe.mask_image or "", locate) for recipe in recipes]
    return json.dumps(body).encode()


def _result(message: dict[str, Any]) -> GenerationResult:
    """The result message as a GenerationResult (decoding PNGs: off the loop)."""
    return GenerationResult(images=[decode_image(data) for data in message["images"]],
                            recipes=[Recipe.from_dict(data) for data in message["recipes"]],
                            seconds=float(message["seconds"]),
                            step_seconds=float(message["step_seconds"]),
                            flagged=[bool(flag) for flag in message.get("flagged", [])])
