"""Curated streams: a themed channel that generates on its own from its prompt pool.

Policy (people first):
- A stream job is submitted only when the queue is empty (nothing waiting, nothing running),
  at priority ``PRIORITY_STREAM``, and at most one stream job exists at any time (all channels
  together). So a stream job never starts while a person's job waits, and a person whose job
  arrives while a stream image renders waits for that one image at most: the running stream
  job is not interrupted (interrupting would waste its finished steps and need a re-queue).
- Each stream renders at most one image per ``every`` seconds; the stream due longest goes
  first, so channels take turns.
- The runner is driven by events: the end of a job (``JobQueue.wait``), a timer until the next
  stream is due, and a wake-up when streams change. It never polls the database.
- A stream whose channel is gone or where the bot may not post stops itself, says so where it
  can, and keeps its row (``/stream status`` shows why).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.domain.errors import UserError
from bot.domain.jobs import Job, Requester
from bot.domain.prompt_pool import check_template, draw_seed, expand
from bot.domain.requests import DreamRequest, JobRequest
from bot.domain.scheduling import PRIORITY_STREAM
from bot.domain.streams import PoolEntry, Stream
from bot.domain.themes import describe_duration, parse_duration, tidy
from bot.queue.queue import JobQueue
from bot.services.generation import GenerationService
from bot.services.themes import ThemeService
from bot.storage.jobs import JobRepository
from bot.storage.streams import StreamRepository

log = logging.getLogger(__name__)

STREAM_SOURCE = "stream"
STREAM_USER = "stream"
MAX_DELIVERY_FAILURES = 3
POOL_PROMPT_MAX = 500


class StreamHost(Protocol):
    """What the runner needs from the chat side (Discord in the bot, a fake in tests)."""

    async def wait_ready(self) -> None:
        """Return once channels can be looked up."""

    def problem(self, guild_id: int, channel_id: int) -> str | None:
        """Why the bot cannot post there now (from its cache, no I/O), or None."""

    async def probe(self, guild_id: int, channel_id: int) -> str | None:
        """Ask the chat service why a post failed: a reason to stop, or None (transient)."""

    def follow(self, job_id: int) -> None:
        """Hand a job to the delivery."""

    async def delivered(self, job_id: int) -> None:
        """Wait until the delivery of a followed job is over (posted or given up)."""

    async def announce(self, stream: Stream, text: str) -> None:
        """Tell the server that a stream stopped (in its channel if possible)."""


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """What ``/stream status`` shows."""

    stream: Stream | None
    images_today: int
    next_in: float | None
    pool_size: int


def next_due(stream: Stream) -> float:
    """When the stream may queue its next image."""
    return (stream.last_image_at or 0.0) + stream.every


def pick_due(streams: list[Stream], now: float) -> Stream | None:
    """The running stream that has been due the longest, or None."""
    due = [s for s in streams if s.running and next_due(s) <= now]
    return min(due, key=lambda s: (next_due(s), s.channel_id)) if due else None


class StreamService:
    """Streams and pools for the cogs; the runner that keeps streaming channels flowing."""

    def __init__(self, repository: StreamRepository, jobs: JobRepository, queue: JobQueue,
                 generation: GenerationService, themes: ThemeService, *, every: float,
                 every_min: float, every_max: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._repository = repository
        self._jobs = jobs
        self._queue = queue
        self._generation = generation
        self._themes = themes
        self.every, self.every_min, self.every_max = every, every_min, every_max
        self._clock = clock
        self._streams: dict[int, Stream] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures: dict[int, int] = {}
        self._rng = random.Random()

    async def load(self) -> None:
        """Load the running streams (they resume after a restart)."""
        self._streams = {s.channel_id: s for s in await self._repository.running()}

    # -- commands ----------------------------------------------------------------------------

    def interval(self, every: str | None) -> float:
        """Seconds between images from ``/stream start every:``; UserError outside the bounds."""
        seconds = self.every if every is None else parse_duration(every)
        if not self.every_min <= seconds <= self.every_max:
            raise UserError(f"every must be between {describe_duration(self.every_min)} and "
                            f"{describe_duration(self.every_max)}, got {every}")
        return seconds

    async def start(self, guild_id: int, channel_id: int, every: float, *,
                    user_id: int | None, parent_id: int | None = None) -> Stream:
        """Start a stream in a themed channel with a non-empty pool."""
        if self._themes.theme_for(channel_id) is None:
            raise UserError("a stream needs a themed channel: use /theme set or /theme preset "
                            "here first")
        if not await self._repository.pool(channel_id):
            raise UserError("this channel's prompt pool is empty: add prompts with /stream add "
                            "or apply a preset with /theme preset")
        stream = await self._repository.start(guild_id, channel_id, every, started_by=user_id)
        self._streams[channel_id] = stream
        self._wake.set()
        return stream

    async def stop(self, channel_id: int, reason: str) -> Stream:
        """Stop the channel's stream; UserError if none runs."""
        if channel_id not in self._streams:
            raise UserError("no stream is running in this channel")
        return await self._stop(channel_id, reason)

    async def _stop(self, channel_id: int, reason: str) -> Stream:
        self._streams.pop(channel_id, None)
        self._failures.pop(channel_id, None)
        stream = await self._repository.stop(channel_id, reason)
        assert stream is not None
        self._wake.set()
        return stream

    def is_running(self, channel_id: int) -> bool:
        """Whether the channel streams now."""
        return channel_id in self._streams

    async def status(self, channel_id: int) -> StreamStatus:
        """The channel's stream, images made today (UTC) and seconds until the next one."""
        stream = self._streams.get(channel_id) or await self._repository.get(channel_id)
        now = self._clock()
        today = now - now % 86400
        images = await self._repository.images_since(channel_id, today)
        next_in = max(0.0, next_due(stream) - now) if stream and stream.running else None
        pool = await self._repository.pool(channel_id)
        return StreamStatus(stream, images, next_in, len(pool))

    async def add_prompt(self, guild_id: int, channel_id: int, prompt: str, *,
                         user_id: int | None) -> str:
        """Add a prompt (template) to the channel's pool; TemplateError names a syntax error."""
        text = tidy(prompt)
        if not text:
            raise UserError("the prompt must not be empty")
        if len(text) > POOL_PROMPT_MAX:
            raise UserError(f"a pool prompt must be at most {POOL_PROMPT_MAX} characters, "
                            f"got {len(text)}")
        check_template(text, self._themes.catalog.wildcards)
        await self._repository.add_prompts(guild_id, channel_id, [text], added_by=user_id)
        return text

    async def remove_prompt(self, channel_id: int, entry_id: int) -> PoolEntry:
        """Remove one pool entry; UserError if the channel has no such entry."""
        entry = await self._repository.remove_prompt(channel_id, entry_id)
        if entry is None:
            raise UserError(f"this channel's pool has no entry #{entry_id} (see /stream pool)")
        return entry

    async def pool(self, channel_id: int) -> list[PoolEntry]:
        """The channel's pool, oldest first."""
        return await self._repository.pool(channel_id)

    async def channel_gone(self, channel_id: int, reason: str) -> Stream | None:
        """Stop a stream whose channel was deleted (from the gateway event)."""
        if channel_id not in self._streams:
            return None
        return await self._stop(channel_id, reason)

    # -- the runner --------------------------------------------------------------------------

    def start_runner(self, host: StreamHost) -> None:
        """Start keeping streaming channels flowing."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(host), name="stream-runner")

    async def stop_runner(self) -> None:
        """Stop the runner (a stream job in the queue stays recorded and resumes later)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, host: StreamHost) -> None:
        try:
            await host.wait_ready()
            outstanding = await self._resume(host)
            while True:
                if outstanding is not None:
                    await self._settle(host, outstanding)
                    outstanding = None
                    continue
                busy = self._queue.running() + self._queue.waiting()
                if busy:
                    # Wake when the last job in line ends; then look again.
                    await self._queue.wait(busy[-1].id)
                    continue
                now = self._clock()
                stream = pick_due(list(self._streams.values()), now)
                if stream is None:
                    await self._sleep(now)
                    continue
                problem = host.problem(stream.guild_id, stream.channel_id)
                if problem is not None:
                    await self._stop_and_announce(host, stream, problem)
                    continue
                outstanding = await self._submit(host, stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the stream runner stopped")

    async def _sleep(self, now: float) -> None:
        self._wake.clear()
        running = [next_due(s) for s in self._streams.values()]
        timeout = max(0.0, min(running) - now) if running else None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _resume(self, host: StreamHost) -> int | None:
        """After a restart: follow the stream jobs the queue recovered and undelivered ones."""
        in_queue = [job for job in self._queue.running() + self._queue.waiting()
                    if job.requester.source == STREAM_SOURCE]
        for job in await self._jobs.undelivered([STREAM_SOURCE]) + in_queue:
            host.follow(job.id)
        return in_queue[-1].id if in_queue else None

    async def _submit(self, host: StreamHost, stream: Stream) -> int | None:
        """Queue the stream's next image; None if its pool or theme went away (it stops)."""
        channel_theme = self._themes.theme_for(stream.channel_id)
        pool = await self._repository.pool(stream.channel_id)
        if stream.channel_id not in self._streams:
            return None  # stopped meanwhile
        if channel_theme is None or not pool:
            reason = "the channel's theme was cleared" if channel_theme is None else \
                "the prompt pool is empty"
            await self._stop_and_announce(host, stream, reason)
            return None
        entry = pool[self._rng.randrange(len(pool))]
        seed = draw_seed(self._rng)
        words = expand(entry.prompt, self._themes.catalog.wildcards, seed)
        now = self._clock()
        requester = Requester(user_id=None, user_name=STREAM_USER, guild_id=stream.guild_id,
                              channel_id=stream.channel_id, source=STREAM_SOURCE)
        # The one door, like a person's /dream: the channel's theme and every rule apply.
        request = JobRequest(DreamRequest(prompt=words or entry.prompt, template=entry.prompt,
                                          template_seed=seed),
                             requester, priority=PRIORITY_STREAM)
        try:
            (job,) = await self._generation.submit(request)
        except UserError as error:
            await self._stop_and_announce(
                host, stream, f"pool entry #{entry.id} cannot be rendered here ({error})")
            return None
        await self._repository.mark_image(stream.channel_id, now)
        current = self._streams.get(stream.channel_id)
        if current is not None:  # a /stream stop meanwhile must not be undone
            self._streams[stream.channel_id] = dataclasses.replace(current, last_image_at=now)
        host.follow(job.id)
        return job.id

    async def _settle(self, host: StreamHost, job_id: int) -> None:
        """Wait for a stream job and its delivery; stop the stream if its channel refused it."""
        job: Job | None = await self._queue.wait(job_id)
        await host.delivered(job_id)
        job = await self._jobs.get(job_id)
        if job is None or job.message_id is not None or job.requester.channel_id is None:
            if job is not None:
                self._failures.pop(job.requester.channel_id or 0, None)
            return
        channel_id, guild_id = job.requester.channel_id, job.requester.guild_id or 0
        stream = self._streams.get(channel_id)
        if stream is None:
            return
        reason = await host.probe(guild_id, channel_id)
        failures = self._failures.get(channel_id, 0) + 1
        self._failures[channel_id] = failures
        if reason is None and failures >= MAX_DELIVERY_FAILURES:
            reason = f"its last {failures} images could not be posted"
        if reason is not None:
            await self._stop_and_announce(host, stream, reason)

    async def _stop_and_announce(self, host: StreamHost, stream: Stream, reason: str) -> None:
        log.warning("stopping the stream of channel %d: %s", stream.channel_id, reason)
        stopped = await self._stop(stream.channel_id, reason)
        # Its undelivered images will never reach the channel: do not retry them at each start.
        for job in await self._jobs.undelivered([STREAM_SOURCE]):
            if job.requester.channel_id == stream.channel_id:
                await self._jobs.update(job.id, message_id=0)  # 0: given up, never posted
        try:
            await host.announce(stopped, f"⏹️ The stream in <#{stream.channel_id}> stopped "
                                         f"itself: {reason}.")
        except Exception:
            log.warning("could not announce that the stream of channel %d stopped",
                        stream.channel_id, exc_info=True)
