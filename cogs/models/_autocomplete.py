"""Autocomplete of model names (``/dream model:``) and of ``/dream``'s prompt: ``<lora:`` tags, and
during a party the association board's words."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.domain.loras import complete_lora

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

CHOICE_LIMIT = 25  # Discord shows at most 25 suggestions
CHOICE_TEXT_LIMIT = 100  # and each name and value has at most 100 characters


async def model_autocomplete(interaction: discord.Interaction,
                             current: str) -> list[app_commands.Choice[str]]:
    """The configured models whose name holds what is typed, the default first."""
    bot: NeurostreamBot = interaction.client  # type: ignore[assignment]
    typed = current.strip().casefold()
    names = [name for name in bot.services.generation.model_names()
             if typed in name.casefold()]
    return [app_commands.Choice(name=name[:CHOICE_TEXT_LIMIT], value=name[:CHOICE_TEXT_LIMIT])
            for name in names[:CHOICE_LIMIT]]


async def prompt_autocomplete(interaction: discord.Interaction,
                              current: str) -> list[app_commands.Choice[str]]:
    """While a ``<lora:`` tag is being typed at the end of the prompt, the whole prompt with
    each matching LoRA's tag completed (only those that fit a choice's 100 characters)."""
    bot: NeurostreamBot = interaction.client  # type: ignore[assignment]
    completions = complete_lora(current, bot.services.generation.lora_names(), limit=100)
    if not completions:
        # During a party: the association board's words (only where no tag is being typed).
        completions = bot.services.party.suggestions(interaction.channel_id, current)
    fitting = [text for text in completions if len(text) <= CHOICE_TEXT_LIMIT]
    return [app_commands.Choice(name=text, value=text) for text in fitting[:CHOICE_LIMIT]]
