"""The Discord transport: how a job's messages reach Discord, apart from what they say.

The waiting message is the interaction's original response. It is edited through the
interaction webhook by message id, so the same code works before and after a restart. A token is
used only while this host's clock says it lives (with a margin) and Discord has not refused it;
otherwise a message goes to the job's channel as a plain message that may ping its requester,
after recent history has been searched for the job's marker so that a restart never posts twice.
A result Discord finds too large (413) is asked for a smaller encoding; a result it refuses (400)
falls back to a minimal message, then to text.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from bot.domain.jobs import Job
from bot.render.embeds import job_marker
from bot.render.texts import clip
from bot.storage.jobs import JobRepository

log = logging.getLogger(__name__)

TOKEN_MARGIN = 30.0  # stop using an interaction token this long before it expires
HISTORY_SCAN = 50  # messages of a channel searched for a job's marker before posting there
SMALLEST_RETRY_LIMIT = 256 * 1024  # below this a 413 is not answered with a smaller encoding


@dataclass(frozen=True, slots=True)
class ResultMessage:
    """A result as it is to be posted: its file and the message around it."""

    data: bytes
    filename: str
    embed: discord.Embed
    view: discord.ui.View | None
    ping: str  # a channel post's text (the interaction is gone); "" pings no one
    # More files after the first (a morph's contact sheet): (data, file name).
    extra: tuple[tuple[bytes, str], ...] = ()

    def files(self) -> list[discord.File]:
        """Fresh uploads of the data (discord.py consumes a File once it is sent)."""
        return [discord.File(io.BytesIO(data), filename=name)
                for data, name in ((self.data, self.filename), *self.extra)]


# The result encoded under an upload limit (bytes), with its message.
RenderResult = Callable[[int], Awaitable[ResultMessage]]


def _is_too_large(error: discord.HTTPException) -> bool:
    return error.status == 413 or error.code == 40005


class DiscordTransport:
    """Edits a job's waiting message or posts to its channel, whichever still works."""

    def __init__(self, client: discord.Client, jobs: JobRepository, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._jobs = jobs
        # This host's clock, which recorded each token's expiry (see requester_from); a seam
        # for tests, which move it forward instead of waiting 15 minutes.
        self.clock = clock
        # Jobs whose interaction token Discord has refused (401/404): no more webhook calls.
        self._dead_tokens: set[int] = set()

    def token_usable(self, job: Job) -> bool:
        """Whether the job's interaction token may still be used (by this host's clock)."""
        expires = job.requester.token_expires_at
        return (bool(job.requester.interaction_token) and job.id not in self._dead_tokens
                and (expires is None or self.clock() < expires - TOKEN_MARGIN))

    async def edit_waiting(self, job: Job, text: str, *, preview: bytes | None = None) -> None:
        """Edit the waiting message (no pings); failures only cost this one update."""
        message_id = await self._waiting_message_id(job)
        if message_id is None:
            return
        attachments = [discord.File(io.BytesIO(preview), filename="preview.jpg")] if preview else []
        try:
            await self._webhook(job).edit_message(
                message_id, content=text, attachments=attachments,
                allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            self._note_refusal(job, error)
            log.warning("could not update the waiting message of job %d: %s", job.id, error)

    async def post_text(self, job: Job, text: str) -> int | None:
        """Replace the waiting message with ``text``, or post it to the channel; its id."""
        text = clip(text)
        if (message_id := await self._waiting_message_id(job)) is not None:
            try:
                await self._webhook(job).edit_message(message_id, content=text, attachments=[],
                                                      view=None,
                                                      allowed_mentions=self._mentions(job))
                return message_id
            except discord.HTTPException as error:
                self._note_refusal(job, error)
                log.warning("could not edit the message of job %d: %s", job.id, error)
        return await self._send_to_channel(job, content=text)

    async def post_result(self, job: Job, render: RenderResult, limit: int, *,
                          minimal: discord.Embed,
                          refused: Callable[[discord.HTTPException], str],
                          marker: str | None = None) -> int | None:
        """Post a result rendered under ``limit`` bytes; the posted message's id.

        ``marker`` is the footer that identifies the posted message in the channel's history
        (default: the job's; a grid's message carries its group's marker and goes out through
        its first cell's job).

        A 413 means the server's limit is lower than the interaction said: the result is
        rendered again, smaller. A 400 would be refused again after every restart (and the user
        would wait on "generating…" forever): ``minimal`` replaces the embed, and if even that
        is refused, the text ``refused(error)`` is posted instead.
        """
        while True:
            message = await render(limit)
            try:
                return await self._publish(job, message, message.embed, message.view,
                                           marker=marker)
            except discord.HTTPException as error:
                if _is_too_large(error) and limit > SMALLEST_RETRY_LIMIT:
                    limit = min(limit, len(message.data)) * 3 // 4
                    continue
                if error.status != 400:
                    raise
                log.warning("Discord refused the result of job %d (%s); posting a minimal "
                            "message", job.id, error)
            try:
                return await self._publish(job, message, minimal, None, marker=marker)
            except discord.HTTPException as error:
                if error.status != 400:
                    raise
                log.warning("Discord refused the minimal result of job %d (%s)", job.id, error)
                return await self.post_text(job, refused(error))

    async def tell_requester(self, job: Job, text: str) -> bool:
        """Send the requester alone ``text`` (an ephemeral follow-up) while the job's token
        lives; False when it cannot (no token, expired or refused: say it publicly instead)."""
        application_id, token = self._client.application_id, job.requester.interaction_token
        if not self.token_usable(job) or application_id is None or token is None:
            return False
        # The follow-up webhook of the interaction (type 3, as Interaction.followup builds it):
        # only that kind may send ephemeral messages.
        followup = discord.Webhook.from_state(
            data={"id": application_id, "type": 3, "token": token},
            state=self._client._connection)
        try:
            await followup.send(clip(text), ephemeral=True,
                                allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            self._note_refusal(job, error)
            log.info("job %d: could not tell the requester privately: %s", job.id, error)
            return False
        return True

    # -- the interaction webhook -------------------------------------------------------------

    def _note_refusal(self, job: Job, error: discord.HTTPException) -> None:
        if error.status in (401, 404):
            self._dead_tokens.add(job.id)

    def _webhook(self, job: Job) -> discord.Webhook:
        assert job.requester.interaction_token is not None
        application_id = self._client.application_id
        assert application_id is not None
        return discord.Webhook.partial(application_id, job.requester.interaction_token,
                                       client=self._client)

    async def _waiting_message_id(self, job: Job) -> int | None:
        """The waiting message's id while the token is usable (looked up once, then recorded)."""
        if not self.token_usable(job):
            return None
        if job.status_message_id is not None:
            return job.status_message_id
        try:
            original = await self._webhook(job).fetch_message("@original")  # type: ignore[arg-type]
        except discord.HTTPException:
            return None
        await self._jobs.update(job.id, status_message_id=original.id)
        return original.id

    async def _publish(self, job: Job, message: ResultMessage, embed: discord.Embed,
                       view: discord.ui.View | None, *, marker: str | None = None) -> int | None:
        if (message_id := await self._waiting_message_id(job)) is not None:
            try:
                await self._webhook(job).edit_message(
                    message_id, content="", embed=embed, attachments=message.files(),
                    view=view, allowed_mentions=discord.AllowedMentions.none())
                return message_id
            except discord.HTTPException as error:
                if error.status not in (401, 404):  # only a dead token falls back
                    raise
                self._note_refusal(job, error)
                log.info("job %d: interaction token no longer valid; posting to the channel",
                         job.id)
        return await self._send_to_channel(job, content=message.ping, embed=embed,
                                           files=message.files(), view=view, marker=marker)

    # -- the channel -------------------------------------------------------------------------

    def _mentions(self, job: Job) -> discord.AllowedMentions:
        """Only the requester may be pinged, and only where the bot names them."""
        if job.requester.user_id is None:
            return discord.AllowedMentions.none()
        return discord.AllowedMentions(everyone=False, roles=False,
                                       users=[discord.Object(job.requester.user_id)])

    async def _send_to_channel(self, job: Job, *, marker: str | None = None,
                               **kwargs: object) -> int | None:
        channel_id = job.requester.channel_id
        if channel_id is None:
            return None
        channel = self._client.get_partial_messageable(channel_id,
                                                       guild_id=job.requester.guild_id)
        existing = await self._find_delivered(channel, marker or job_marker(job.id))
        if existing is not None:
            return existing
        message = await channel.send(allowed_mentions=self._mentions(job),  # type: ignore[call-overload]
                                     nonce=job.id, **kwargs)
        return int(message.id)

    async def _find_delivered(self, channel: discord.PartialMessageable,
                              marker: str) -> int | None:
        """A message of ours already carrying this marker (a post before a crash)."""
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
