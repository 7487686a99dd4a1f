"""The stream runner's view of Discord: the channel cache, the delivery and announcements."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.domain.streams import Stream

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

log = logging.getLogger(__name__)

NEEDED = ("view_channel", "send_messages", "attach_files", "embed_links")


def missing_permissions(channel: discord.abc.GuildChannel | discord.Thread,
                        me: discord.Member) -> list[str]:
    """The permissions the bot lacks to post results in ``channel``."""
    permissions = channel.permissions_for(me)
    needed = list(NEEDED)
    if isinstance(channel, discord.Thread):
        needed[1] = "send_messages_in_threads"
    return [name for name in needed if not getattr(permissions, name)]


class DiscordStreamHost:
    """Implements ``bot.services.streams.StreamHost`` with discord.py's cache and Delivery."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self._bot = bot

    async def wait_ready(self) -> None:
        """Wait for the gateway's READY (the channel cache is filled then)."""
        await self._bot.wait_until_ready()

    def problem(self, guild_id: int, channel_id: int) -> str | None:
        """Why the bot cannot post in the channel now, from the cache (no I/O)."""
        guild = self._bot.get_guild(guild_id)
        if guild is None:
            return "the bot is no longer in this server"
        channel = guild.get_channel_or_thread(channel_id)
        if channel is None:
            return "its channel was deleted"
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            return "its channel can no longer hold messages"
        missing = missing_permissions(channel, guild.me)
        if missing:
            return f"the bot may no longer post there (missing {', '.join(missing)})"
        return None

    async def probe(self, guild_id: int, channel_id: int) -> str | None:
        """After a failed post: ask Discord whether the channel still exists and is ours."""
        try:
            await self._bot.fetch_channel(channel_id)
        except discord.NotFound:
            return "its channel was deleted"
        except discord.Forbidden:
            return "the bot lost access to its channel"
        except discord.HTTPException:
            return None
        return self.problem(guild_id, channel_id)

    def follow(self, job_id: int) -> None:
        """Hand a stream job to the delivery (posted as a plain channel message)."""
        if self._bot.delivery is not None:
            self._bot.delivery.follow(job_id)

    async def delivered(self, job_id: int) -> None:
        """Wait until the delivery is done with the job."""
        if self._bot.delivery is not None:
            await self._bot.delivery.wait_delivered(job_id)

    async def announce(self, stream: Stream, text: str) -> None:
        """Say why a stream stopped: in its channel if possible, else the system channel or
        the first channel where the bot may post."""
        guild = self._bot.get_guild(stream.guild_id)
        if guild is None:
            log.warning("%s (server %d is gone)", text, stream.guild_id)
            return
        candidates: list[discord.abc.GuildChannel | discord.Thread | None] = [
            guild.get_channel_or_thread(stream.channel_id), guild.system_channel,
            *sorted(guild.text_channels, key=lambda c: c.position)]
        for channel in candidates:
            if isinstance(channel, discord.TextChannel | discord.Thread) and \
                    not missing_permissions(channel, guild.me)[:2]:
                try:
                    await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
                    return
                except discord.HTTPException:
                    continue
        log.warning("%s (no channel to say it in)", text)
