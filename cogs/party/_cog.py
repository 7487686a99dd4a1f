"""``/party start|role|associate|board|tree|end``: a neurogenerative party in a channel."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.client.requester import can_manage_messages
from bot.domain.errors import UserError
from bot.domain.party import HOURS_MAX, PartyRole
from bot.services.party import PartyEnd, Published
from cogs.party._render import board_text, role_text, started_text, summary_embed
from cogs.party._votes import LabelEditor

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

log = logging.getLogger(__name__)

TIMER_SECONDS = 30.0  # how often parties past their hours are looked for
ROLE_CHOICES = [app_commands.Choice(name=role.label, value=role.value) for role in PartyRole]


def _channel_id(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None or interaction.channel_id is None:
        raise UserError("parties happen in server channels and threads; use this in a server")
    return interaction.channel_id


def may_post(interaction: discord.Interaction) -> bool:
    """Whether the member may post where the interaction happens (a thread has its own
    permission)."""
    permissions = interaction.permissions
    if isinstance(interaction.channel, discord.Thread):
        return bool(permissions.send_messages_in_threads or permissions.administrator)
    return bool(permissions.send_messages or permissions.administrator)


def gallery_note(published: Published) -> str:
    """Where the gallery is (attached, or kept on the server because it is too big)."""
    if published.attach is not None:
        return f"📎 attached: `{published.attach.name}` (open it in any browser, no network needed)"
    return (f"too big to upload here; saved on the server as `{published.html_path.name}`"
            + (f" and `{published.zip_path.name}`" if published.zip_path else ""))


def _file(published: Published) -> list[discord.File]:
    return [discord.File(published.attach, filename=published.attach.name)] \
        if published.attach is not None else []


@app_commands.guild_only()
class PartyCog(commands.GroupCog, group_name="party",
               group_description="A neurogenerative party: a topic, roles, votes, a gallery"):
    """Parties: everything /dream makes in the channel while one runs belongs to it."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot
        self.labels = LabelEditor()
        self._timer: asyncio.Task[None] | None = None
        super().__init__()

    async def cog_load(self) -> None:
        """Start the timer that ends parties past their hours."""
        if self.bot.app is not None:
            self._timer = asyncio.create_task(self._end_due_parties(), name="party-timer")

    async def cog_unload(self) -> None:
        """Stop the timer and pending label edits."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.labels.close()

    @app_commands.command(name="start")
    @app_commands.describe(topic="What the party explores (loneliness, love, the meaning of "
                                 "life…)",
                           hours="End by itself after this many hours (empty: at /party end)",
                           theme="A theme preset's name, or words added to every prompt")
    async def start(self, interaction: discord.Interaction,
                    topic: app_commands.Range[str, 1, 200],
                    hours: app_commands.Range[float, 0.01, HOURS_MAX] | None = None,
                    theme: app_commands.Range[str, 1, 500] | None = None) -> None:
        """Start a party here; you are its Prompt Master."""
        channel_id = _channel_id(interaction)
        if not may_post(interaction):
            raise UserError("you cannot post in this channel, so you cannot start a party here")
        party = await self.bot.services.party.start(
            guild_id=interaction.guild_id, channel_id=channel_id, topic=topic, hours=hours,
            theme=theme, user_id=interaction.user.id, user_name=interaction.user.display_name)
        await interaction.response.send_message(started_text(party))

    @start.autocomplete("theme")
    async def theme_names(self, interaction: discord.Interaction,
                          current: str) -> list[app_commands.Choice[str]]:
        """Theme presets whose name or title holds what was typed (free words work too)."""
        presets = self.bot.services.themes.catalog.search(current)
        return [app_commands.Choice(name=f"{p.name} · {p.title}"[:100], value=p.name)
                for p in presets]

    @app_commands.command(name="role")
    @app_commands.describe(member="Who gets the role", role="Prompt Master drives; Art Expert "
                                                          "judges and gives the 🏅 pick")
    @app_commands.choices(role=ROLE_CHOICES)
    async def role(self, interaction: discord.Interaction, member: discord.Member,
                   role: str) -> None:
        """Hand a party role on (the Prompt Master or a moderator)."""
        party = await self.bot.services.party.hand_on(
            _channel_id(interaction), member_id=member.id, member_name=member.display_name,
            role=role, actor_id=interaction.user.id, moderator=can_manage_messages(interaction))
        await interaction.response.send_message(role_text(party, PartyRole(role)))

    @app_commands.command(name="associate")
    @app_commands.describe(words="Words, styles or artists, separated by commas")
    async def associate(self, interaction: discord.Interaction,
                        words: app_commands.Range[str, 1, 1000]) -> None:
        """Add associations to the party's board."""
        entries = await self.bot.services.party.associate(
            _channel_id(interaction), words, user_id=interaction.user.id,
            user_name=interaction.user.display_name)
        await interaction.response.send_message(
            f"🧠 added; the board has {len(entries)} different words (`/party board`).",
            ephemeral=True)

    @app_commands.command(name="board")
    async def board(self, interaction: discord.Interaction) -> None:
        """Show the associations, grouped and counted."""
        party, entries = await self.bot.services.party.board(_channel_id(interaction))
        await interaction.response.send_message(board_text(party, entries))

    @app_commands.command(name="tree")
    async def tree(self, interaction: discord.Interaction) -> None:
        """Post the party's exploration tree as an image."""
        channel_id = _channel_id(interaction)
        await interaction.response.defer(thinking=True)
        _, roots, png = await self.bot.services.party.tree(channel_id)
        await interaction.edit_original_response(
            content=f"🌳 {sum(1 for _ in roots)} first words; each line is how an image came "
                    f"from its parent (reroll, variation, remix, upscale, refine).",
            attachments=[discord.File(io.BytesIO(png), filename="party-tree.png")])

    @app_commands.command(name="end")
    async def end(self, interaction: discord.Interaction) -> None:
        """End the party: a summary, and the gallery published."""
        party = self.bot.services.party
        ended = await party.end(_channel_id(interaction), actor_id=interaction.user.id,
                                moderator=can_manage_messages(interaction),
                                upload_limit=interaction.filesize_limit,
                                acknowledge=lambda: interaction.response.defer(thinking=True))
        message = await interaction.edit_original_response(
            embed=summary_embed(ended.summary, gallery_note(ended.published)),
            attachments=_file(ended.published))
        await party.record_summary(ended.summary.party.id, message.id)

    # -- parties past their hours --------------------------------------------------------------

    async def _end_due_parties(self) -> None:
        await self.bot.wait_until_ready()
        try:  # star board reposts claimed before a crash, never posted
            await self.bot.services.party.resume_reposts()
        except Exception:
            log.exception("could not post the star board reposts left from the last run")
        while True:
            try:
                await self.end_due_parties()
            except Exception:
                log.exception("could not end the parties past their hours")
            await asyncio.sleep(TIMER_SECONDS)

    async def end_due_parties(self) -> list[PartyEnd]:
        """End every party past its hours and post its summary in its channel."""
        service = self.bot.services.party
        ended = []
        for party in service.due():
            channel = self.bot.get_channel(party.channel_id)
            limit = getattr(getattr(channel, "guild", None), "filesize_limit", None)
            result = await (service.end_due(party, limit) if limit else service.end_due(party))
            ended.append(result)
            if not isinstance(channel, discord.abc.Messageable):
                continue
            try:
                message = await channel.send(
                    embed=summary_embed(result.summary, gallery_note(result.published)),
                    files=_file(result.published))
                await service.record_summary(party.id, message.id)
            except discord.HTTPException as error:
                log.warning("could not post party %d's summary: %s", party.id, error)
        return ended
