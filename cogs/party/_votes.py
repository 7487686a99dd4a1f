"""⭐ votes and the Art Expert's 🏅 pick under results (persistent: state in the database, the
custom_id holds only the job id, and the buttons are registered again at every start).

The count shows in the ⭐ button's label. Label edits are throttled per message: a press is
acknowledged at once (a deferred update), and the label follows at most once per
``EDIT_INTERVAL`` with the newest count, so a burst of votes costs one edit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import discord

from bot.client.errors import report_error
from bot.domain.jobs import Job
from bot.render.texts import clip_escaped

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot
    from bot.services.party import PartyService

log = logging.getLogger(__name__)

EDIT_INTERVAL = 1.5  # seconds between label edits of one message (Discord: ~5 edits per 5 s)
ViewFactory = Callable[[Job], discord.ui.View]


def vote_id(job_id: int) -> str:
    """The ⭐ button's custom_id."""
    return f"party:vote:{job_id}"


def pick_id(job_id: int) -> str:
    """The 🏅 button's custom_id."""
    return f"party:pick:{job_id}"


def _reports_errors(callback: Callable[[Any, discord.Interaction], Coroutine[Any, Any, None]]
                    ) -> Callable[[Any, discord.Interaction], Coroutine[Any, Any, None]]:
    @functools.wraps(callback)
    async def wrapper(self: Any, interaction: discord.Interaction) -> None:
        try:
            await callback(self, interaction)
        except Exception as error:
            await report_error(interaction, error)
    return wrapper


class LabelEditor:
    """Keeps vote labels current, at most one edit per message per interval."""

    def __init__(self, interval: float = EDIT_INTERVAL) -> None:
        self.interval = interval
        self._latest: dict[int, tuple[discord.Interaction, str, str | None, bool]] = {}
        self._last: dict[int, float] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._closed = False

    def update(self, interaction: discord.Interaction, custom_id: str, label: str | None, *,
               on: bool) -> None:
        """Show ``label`` on the button ``custom_id`` of the interaction's message, soon."""
        message = interaction.message
        if message is None:
            return
        self._latest[message.id] = (interaction, custom_id, label, on)
        if len(self._last) > 1000:  # forget messages whose interval is long over
            horizon = time.monotonic() - self.interval
            self._last = {key: at for key, at in self._last.items() if at > horizon}
        if message.id in self._tasks:
            return  # the pending edit takes the newest label
        wait = max(0.0, self._last.get(message.id, 0.0) + self.interval - time.monotonic())
        task = asyncio.create_task(self._edit(message.id, wait), name=f"votes-{message.id}")
        self._tasks[message.id] = task

    async def _edit(self, message_id: int, wait: float) -> None:
        try:
            if wait:
                await asyncio.sleep(wait)
            interaction, custom_id, label, on = self._latest.pop(message_id)
            self._last[message_id] = time.monotonic()
            assert interaction.message is not None
            view = discord.ui.View.from_message(interaction.message, timeout=None)
            for item in view.children:
                if isinstance(item, discord.ui.Button) and item.custom_id == custom_id:
                    item.label = label
                    item.style = (discord.ButtonStyle.success if on
                                  else discord.ButtonStyle.secondary)
            # The interaction's message is the result; its deferred update makes it @original.
            await interaction.edit_original_response(view=view)
        except discord.HTTPException as error:
            log.warning("could not update the votes on message %d: %s", message_id, error)
        finally:
            self._tasks.pop(message_id, None)
            if message_id in self._latest and not self._closed:  # pressed while editing
                self._tasks[message_id] = asyncio.create_task(
                    self._edit(message_id, self.interval), name=f"votes-{message_id}")

    async def close(self) -> None:
        """Cancel pending edits."""
        self._closed = True
        for task in list(self._tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _editor(interaction: discord.Interaction) -> LabelEditor:
    bot: NeurostreamBot = interaction.client  # type: ignore[assignment]
    cog = bot.get_cog("PartyCog")
    editor = getattr(cog, "labels", None)
    if editor is None:
        raise RuntimeError("the party cog is not loaded")
    return editor  # type: ignore[no-any-return]


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                 template=r"party:vote:(?P<job>\d+)"):
    """⭐ One vote per person per image; pressing again takes it back."""

    def __init__(self, job_id: int, count: int = 0) -> None:
        super().__init__(discord.ui.Button(label=str(count) if count else None, emoji="⭐",
                                           style=discord.ButtonStyle.secondary,
                                           custom_id=vote_id(job_id)))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str]) -> VoteButton:
        """Rebuild the button from its custom_id (also after a restart)."""
        return cls(int(match["job"]))

    @_reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        """Count (or take back) the vote, then show the count."""
        bot: NeurostreamBot = interaction.client  # type: ignore[assignment]
        # A deferred update first: the vote may repost to the star board (an upload) before
        # it returns, and a refusal still reaches the presser alone (an ephemeral follow-up).
        await interaction.response.defer()
        vote = await bot.services.party.vote(self.job_id, interaction.user.id)
        _editor(interaction).update(interaction, vote_id(self.job_id),
                                    str(vote.count) if vote.count else None, on=False)


class PickButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                 template=r"party:pick:(?P<job>\d+)"):
    """🏅 The Art Expert's pick (pressing again takes it back)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(discord.ui.Button(label="Pick", emoji="🏅",
                                           style=discord.ButtonStyle.secondary,
                                           custom_id=pick_id(job_id)))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str]) -> PickButton:
        """Rebuild the button from its custom_id (also after a restart)."""
        return cls(int(match["job"]))

    @_reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        """Pick or unpick (only the party's Art Expert may)."""
        bot: NeurostreamBot = interaction.client  # type: ignore[assignment]
        await interaction.response.defer()
        picked = await bot.services.party.pick(self.job_id, interaction.user.id)
        _editor(interaction).update(interaction, pick_id(self.job_id),
                                    "Picked" if picked else "Pick", on=picked)


class PartyButtons(discord.ui.View):
    """The ⭐ (and in a party the 🏅) buttons alone, for a message of their own."""

    def __init__(self, job_id: int, *, in_party: bool, votes: int = 0) -> None:
        super().__init__(timeout=None)
        add_party_buttons(self, job_id, in_party=in_party, votes=votes)


def add_party_buttons(view: discord.ui.View, job_id: int, *, in_party: bool,
                      votes: int = 0) -> None:
    """Add ⭐ (and 🏅 for a party image) to a result's view, if it has room."""
    items: list[discord.ui.Item[Any]] = [VoteButton(job_id, votes)]
    if in_party:
        items.append(PickButton(job_id))
    for item in items:
        try:
            view.add_item(item)
        except ValueError:  # the view is full (25 items): the result keeps its own buttons
            log.warning("no room for the vote buttons of job %d", job_id)
            return


def party_note(party: PartyService) -> Callable[[Job], str | None]:
    """The line a result shows while its channel's party runs: "🎉 party: <topic>" (the topic
    escaped for markdown, so it can go into an embed as the bot's own words)."""
    def note(job: Job) -> str | None:
        running = party.party_in(job.requester.channel_id)
        return f"🎉 party: {clip_escaped(running.topic, 200)}" if running is not None else None
    return note


def with_party_buttons(inner: ViewFactory | None, party: PartyService) -> ViewFactory:
    """A result view factory that adds ⭐ where votes count (a party runs there, or the server
    has a star board) and 🏅 during a party, after ``inner``'s buttons."""
    def factory(job: Job) -> discord.ui.View:
        view = inner(job) if inner is not None else discord.ui.View(timeout=None)
        requester = job.requester
        if requester.guild_id is not None and party.votes_here(requester.guild_id,
                                                                requester.channel_id):
            add_party_buttons(view, job.id,
                              in_party=party.party_in(requester.channel_id) is not None)
        return view
    return factory
