"""``/stream start|stop|status|add|remove|pool|setup`` (Manage Channels, checked at run time)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.errors import UserError
from bot.domain.themes import Preset, describe_duration
from bot.render.texts import UserText, clip, clip_escaped, duration, escape, fit, join_lines
from cogs.theme._cog import guild_and_channel, require_manage_channels

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot
    from bot.services.streams import StreamStatus

log = logging.getLogger(__name__)

POOL_PAGE = 15


def status_text(status: StreamStatus) -> str:
    """The /stream status answer."""
    stream = status.stream
    if stream is None:
        head = "No stream has run in this channel."
    elif stream.running:
        nxt = ("as soon as the queue is free" if not status.next_in
               else f"in about {duration(status.next_in)} (if nobody is waiting)")
        head = (f"🌊 Streaming: at most one image every {describe_duration(stream.every)}; "
                f"next {nxt}.")
    else:
        # The reason can name a member ("stopped by …"): shown escaped.
        head = f"⏹️ Stopped: {clip_escaped(stream.stop_reason or 'stopped', 300)}."
    return (f"{head}\nImages today: {status.images_today}. "
            f"Prompts in the pool: {status.pool_size}.")


@app_commands.guild_only()
@app_commands.default_permissions(manage_channels=True)
class StreamCog(commands.GroupCog, group_name="stream",
                group_description="Keep a themed channel flowing from its prompt pool"):
    """Moderators' curated streams."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        """Every /stream command needs Manage Channels, whatever the server's overrides say."""
        require_manage_channels(interaction)
        return True

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A deleted channel stops its stream, with a message elsewhere in the server."""
        if self.bot.app is None:
            return
        stopped = await self.bot.app.streams.channel_gone(channel.id, "its channel was deleted")
        if stopped is not None:
            from cogs.stream._host import DiscordStreamHost

            await DiscordStreamHost(self.bot).announce(
                stopped, f"⏹️ The stream of #{escape(channel.name)} stopped itself: its "
                         "channel was deleted.")

    @app_commands.command(name="start")
    @app_commands.describe(every="At most one image per this long, e.g. 90s, 5m, 1h "
                                 "(default from the config)")
    async def start(self, interaction: discord.Interaction,
                    every: app_commands.Range[str, 1, 20] | None = None) -> None:
        """Make this themed channel generate on its own when nobody is waiting."""
        guild_id, channel_id = guild_and_channel(interaction)
        streams = self.bot.services.streams
        seconds = streams.interval(every)
        if isinstance(interaction.channel, discord.Thread):
            raise UserError("streams run in channels, not threads")
        await interaction.response.defer(ephemeral=True, thinking=True)
        await streams.start(guild_id, channel_id, seconds, user_id=interaction.user.id)
        await interaction.followup.send(
            f"🌊 Stream started: at most one image every {describe_duration(seconds)}, "
            "only while nobody's request is waiting.", ephemeral=True)

    @app_commands.command(name="stop")
    async def stop(self, interaction: discord.Interaction) -> None:
        """Stop this channel's stream (an image being made now is still posted)."""
        _, channel_id = guild_and_channel(interaction)
        streams = self.bot.services.streams
        if not streams.is_running(channel_id):
            raise UserError("no stream is running in this channel")
        await interaction.response.defer(ephemeral=True, thinking=True)
        await streams.stop(channel_id, f"stopped by {interaction.user.display_name}")
        await interaction.followup.send("⏹️ Stream stopped.", ephemeral=True)

    @app_commands.command(name="status")
    async def status(self, interaction: discord.Interaction) -> None:
        """Whether this channel streams, images today and when the next one comes."""
        _, channel_id = guild_and_channel(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        status = await self.bot.services.streams.status(channel_id)
        await interaction.followup.send(status_text(status), ephemeral=True)

    @app_commands.command(name="add")
    @app_commands.describe(prompt="A prompt for the pool; {a|b|c} picks one, __name__ picks "
                                  "from a wildcard list")
    async def add(self, interaction: discord.Interaction,
                  prompt: app_commands.Range[str, 1, 500]) -> None:
        """Add a prompt to this channel's stream pool."""
        guild_id, channel_id = guild_and_channel(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await self.bot.services.streams.add_prompt(guild_id, channel_id, prompt,
                                                          user_id=interaction.user.id)
        await interaction.followup.send(fit(["➕ Added to the pool: ", UserText(text)]),
                                        ephemeral=True)

    @app_commands.command(name="remove")
    @app_commands.describe(entry="The pool entry's number (see /stream pool)")
    async def remove(self, interaction: discord.Interaction,
                     entry: app_commands.Range[int, 1]) -> None:
        """Remove a prompt from this channel's stream pool."""
        _, channel_id = guild_and_channel(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.bot.services.streams.remove_prompt(channel_id, entry)
        await interaction.followup.send(
            fit([f"➖ Removed #{removed.id}: ", UserText(removed.prompt)]), ephemeral=True)

    @remove.autocomplete("entry")
    async def remove_entries(self, interaction: discord.Interaction,
                             current: str) -> list[app_commands.Choice[int]]:
        """Pool entries whose text matches what was typed (at most 25)."""
        pool = await self.bot.services.streams.pool(interaction.channel_id or 0)
        wanted = current.strip().lower()
        return [app_commands.Choice(name=clip(f"#{e.id} {e.prompt}", 100), value=e.id)
                for e in pool if wanted in f"#{e.id} {e.prompt}".lower()][:25]

    @app_commands.command(name="pool")
    @app_commands.describe(page="Page of the list (15 prompts a page)")
    async def pool(self, interaction: discord.Interaction,
                   page: app_commands.Range[int, 1] = 1) -> None:
        """List this channel's stream pool."""
        _, channel_id = guild_and_channel(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        entries = await self.bot.services.streams.pool(channel_id)
        pages = max(1, -(-len(entries) // POOL_PAGE))
        page = min(page, pages)
        shown = entries[(page - 1) * POOL_PAGE: page * POOL_PAGE]
        lines = [f"📜 Stream pool, page {page}/{pages} ({len(entries)} prompts):"]
        lines += [f"`#{e.id}` {clip_escaped(e.prompt, 110)}" for e in shown] or ["(empty)"]
        await interaction.followup.send(join_lines(lines), ephemeral=True)

    @app_commands.command(name="setup")
    @app_commands.describe(presets="Preset names separated by commas, or 'all'",
                           category="Name of the new category",
                           every="At most one image per this long in each channel (e.g. 5m)")
    async def setup(self, interaction: discord.Interaction,
                    presets: app_commands.Range[str, 1, 1000],
                    category: app_commands.Range[str, 1, 100] = "neurostream",
                    every: app_commands.Range[str, 1, 20] | None = None) -> None:
        """Create a category with one themed, streaming channel per preset."""
        guild = interaction.guild
        if guild is None:
            raise UserError("use /stream setup in a server")
        services = self.bot.services
        chosen = self._chosen(presets)
        seconds = services.streams.interval(every)
        if not interaction.app_permissions.manage_channels:
            raise UserError("the bot needs the Manage Channels permission to create channels")
        await interaction.response.defer(ephemeral=True, thinking=True)
        made = []
        parent = await guild.create_category(category, reason="/stream setup")
        for preset in chosen:
            channel = await guild.create_text_channel(
                preset.name, category=parent, topic=clip(preset.title + (
                    f" — {preset.description}" if preset.description else ""), 1024),
                reason="/stream setup")
            await services.themes.apply_preset(guild.id, channel.id, preset.name,
                                               user_id=interaction.user.id,
                                               user_name=interaction.user.display_name)
            if preset.pool:
                await services.streams.start(guild.id, channel.id, seconds,
                                             user_id=interaction.user.id)
            made.append(f"<#{channel.id}>")
        await interaction.followup.send(
            fit(["✨ Created **", UserText(parent.name, 100), f"** with {len(made)} themed, "
                 f"streaming channels: {', '.join(made)}"]), ephemeral=True)

    def _chosen(self, text: str) -> list[Preset]:
        catalog = self.bot.services.themes.catalog
        if text.strip().lower() == "all":
            chosen = [catalog.presets[name] for name in sorted(catalog.presets)]
        else:
            names = [name.strip() for name in text.split(",") if name.strip()]
            chosen = [catalog.get(name) for name in dict.fromkeys(names)]
        limit = self.bot.settings.themes.setup_max_channels
        if not chosen:
            raise UserError("name at least one preset (see /theme preset)")
        if len(chosen) > limit:
            raise UserError(f"/stream setup creates at most {limit} channels, got {len(chosen)}")
        return chosen

    @setup.autocomplete("presets")
    async def setup_presets(self, interaction: discord.Interaction,
                            current: str) -> list[app_commands.Choice[str]]:
        """Complete the last name of a comma-separated list."""
        *done, last = current.split(",")
        head = ",".join(part.strip() for part in done)
        choices = [app_commands.Choice(name="all", value="all")] if not done else []
        for preset in self.bot.services.themes.catalog.search(last, limit=24):
            value = f"{head},{preset.name}" if head else preset.name
            choices.append(app_commands.Choice(name=clip(value, 100), value=clip(value, 100)))
        return choices[:25]
