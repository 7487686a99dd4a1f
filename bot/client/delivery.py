"""Delivery: keeps each Discord job's waiting message current and posts its outcome once.

It follows a job's events and decides what to show: the place in the queue, progress with a
preview, then the result, the failure or the cancellation. The result is the DONE event's own
bytes; only a job that finished before a restart (no event) reads its file, once. Re-encoding
under the upload limit (``bot.render.fit``, on the delivery's encoder thread) writes the
recipe's A1111 parameters, never ones parsed back from a file. How messages reach Discord
(webhook or channel, token expiry, dedupe, refusals) is ``bot.client.transport``'s. A result is
recorded as delivered (``message_id``) once it is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import discord

from bot.client.flagged import (
    FLAGGED_NOTE,
    age_restricted,
    spoiler_name,
    withheld_notice,
    withheld_reason,
)
from bot.client.grids import GridDelivery, GridViewFactory, LabelledViewFactory
from bot.client.transport import DiscordTransport, ResultMessage
from bot.domain.jobs import Job, JobState
from bot.domain.lineage import JobGroup
from bot.queue.events import EventKind, JobEvent, ResultOutput
from bot.render.embeds import minimal_embed, result_embed, waiting_text
from bot.render.fit import fit_result
from bot.render.png import encode_preview
from bot.render.texts import UserText, fit, position_text, progress_text
from bot.services.craft import StyleService
from bot.storage.jobs import JobRepository
from bot.storage.lineage import LineageRepository

log = logging.getLogger(__name__)

EDIT_INTERVAL = 1.5  # seconds between edits of one message (Discord allows ~5 per 5 s)
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024

ViewFactory = Callable[[Job], discord.ui.View]
GENERATING = "🎨 generating…"


class JobEvents(Protocol):
    """What the delivery needs from the queue: a job's events and its place."""

    def subscribe(self, job_id: int) -> asyncio.Queue[JobEvent]:
        """A queue of this job's events from now on."""
        ...

    def unsubscribe(self, job_id: int, events: asyncio.Queue[JobEvent]) -> None:
        """Stop receiving a job's events."""
        ...

    def position(self, job_id: int) -> int | None:
        """The job's place in the queue (1 = next), or None."""
        ...

    def estimate_wait(self, job_id: int) -> float | None:
        """Seconds until the job starts, if known."""
        ...


def _final_event(events: asyncio.Queue[JobEvent]) -> JobEvent | None:
    """The last final event already waiting (the job ended while it was being read)."""
    final = None
    while not events.empty():
        event = events.get_nowait()
        if event.kind.final:
            final = event
    return final


def _read_output(path: Path) -> ResultOutput:
    """A result written before a restart (blocking)."""
    return ResultOutput(path.read_bytes(), path.name)


class Delivery:
    """Follows Discord jobs from queued to delivered."""

    def __init__(self, client: discord.Client, jobs: JobRepository, queue: JobEvents, *,
                 lineage: LineageRepository | None = None,
                 craft: StyleService | None = None,
                 edit_interval: float = EDIT_INTERVAL,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._jobs = jobs
        self._queue = queue
        self._lineage = lineage
        self._edit_interval = edit_interval
        self._transport = DiscordTransport(client, jobs, clock=clock)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._grid_tasks: dict[int, asyncio.Task[None]] = {}
        # Previews and re-encodings, off the loop on one thread of the delivery's own.
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-upload")
        self.view_factory: ViewFactory | None = None
        # A line of the bot's own words under a result (a running party's topic), or None.
        self.note_factory: Callable[[Job], str | None] | None = None
        # Whether a server lets flagged images into its age-restricted channels (as spoilers);
        # the bot wires /safety nsfw's setting here. Until then, never.
        self.nsfw_allowed: Callable[[int | None], bool] = lambda guild_id: False
        # What a started job's message says (the bot says when its model is being loaded).
        self.started_text: Callable[[Job], str] = lambda job: GENERATING
        # /dream count: grids, morphs, and (drawn by ``craft``) /styles and /xy grids: one
        # message per job group; needs the lineage repository.
        self._grids = (GridDelivery(jobs, lineage, queue, self._transport, self._encoder,
                                    edit_interval=edit_interval,
                                    upload_limit=DEFAULT_UPLOAD_LIMIT, place_text=position_text)
                       if lineage is not None else None)
        if self._grids is not None:
            self._grids.craft = craft
        self._place_text: Callable[[int, float | None], str] = position_text
        # Jobs whose outcome is being posted: a shutdown lets these finish and be recorded.
        self._posting: set[int] = set()
        self._closed = False

    @property
    def place_text(self) -> Callable[[int, float | None], str]:
        """How a waiting job's place reads (the bot adds "the model is loading" while it
        loads)."""
        return self._place_text

    @place_text.setter
    def place_text(self, text: Callable[[int, float | None], str]) -> None:
        self._place_text = text
        if self._grids is not None:
            self._grids.place_text = text

    @property
    def grid_view_factory(self) -> GridViewFactory | None:
        """The buttons under a finished grid (U1–U4, V1–V4), given its cells that have an
        image."""
        return self._grids.view_factory if self._grids is not None else None

    @grid_view_factory.setter
    def grid_view_factory(self, factory: GridViewFactory | None) -> None:
        if self._grids is not None:
            self._grids.view_factory = factory

    @property
    def labelled_view_factory(self) -> LabelledViewFactory | None:
        """The buttons under a finished /styles or /xy grid (a button per cell)."""
        return self._grids.labelled_view_factory if self._grids is not None else None

    @labelled_view_factory.setter
    def labelled_view_factory(self, factory: LabelledViewFactory | None) -> None:
        if self._grids is not None:
            self._grids.labelled_view_factory = factory

    @property
    def clock(self) -> Callable[[], float]:
        """This host's clock, by which interaction tokens are judged (tests move it)."""
        return self._transport.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self._transport.clock = clock

    async def start(self) -> None:
        """Follow every unfinished Discord job again and deliver finished, undelivered ones."""
        pending = await self._jobs.in_states([JobState.QUEUED, JobState.RUNNING],
                                             sources=["discord"])
        pending += await self._jobs.undelivered(["discord"])
        for job in pending:
            if (group := await self._shown_group_of(job.id)) is not None:
                self._follow_group(group)  # once per grid, however many cells wait
            else:
                self.follow(job.id)

    async def close(self, *, grace: float = 10.0) -> None:
        """Stop following; a result being posted gets ``grace`` seconds to finish and be
        recorded (jobs stay recorded either way: the next start picks them up)."""
        self._closed = True
        posting = [task for job_id, task in self._tasks.items() if job_id in self._posting]
        grids = self._grids.posting if self._grids is not None else set()
        posting += [task for group_id, task in self._grid_tasks.items() if group_id in grids]
        for job_id, task in list(self._tasks.items()):
            if job_id not in self._posting:
                task.cancel()
        for group_id, task in list(self._grid_tasks.items()):
            if group_id not in grids:
                task.cancel()
        if posting:
            await asyncio.wait(posting, timeout=grace)
        for task in [*self._tasks.values(), *self._grid_tasks.values()]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._encoder.shutdown(wait=False)

    def follow(self, job_id: int) -> None:
        """Start following a job (no-op if already followed, or once closed: the next start
        follows it)."""
        if job_id not in self._tasks and not self._closed:
            task = asyncio.create_task(self._follow(job_id), name=f"deliver-{job_id}")
            self._tasks[job_id] = task
            task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    def follow_grid(self, job_ids: list[int]) -> None:
        """Follow the jobs of one grid (``/dream count:``, ``/styles``, ``/xy``) or morph as
        one message."""
        async def find_and_follow() -> None:
            try:
                group = await self._shown_group_of(job_ids[0])
            except Exception:
                log.exception("finding the grid of job %d failed", job_ids[0])
                return
            if group is None:  # no lineage store: each image is its own message
                for job_id in job_ids:
                    self.follow(job_id)
            else:
                self._follow_group(group)

        if self._closed:
            return
        task = asyncio.create_task(find_and_follow(), name=f"grid-of-{job_ids[0]}")
        self._grid_tasks[-job_ids[0]] = task  # closed with the others
        task.add_done_callback(lambda _: self._grid_tasks.pop(-job_ids[0], None))

    async def _shown_group_of(self, job_id: int) -> JobGroup | None:
        """The grid or morph a job belongs to (shown as one message), if any."""
        if self._lineage is None or self._grids is None:
            return None
        for group_id in await self._lineage.groups_of(job_id):
            group = await self._lineage.group(group_id)
            if group is not None and self._grids.shows(group):
                return group
        return None

    def _follow_group(self, group: JobGroup) -> None:
        if group.id in self._grid_tasks or self._grids is None or self._closed:
            return
        grids = self._grids

        async def run() -> None:
            try:
                await grids.follow(group)
            except Exception:
                log.exception("delivering grid %d failed", group.id)

        task = asyncio.create_task(run(), name=f"grid-{group.id}")
        self._grid_tasks[group.id] = task
        task.add_done_callback(lambda _: self._grid_tasks.pop(group.id, None))

    async def wait_delivered(self, job_id: int) -> None:
        """Wait until a followed job has been delivered (for tests and shutdown)."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.shield(task)

    # -- following ---------------------------------------------------------------------------

    async def _follow(self, job_id: int) -> None:
        events = self._queue.subscribe(job_id)
        try:
            job = await self._jobs.get(job_id)
            if job is None:
                return
            if job.state.finished:
                # Finished before a restart (no event), or while it was being read.
                final = _final_event(events)
            else:
                final = await self._show_until_finished(job, events)
            if final is not None:
                job = final.job
            await self._deliver(job, final.output if final is not None else None)
        except Exception:
            log.exception("delivering job %d failed", job_id)
        finally:
            self._queue.unsubscribe(job_id, events)

    async def _show_until_finished(self, job: Job, events: asyncio.Queue[JobEvent]) -> JobEvent:
        # Coalesce events: show the newest state at most once per edit interval.
        position = self._queue.position(job.id)
        if position:
            await self._edit_status(job, self.place_text(position,
                                                         self._queue.estimate_wait(job.id)))
        next_edit = time.monotonic() + self._edit_interval
        latest: JobEvent | None = None
        while True:
            timeout = max(0.0, next_edit - time.monotonic()) if latest else None
            try:
                event = await asyncio.wait_for(events.get(), timeout)
            except TimeoutError:
                event = None
            if event is not None and event.kind.final:
                return event
            if event is not None:
                latest = event
            if latest is not None and time.monotonic() >= next_edit:
                await self._show(latest)
                latest = None
                next_edit = time.monotonic() + self._edit_interval

    async def _show(self, event: JobEvent) -> None:
        if event.kind is EventKind.QUEUED and event.position:
            await self._edit_status(event.job, self.place_text(event.position, event.eta))
        elif event.kind is EventKind.STARTED:
            await self._edit_status(event.job, self.started_text(event.job))
        elif event.kind is EventKind.PROGRESS:
            preview = None
            if event.preview is not None:
                preview = await asyncio.get_running_loop().run_in_executor(
                    self._encoder, encode_preview, event.preview)
            await self._edit_status(event.job, f"🎨 {progress_text(event.step, event.total)}",
                                    preview=preview)

    async def _edit_status(self, job: Job, text: str, *, preview: bytes | None = None) -> None:
        # The channel's theme stays in view while the job waits.
        await self._transport.edit_waiting(job, waiting_text(job.recipe, text), preview=preview)

    # -- the outcome -------------------------------------------------------------------------

    async def _deliver(self, job: Job, output: ResultOutput | None) -> None:
        if job.message_id is not None:
            return
        self._posting.add(job.id)
        try:
            message_id = await self._post_outcome(job, output)
            if message_id is not None:
                await self._jobs.update(job.id, message_id=message_id)
        finally:
            self._posting.discard(job.id)

    async def _post_outcome(self, job: Job, output: ResultOutput | None) -> int | None:
        mention = f"<@{job.requester.user_id}>" if job.requester.user_id else ""
        if job.state is JobState.DONE and (output is not None or job.output_path):
            return await self._post_result(job, output, mention)
        if job.state is JobState.FAILED:
            # The error can quote the user's words: shown escaped, and cut to fit a message.
            return await self._transport.post_text(job, fit(
                [f"❌ {mention} this image could not be made: ",
                 UserText(job.error or "unknown error")]))
        return await self._transport.post_text(job, f"✖️ {mention} cancelled.")

    async def _post_result(self, job: Job, output: ResultOutput | None,
                           mention: str) -> int | None:
        spoiler = False
        # A flagged image is never posted unblurred, and only where the channel and server
        # allow it (bot.client.flagged).
        if job.flagged:
            restricted = age_restricted(self._client, job.requester.channel_id)
            if not (restricted and self.nsfw_allowed(job.requester.guild_id)):
                return await self._withhold(job, mention, restricted)
            spoiler = True
        loop = asyncio.get_running_loop()
        if output is None:  # finished before a restart: its file, read once
            assert job.output_path is not None
            try:
                output = await loop.run_in_executor(self._encoder, _read_output,
                                                    Path(job.output_path))
            except FileNotFoundError:
                return await self._transport.post_text(
                    job, f"❌ {mention} the result file of job {job.id} is missing on the server.")
        data, stem = output.data, Path(output.filename).stem
        seconds = (job.finished_at - job.created_at) if job.finished_at else None
        view = self.view_factory(job) if self.view_factory else None
        extra = self.note_factory(job) if self.note_factory else None
        # A person is pinged if it goes to the channel (the interaction is gone); a stream image
        # just appears.
        ping = f"{mention} your image is ready" if mention else ""

        async def render(limit: int) -> ResultMessage:
            encoded = await loop.run_in_executor(self._encoder, fit_result, data, job.recipe,
                                                 limit)
            name = f"{stem}{encoded.suffix}"
            flagged_note = FLAGGED_NOTE if spoiler else None
            return ResultMessage(encoded.data, spoiler_name(name) if spoiler else name,
                                 result_embed(job, seconds=seconds, note="\n".join(
                                     filter(None, (flagged_note, extra, encoded.note)))), view,
                                 ping)

        def refused(error: discord.HTTPException) -> str:
            return (f"❌ {mention} Discord refused this image's message (error {error.code}); "
                    f"it is kept on the server as job {job.id}.")

        return await self._transport.post_result(
            job, render, job.requester.attachment_limit or DEFAULT_UPLOAD_LIMIT,
            minimal=minimal_embed(job), refused=refused)

    async def _withhold(self, job: Job, mention: str, restricted: bool) -> int | None:
        """A notice in place of a flagged image; the requester learns why privately while the
        token lives, else from the notice. The file stays on the server."""
        reason = withheld_reason(job, channel_age_restricted=restricted)
        private = self._transport.token_usable(job)
        # The notice first: it replaces the waiting message, so the private follow-up after it
        # is a message of its own (a first follow-up would take over a still-loading response).
        message_id = await self._transport.post_text(
            job, withheld_notice(job, mention, reason=None if private else reason))
        if private and not await self._transport.tell_requester(job, reason):
            log.warning("job %d: the requester could not be told privately why its image is "
                        "withheld", job.id)
        return message_id
