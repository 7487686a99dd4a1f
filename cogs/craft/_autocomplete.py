"""Autocomplete of a ``style:`` option (``/dream``, ``/prompt check``): at most 25 presets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def style_autocomplete(interaction: discord.Interaction,
                             current: str) -> list[app_commands.Choice[str]]:
    """Presets matching what is typed after the last comma, grouped by kind in the label."""
    bot: NeurostreamBot = interaction.client  # type: ignore[assignment]
    return [app_commands.Choice(name=label, value=value)
            for label, value in bot.services.craft.suggest(current)]
