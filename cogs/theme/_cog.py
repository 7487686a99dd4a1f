"""``/theme set|show|clear|list|history|preset`` (Manage Channels, checked again at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.errors import UserError
from bot.render.texts import clip, escape
from cogs.dream._cog import SCHEDULER_CHOICES
from cogs.models._autocomplete import model_autocomplete
from cogs.theme._render import history_text, list_text, show_text, theme_text

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


def require_manage_channels(interaction: discord.Interaction) -> None:
    """Refuse (MissingPermissions → an ephemeral reply) a member without Manage Channels.

    ``default_member_permissions`` only hides the command; server admins can open it to anyone.
    """
    permissions = interaction.permissions
    if not (permissions.manage_channels or permissions.administrator):
        raise app_commands.MissingPermissions(["manage_channels"])


def guild_and_channel(interaction: discord.Interaction) -> tuple[int, int]:
    """The server and channel ids of a command used in a server."""
    if interaction.guild_id is None or interaction.channel_id is None:
        raise UserError("themes belong to server channels; use this in a server")
    return interaction.guild_id, interaction.channel_id


@app_commands.guild_only()
@app_commands.default_permissions(manage_channels=True)
class ThemeCog(commands.GroupCog, group_name="theme",
               group_description="A channel's theme: every prompt there carries it"):
    """Moderators' channel themes."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        """Every /theme command needs Manage Channels, whatever the server's overrides say."""
        require_manage_channels(interaction)
        return True

    @app_commands.command(name="set")
    @app_commands.describe(
        prefix="Words put before every prompt here (e.g. 'a photo of a cat,')",
        suffix="Words put after every prompt",
        negative="Added to every negative prompt",
        width="Lock the width (users' values are overridden, with a note)",
        height="Lock the height",
        steps="Lock the steps",
        guidance="Lock the guidance (CFG scale)",
        scheduler="Lock the sampler",
        model="The model this channel renders with (/models lists them); /dream model: wins",
    )
    @app_commands.choices(scheduler=SCHEDULER_CHOICES)
    @app_commands.autocomplete(model=model_autocomplete)
    async def set_(self, interaction: discord.Interaction,
                   prefix: app_commands.Range[str, 1, 500],
                   suffix: app_commands.Range[str, 0, 500] | None = None,
                   negative: app_commands.Range[str, 0, 500] | None = None,
                   width: app_commands.Range[int, 64, 4096] | None = None,
                   height: app_commands.Range[int, 64, 4096] | None = None,
                   steps: app_commands.Range[int, 1, 500] | None = None,
                   guidance: app_commands.Range[float, 0.0, 100.0] | None = None,
                   scheduler: str | None = None,
                   model: app_commands.Range[str, 1, 100] | None = None) -> None:
        """Set this channel's theme (threads inherit it)."""
        guild_id, channel_id = guild_and_channel(interaction)
        themes = self.bot.services.themes
        theme = themes.build(prefix, suffix=suffix, negative=negative, width=width,
                             height=height, steps=steps, guidance=guidance, scheduler=scheduler,
                             model=model)
        await interaction.response.defer(thinking=True)  # before any I/O
        await themes.set(guild_id, channel_id, theme, user_id=interaction.user.id,
                         user_name=interaction.user.display_name)
        # Public: the theme's words are escaped in it, and it pings no one (client default).
        await interaction.followup.send(theme_text("🎨 This channel's theme is now:", theme))

    @app_commands.command(name="show")
    async def show(self, interaction: discord.Interaction) -> None:
        """Show this channel's theme, who set it and when."""
        themes = self.bot.services.themes
        row = themes.theme_in(interaction.channel)
        inherited = row is not None and row.channel_id != interaction.channel_id
        running = self.bot.services.streams.is_running(interaction.channel_id or 0)
        await interaction.response.send_message(
            show_text(row, inherited=inherited, stream_running=running), ephemeral=True)

    @app_commands.command(name="clear")
    async def clear(self, interaction: discord.Interaction) -> None:
        """Remove this channel's theme (and stop its stream)."""
        guild_id, channel_id = guild_and_channel(interaction)
        services = self.bot.services
        if services.themes.theme_for(channel_id) is None:
            raise UserError("this channel has no theme of its own to clear")
        await interaction.response.defer(thinking=True)
        await services.themes.clear(guild_id, channel_id, user_id=interaction.user.id,
                                    user_name=interaction.user.display_name)
        text = "🧹 This channel's theme was cleared."
        if services.streams.is_running(channel_id):
            await services.streams.stop(channel_id, "the theme was cleared")
            text += " Its stream stopped."
        await interaction.followup.send(text)

    @app_commands.command(name="list")
    async def list_(self, interaction: discord.Interaction) -> None:
        """List every themed channel of this server."""
        guild_id, _ = guild_and_channel(interaction)
        rows = self.bot.services.themes.guild_themes(guild_id)
        await interaction.response.send_message(list_text(rows), ephemeral=True)

    @app_commands.command(name="history")
    async def history(self, interaction: discord.Interaction) -> None:
        """The last changes of this channel's theme: who, when, old and new."""
        _, channel_id = guild_and_channel(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        changes = await self.bot.services.themes.history(channel_id)
        await interaction.followup.send(history_text(changes), ephemeral=True)

    @app_commands.command(name="preset")
    @app_commands.describe(name="A preset shipped as a file (its prompt pool replaces this "
                                "channel's stream pool)")
    async def preset(self, interaction: discord.Interaction,
                     name: app_commands.Range[str, 1, 100]) -> None:
        """Apply a preset theme to this channel."""
        guild_id, channel_id = guild_and_channel(interaction)
        themes = self.bot.services.themes
        themes.catalog.get(name)  # refuse an unknown name before acknowledging
        await interaction.response.defer(thinking=True)
        _, preset = await themes.apply_preset(guild_id, channel_id, name,
                                              user_id=interaction.user.id,
                                              user_name=interaction.user.display_name)
        await interaction.followup.send(theme_text(
            f"🎨 This channel's theme is now the preset **{escape(preset.title)}**:",
            preset.theme,
            f"Stream pool: {len(preset.pool)} prompts (/stream start keeps the channel "
            "flowing)."))

    @preset.autocomplete("name")
    async def preset_names(self, interaction: discord.Interaction,
                           current: str) -> list[app_commands.Choice[str]]:
        """Presets matching what was typed (at most 25)."""
        return [app_commands.Choice(name=clip(f"{p.name} — {p.title}", 100), value=p.name)
                for p in self.bot.services.themes.catalog.search(current)]
