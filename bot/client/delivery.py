"""Delivery: keeps each Discord job's waiting message current and posts its result once.

The waiting message is the interaction's original response. It is edited through the
interaction webhook by message id, so the same code works before and after a restart. A result
that arrives after the 15-minute token has expired goes to the channel as a plain message that
mentions its requester. A result is recorded as delivered (``message_id``) once it is up; before
posting to a channel, recent history is searched for the job's marker so a restart never posts
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import discord

from bot.domain.jobs import Job, JobState
from bot.queue.events import EventKind, JobEvent
from bot.queue.queue import JobQueue
from bot.render.embeds import job_marker, minimal_embed, result_embed, waiting_text
from bot.render.fit import Encoded, fit_under
from bot.render.png import encode_preview, read_parameters
from bot.render.texts import UserText, clip, fit, position_text, progress_text
from bot.storage.jobs import JobRepository

log = logging.getLogger(__name__)

EDIT_INTERVAL = 1.5  # seconds between edits of one message (Discord allows ~5 per 5 s)
TOKEN_MARGIN = 30.0  # stop using an interaction token this long before it expires
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
HISTORY_SCAN = 50

ViewFactory = Callable[[Job], discord.ui.View]


def _is_too_large(error: discord.HTTPException) -> bool:
    return error.status == 413 or error.code == 40005


class Delivery:
    """Follows Discord jobs from queued to delivered."""

    def __init__(self, client: discord.Client, jobs: JobRepository, queue: JobQueue, *,
                 edit_interval: float = EDIT_INTERVAL,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._jobs = jobs
        self._queue = queue
        self._edit_interval = edit_interval
        # This host's clock, which recorded each token's expiry (see requester_from); a seam
        # for tests, which move it forward instead of waiting 15 minutes.
        self.clock = clock
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-upload")
        self.view_factory: ViewFactory | None = None
        # How a waiting job's place reads (the bot adds "the model is loading" while it loads).
        self.place_text: Callable[[int, float | None], str] = position_text
        # Jobs whose interaction token Discord has refused (401/404): no more webhook calls.
        self._dead_tokens: set[int] = set()
        # Jobs whose outcome is being posted: a shutdown lets these finish and be recorded.
        self._posting: set[int] = set()

    async def start(self) -> None:
        """Follow every unfinished Discord job again and deliver finished, undelivered ones."""
        pending = await self._jobs.in_states([JobState.QUEUED, JobState.RUNNING],
                                             sources=["discord"])
        pending += await self._jobs.undelivered(["discord"])
        for job in pending:
            self.follow(job.id)

    async def close(self, *, grace: float = 10.0) -> None:
        """Stop following; a result being posted gets ``grace`` seconds to finish and be
        recorded (jobs stay recorded either way: the next start picks them up)."""
        posting = [task for job_id, task in self._tasks.items() if job_id in self._posting]
        for job_id, task in list(self._tasks.items()):
            if job_id not in self._posting:
                task.cancel()
        if posting:
            await asyncio.wait(posting, timeout=grace)
        for task in list(self._tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._encoder.shutdown(wait=False)

    def follow(self, job_id: int) -> None:
        """Start following a job (no-op if already followed)."""
        if job_id not in self._tasks:
            task = asyncio.create_task(self._follow(job_id), name=f"deliver-{job_id}")
            self._tasks[job_id] = task
            task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

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
            if not job.state.finished:
                job = await self._show_until_finished(job, events)
            await self._deliver(job)
        except Exception:
            log.exception("delivering job %d failed", job_id)
        finally:
            self._queue.unsubscribe(job_id, events)

    async def _show_until_finished(self, job: Job, events: asyncio.Queue[JobEvent]) -> Job:
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
                return event.job
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
            await self._edit_status(event.job, "🎨 generating…")
        elif event.kind is EventKind.PROGRESS:
            preview = None
            if event.preview is not None:
                data = await asyncio.get_running_loop().run_in_executor(
                    self._encoder, encode_preview, event.preview)
                preview = discord.File(io.BytesIO(data), filename="preview.jpg")
            await self._edit_status(event.job, f"🎨 {progress_text(event.step, event.total)}",
                                    preview=preview)

    # -- talking to Discord ------------------------------------------------------------------

    def _token_usable(self, job: Job) -> bool:
        expires = job.requester.token_expires_at
        return (bool(job.requester.interaction_token) and job.id not in self._dead_tokens
                and (expires is None or self.clock() < expires - TOKEN_MARGIN))

    def _note_refusal(self, job: Job, error: discord.HTTPException) -> None:
        if error.status in (401, 404):
            self._dead_tokens.add(job.id)

    def _webhook(self, job: Job) -> discord.Webhook:
        assert job.requester.interaction_token is not None
        application_id = self._client.application_id
        assert application_id is not None
        return discord.Webhook.partial(application_id, job.requester.interaction_token,
                                       client=self._client)

    async def _status_message_id(self, job: Job) -> int | None:
        if job.status_message_id is not None:
            return job.status_message_id
        if not self._token_usable(job):
            return None
        try:
            original = await self._webhook(job).fetch_message("@original")  # type: ignore[arg-type]
        except discord.HTTPException:
            return None
        await self._jobs.update(job.id, status_message_id=original.id)
        return original.id

    async def _edit_status(self, job: Job, text: str, *,
                           preview: discord.File | None = None) -> None:
        """Edit the waiting message; failures only cost this one update."""
        text = waiting_text(job.recipe, text)  # the channel's theme stays in view while waiting
        if not self._token_usable(job):
            return
        message_id = await self._status_message_id(job)
        if message_id is None:
            return
        try:
            await self._webhook(job).edit_message(
                message_id, content=text, attachments=[preview] if preview else [],
                allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            self._note_refusal(job, error)
            log.warning("could not update the waiting message of job %d: %s", job.id, error)

    async def _deliver(self, job: Job) -> None:
        if job.message_id is not None:
            return
        self._posting.add(job.id)
        try:
            await self._post_outcome(job)
        finally:
            self._posting.discard(job.id)

    async def _post_outcome(self, job: Job) -> None:
        mention = f"<@{job.requester.user_id}>" if job.requester.user_id else ""
        if job.state is JobState.DONE and job.output_path:
            message_id = await self._post_result(job, mention)
        elif job.state is JobState.FAILED:
            # The error can quote the user's words: shown escaped, and cut to fit a message.
            message_id = await self._post_text(job, fit(
                [f"❌ {mention} this image could not be made: ",
                 UserText(job.error or "unknown error")]))
        else:
            message_id = await self._post_text(job, f"✖️ {mention} cancelled.")
        if message_id is not None:
            await self._jobs.update(job.id, message_id=message_id)

    async def _post_text(self, job: Job, text: str) -> int | None:
        mentions = self._mentions(job)
        if self._token_usable(job) and (message_id := await self._status_message_id(job)):
            try:
                await self._webhook(job).edit_message(message_id, content=clip(text),
                                                      attachments=[], view=None,
                                                      allowed_mentions=mentions)
                return message_id
            except discord.HTTPException as error:
                self._note_refusal(job, error)
                log.warning("could not edit the message of job %d: %s", job.id, error)
        return await self._send_to_channel(job, content=clip(text))

    async def _post_result(self, job: Job, mention: str) -> int | None:
        assert job.output_path is not None
        path = Path(job.output_path)
        limit = job.requester.attachment_limit or DEFAULT_UPLOAD_LIMIT
        loop = asyncio.get_running_loop()
        seconds = (job.finished_at - job.created_at) if job.finished_at else None
        view = self.view_factory(job) if self.view_factory else None
        while True:
            try:
                encoded = await loop.run_in_executor(self._encoder, _encode_for_upload, path,
                                                     limit)
            except FileNotFoundError:
                return await self._post_text(job, f"❌ {mention} the result file of job "
                                                  f"{job.id} is missing on the server.")
            embed = result_embed(job, seconds=seconds, note=encoded.note)
            try:
                return await self._publish_result(job, mention, encoded, path.stem, embed, view)
            except discord.HTTPException as error:
                if _is_too_large(error) and limit > 256 * 1024:
                    # The server's limit is lower than we were told: try a smaller encoding.
                    limit = min(limit, len(encoded.data)) * 3 // 4
                    continue
                if error.status != 400:
                    raise
                # Discord refused the message itself (e.g. 50035): the same message would be
                # refused after every restart, and the user would wait on "generating…" forever.
                log.warning("Discord refused the result of job %d (%s); posting a minimal "
                            "message", job.id, error)
                return await self._publish_minimal(job, mention, encoded, path.stem)

    async def _publish_minimal(self, job: Job, mention: str, encoded: Encoded,
                               stem: str) -> int | None:
        """The image, a short text and the marker; a text alone if even that is refused."""
        try:
            return await self._publish_result(job, mention, encoded, stem, minimal_embed(job),
                                              None)
        except discord.HTTPException as error:
            if error.status != 400:
                raise
            log.warning("Discord refused the minimal result of job %d (%s)", job.id, error)
            return await self._post_text(job, f"❌ {mention} Discord refused this image's "
                                              f"message (error {error.code}); it is kept on "
                                              f"the server as job {job.id}.")

    async def _publish_result(self, job: Job, mention: str, encoded: Encoded, stem: str,
                              embed: discord.Embed, view: discord.ui.View | None) -> int | None:
        def file() -> discord.File:
            return discord.File(io.BytesIO(encoded.data), filename=f"{stem}{encoded.suffix}")

        if self._token_usable(job) and (message_id := await self._status_message_id(job)):
            try:
                await self._webhook(job).edit_message(
                    message_id, content="", embed=embed, attachments=[file()], view=view,
                    allowed_mentions=discord.AllowedMentions.none())
                return message_id
            except discord.HTTPException as error:
                if error.status not in (401, 404):  # only a dead token falls back
                    raise
                self._note_refusal(job, error)
                log.info("job %d: interaction token no longer valid; posting to the channel",
                         job.id)
        # A person is pinged (the interaction is gone); a stream image just appears.
        content = f"{mention} your image is ready" if mention else ""
        return await self._send_to_channel(job, content=content, embed=embed, file=file(),
                                           view=view)

    def _mentions(self, job: Job) -> discord.AllowedMentions:
        if job.requester.user_id is None:
            return discord.AllowedMentions.none()
        return discord.AllowedMentions(everyone=False, roles=False,
                                       users=[discord.Object(job.requester.user_id)])

    async def _send_to_channel(self, job: Job, **kwargs: object) -> int | None:
        channel_id = job.requester.channel_id
        if channel_id is None:
            return None
        channel = self._client.get_partial_messageable(channel_id,
                                                       guild_id=job.requester.guild_id)
        existing = await self._find_delivered(channel, job.id)
        if existing is not None:
            return existing
        message = await channel.send(allowed_mentions=self._mentions(job),  # type: ignore[call-overload]
                                     nonce=job.id, **kwargs)
        return int(message.id)

    async def _find_delivered(self, channel: discord.PartialMessageable,
                              job_id: int) -> int | None:
        """A message of ours already carrying this job's marker (a post before a crash)."""
        marker = job_marker(job_id)
        me = self._client.user
        try:
            async for message in channel.history(limit=HISTORY_SCAN):
                if me is not None and message.author.id != me.id:
                    continue
                if any(embed.footer.text == marker for embed in message.embeds):
                    return int(message.id)
        except discord.HTTPException as error:
            log.info("could not read history of channel %s: %s", channel.id, error)
        return None


def _encode_for_upload(path: Path, limit: int) -> Encoded:
    data = path.read_bytes()
    return fit_under(data, read_parameters(data) or "", limit)
