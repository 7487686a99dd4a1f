"""``/starboard set``, ``/best``, ``/history`` and ``/wall enable|disable``; the star board's
reposts (the party service decides, once; this posts)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.errors import UserError
from bot.domain.party import PERIODS
from bot.services.party import Repost, Reposter
from cogs.party._render import best_text, history_text, repost_embed

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

PERIOD_CHOICES = [app_commands.Choice(name=name, value=name) for name in PERIODS]
Postable = discord.TextChannel | discord.Thread


def _guild(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None:
        raise UserError("use this in a server")
    return interaction.guild_id


def require(interaction: discord.Interaction, permission: str) -> None:
    """Refuse a member without ``permission`` (the command may be opened to anyone)."""
    permissions = interaction.permissions
    if not (getattr(permissions, permission) or permissions.administrator):
        raise app_commands.MissingPermissions([permission])


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class StarboardCog(commands.GroupCog, group_name="starboard",
                   group_description="The server's star board: results with enough ⭐ votes"):
    """Where results that reach the threshold are reposted, once."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="set")
    @app_commands.describe(channel="Where results are reposted",
                           threshold="Votes a result needs (default from the config)")
    async def set_(self, interaction: discord.Interaction, channel: Postable,
                   threshold: app_commands.Range[int, 1, 100] | None = None) -> None:
        """Set the star board's channel and threshold (Manage Server)."""
        require(interaction, "manage_guild")
        value = await self.bot.services.party.set_starboard(
            _guild(interaction), channel.id, threshold, user_id=interaction.user.id)
        await interaction.response.send_message(
            f"⭐ Results with {value} votes or more are reposted in {channel.mention}, once "
            f"each. Every result in this server now has a ⭐ button.", ephemeral=True)


class GalleryCog(commands.Cog):
    """``/best`` and ``/history``."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="best")
    @app_commands.guild_only()
    @app_commands.describe(channel="Only this channel (empty: the whole server)",
                           period="How far back (default: week)")
    @app_commands.choices(period=PERIOD_CHOICES)
    async def best(self, interaction: discord.Interaction, channel: Postable | None = None,
                   period: str = "week") -> None:
        """The results with the most ⭐ votes."""
        images = await self.bot.services.party.best(
            _guild(interaction), channel_id=channel.id if channel else None, period=period)
        where = f"in {channel.mention}" if channel else "in this server"
        await interaction.response.send_message(best_text(images, where, period))

    @app_commands.command(name="history")
    async def history(self, interaction: discord.Interaction) -> None:
        """Your last results, with links to them (only you see this)."""
        images = await self.bot.services.party.history(interaction.user.id,
                                                       interaction.guild_id)
        await interaction.response.send_message(history_text(images), ephemeral=True)


@app_commands.guild_only()
@app_commands.default_permissions(manage_channels=True)
class WallCog(commands.GroupCog, group_name="wall",
              group_description="The live wall (neurostream wall): a page for a projector"):
    """Which channels the live wall shows."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot
        super().__init__()

    async def _set(self, interaction: discord.Interaction, enabled: bool) -> bool:
        require(interaction, "manage_channels")
        if interaction.channel_id is None:
            raise UserError("use this in a channel")
        return await self.bot.services.wall.enable(
            guild_id=_guild(interaction), channel_id=interaction.channel_id,
            user_id=interaction.user.id, enabled=enabled)

    @app_commands.command(name="enable")
    async def enable(self, interaction: discord.Interaction) -> None:
        """Show this channel's new images on the live wall (Manage Channels)."""
        changed = await self._set(interaction, True)
        await interaction.response.send_message(
            "🖼 This channel's new images now appear on the live wall." if changed
            else "This channel is already on the live wall.", ephemeral=True)

    @app_commands.command(name="disable")
    async def disable(self, interaction: discord.Interaction) -> None:
        """Stop showing this channel on the live wall (Manage Channels)."""
        changed = await self._set(interaction, False)
        await interaction.response.send_message(
            "This channel is off the live wall." if changed
            else "This channel was not on the live wall.", ephemeral=True)


def star_reposter(bot: NeurostreamBot) -> Reposter:
    """How a claimed repost reaches the star board channel (returns the message id)."""
    async def repost(item: Repost) -> int | None:
        channel = bot.get_channel(item.channel_id) or await bot.fetch_channel(item.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return None
        files = ([discord.File(io.BytesIO(item.data), filename=item.filename)]
                 if item.data is not None else [])
        url = item.image.jump_url
        content = f"⭐ **{item.votes}**" + (f" · {url}" if url else "")
        message = await channel.send(
            content=content, files=files,
            embed=repost_embed(item.image, item.votes, item.filename if files else None))
        return message.id
    return repost

