"""The live wall's feed: the newest results of opted-in channels and running parties.

The wall is its own process (``neurostream wall``) reading the bot's database: a projector page
must never slow the bot's event loop, it can be restarted on its own, and it can listen on the
network without the bot doing so. One poller asks the database for new results every
``poll`` seconds (one indexed query however many browsers watch) and hands each new image to
every subscriber's queue; browsers get them by server-sent events, so nobody polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.config import Settings
from bot.domain.party import VotedImage
from bot.storage.database import Database
from bot.storage.party import PartyRepository

log = logging.getLogger(__name__)

SUBSCRIBER_BACKLOG = 64  # a browser that falls this far behind loses its oldest images
# Results are committed a moment after their finish time is taken, and several slots finish at
# once: look this far back every time, and skip what was already sent.
LOOK_BACK = 30.0


class WallService:
    """Which channels the wall shows, and the live feed of their new images."""

    def __init__(self, parties: PartyRepository, *, poll: float = 0.5, keep: int = 24) -> None:
        self._parties = parties
        self.poll = poll
        self.keep = keep
        self._subscribers: set[asyncio.Queue[VotedImage]] = set()
        self._sent: dict[int, float] = {}  # job id → finished at, within LOOK_BACK
        self._last: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._files = ThreadPoolExecutor(max_workers=2, thread_name_prefix="neurostream-wall")

    async def enable(self, *, guild_id: int | None, channel_id: int, user_id: int,
                     enabled: bool = True) -> bool:
        """Show a channel's results on the wall (or stop); False if it already was so."""
        return await self._parties.set_wall(channel_id, guild_id=guild_id, enabled_by=user_id,
                                            enabled=enabled)

    async def recent(self) -> list[VotedImage]:
        """The newest images (oldest of them first), what a page shows when it opens."""
        return await self._parties.wall_images(after=None, limit=self.keep)

    async def image(self, job_id: int) -> tuple[bytes, str] | None:
        """A result's file and type, if the wall may show it."""
        image = await self._parties.wall_image(job_id)
        if image is None or not image.output_path:
            return None
        path = Path(image.output_path)
        try:
            data = await asyncio.get_running_loop().run_in_executor(self._files, path.read_bytes)
        except OSError:
            return None
        return data, mimetypes.guess_type(path.name)[0] or "image/png"

    # -- the live feed ---------------------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[VotedImage]:
        """A queue that receives every new image from now on; ``unsubscribe`` when done."""
        queue: asyncio.Queue[VotedImage] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[VotedImage]) -> None:
        """Stop receiving images."""
        self._subscribers.discard(queue)

    @property
    def watchers(self) -> int:
        """How many browsers are connected."""
        return len(self._subscribers)

    async def start(self) -> None:
        """Start the poller (images already there are not sent again)."""
        self._last = time.time()
        for image in await self.recent():
            self._seen(image)
        self._task = asyncio.create_task(self._run(), name="wall-poller")

    async def close(self) -> None:
        """Stop the poller."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._files.shutdown(wait=False)

    async def check(self) -> list[VotedImage]:
        """Look for new images once and hand them out; returns them (tests call this)."""
        if self._last is None:
            self._last = time.time()
        found = [image for image in await self._parties.wall_images(
            after=self._last - LOOK_BACK, limit=500) if image.job_id not in self._sent]
        for image in found:
            self._seen(image)
            self._publish(image)
        horizon = self._last - 2 * LOOK_BACK  # forget what can no longer come back
        self._sent = {job: at for job, at in self._sent.items() if at >= horizon}
        return found

    def _seen(self, image: VotedImage) -> None:
        finished = image.finished_at or 0.0
        self._sent[image.job_id] = finished
        self._last = max(self._last or 0.0, finished)

    def _publish(self, image: VotedImage) -> None:
        for queue in self._subscribers:
            if queue.full():  # a stalled browser: drop its oldest, never block the others
                queue.get_nowait()
            queue.put_nowait(image)

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("the wall could not read new images")
            await asyncio.sleep(self.poll)


@contextlib.asynccontextmanager
async def open_wall(settings: Settings) -> AsyncIterator[WallService]:
    """The wall's feed on the configured database (no model, no queue): the wall process."""
    database = await Database.open(settings.database_path)
    try:
        yield WallService(PartyRepository(database), poll=settings.wall.poll_seconds,
                          keep=settings.wall.images)
    finally:
        await database.close()
