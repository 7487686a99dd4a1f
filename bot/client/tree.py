"""The command tree: what every slash command and autocomplete passes before its cog sees it.

Discord's JSON may carry a lone UTF-16 surrogate (``"\\ud800"``): Python decodes it into a
string that cannot be encoded as UTF-8, so it would break the first database write, log line or
reply that holds it. Such characters are never text a person meant; they are removed from every
string option here, once, before discord.py hands the options to a command.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

_STRING_OPTION = 3  # Discord's ApplicationCommandOptionType.string


def _is_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udfff"


def without_surrogates(text: str) -> str:
    """``text`` with lone surrogates removed (unchanged, the same object, when it has none)."""
    if not any(_is_surrogate(char) for char in text):
        return text
    return "".join(char for char in text if not _is_surrogate(char))


def clean_options(options: list[dict[str, Any]]) -> None:
    """Remove lone surrogates from every string option, sub-commands' options included."""
    for option in options:
        if option.get("type") == _STRING_OPTION and isinstance(option.get("value"), str):
            option["value"] = without_surrogates(option["value"])
        clean_options(option.get("options") or [])


class CleanInputTree(app_commands.CommandTree[Any]):
    """A command tree that cleans string options before any command or autocomplete runs."""

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Clean the options in place; every interaction goes on."""
        data: Any = interaction.data or {}
        clean_options(data.get("options") or [])
        return True
