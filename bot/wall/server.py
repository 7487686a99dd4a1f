"""The wall's web server (aiohttp): the page, server-sent events and the images. Read-only.

Routes: ``/`` the page (``?mode=mosaic`` for a mosaic), ``/events`` the event stream (one
``image`` event per new image, its id the image's finish time), ``/image/{job}`` a result the
wall may show. With a token every route wants ``?token=``. A browser that connects (``?since=``,
the newest image its page has) or reconnects (``Last-Event-ID``) first gets what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bot.domain.party import VotedImage
from bot.services.wall import WallService
from bot.wall.page import image_item, render_page

log = logging.getLogger(__name__)

HEARTBEAT = 15.0  # seconds between comments that keep proxies from closing an idle stream
SERVICE = web.AppKey("wall", WallService)
OPTIONS: web.AppKey[dict[str, Any]] = web.AppKey("options")
# The handlers' tasks of open event streams (cancelled at shutdown).
STREAMS: web.AppKey[set[asyncio.Task[Any] | None]] = web.AppKey("streams")


def _check_token(request: web.Request) -> None:
    token: str = request.app[OPTIONS]["token"]
    if token and not hmac.compare_digest(request.query.get("token", ""), token):
        raise web.HTTPForbidden(text="this wall needs its token: open the URL with ?token=…")


def event_bytes(image: VotedImage, token: str) -> bytes:
    """One server-sent event for an image (JSON has no raw newline, so one data line)."""
    data = json.dumps(image_item(image, token), ensure_ascii=False)
    return f"id: {image.finished_at!r}\nevent: image\ndata: {data}\n\n".encode()


def _since(request: web.Request) -> float | None:
    for value in (request.headers.get("Last-Event-ID"), request.query.get("since")):
        with contextlib.suppress(TypeError, ValueError):
            return float(value)  # type: ignore[arg-type]
    return None


async def page(request: web.Request) -> web.Response:
    """The wall page with the newest images already in it."""
    _check_token(request)
    options = request.app[OPTIONS]
    service = request.app[SERVICE]
    text = render_page(await service.recent(), token=options["token"],
                       slide_seconds=options["slide_seconds"], keep=service.keep,
                       mosaic=request.query.get("mode") == "mosaic")
    return web.Response(text=text, content_type="text/html",
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'self'; "
                                 "script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                 "img-src 'self'"})


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every new image, as it finishes."""
    _check_token(request)
    service = request.app[SERVICE]
    token = request.app[OPTIONS]["token"]
    queue = service.subscribe()  # before the catch-up, so nothing falls between the two
    task = asyncio.current_task()
    request.app[STREAMS].add(task)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n")
        since = _since(request)
        if since is not None:  # what finished since (ties too: the page skips doubles)
            for image in await service.recent():
                if (image.finished_at or 0.0) >= since:
                    await response.write(event_bytes(image, token))
        while True:
            try:
                image = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except TimeoutError:
                await response.write(b": still here\n\n")
                continue
            await response.write(event_bytes(image, token))
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the browser went away (or the server stops)
    finally:
        service.unsubscribe(queue)
        request.app[STREAMS].discard(task)
    return response


async def image(request: web.Request) -> web.Response:
    """A result's file, if the wall may show it."""
    _check_token(request)
    job = request.match_info["job"]
    found = await request.app[SERVICE].image(int(job)) if job.isdigit() else None
    if found is None:
        raise web.HTTPNotFound(text="no such image on this wall")
    data, mime = found
    return web.Response(body=data, content_type=mime,
                        headers={"Cache-Control": "private, max-age=86400"})


def build_app(service: WallService, *, token: str = "", slide_seconds: float = 12.0
              ) -> web.Application:
    """The wall's aiohttp application around a started (or test-driven) ``service``."""
    app = web.Application()
    app[SERVICE] = service
    app[OPTIONS] = {"token": token, "slide_seconds": slide_seconds}
    app[STREAMS] = set()
    app.router.add_get("/", page)
    app.router.add_get("/events", events)
    app.router.add_get("/image/{job}", image)

    async def close_streams(app: web.Application) -> None:
        # Open event streams would hold a graceful shutdown for its whole timeout.
        streams = app[STREAMS]
        for task in [*streams]:
            if task is not None:
                task.cancel()

    app.on_shutdown.append(close_streams)
    return app


@contextlib.asynccontextmanager
async def serving(service: WallService, host: str, port: int, *, token: str = "",
                  slide_seconds: float = 12.0) -> AsyncIterator[str]:
    """Serve the wall until the block ends; yields the page's URL."""
    runner = web.AppRunner(build_app(service, token=token, slide_seconds=slide_seconds),
                           shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0] if runner.addresses else (host, port)
        shown = f"[{bound[0]}]" if ":" in str(bound[0]) else bound[0]
        yield f"http://{shown}:{bound[1]}/" + (f"?token={token}" if token else "")
    finally:
        await runner.cleanup()
