"""The one error handler: a UserError is shown to its user; anything else gets a reference id."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import discord
from discord import app_commands

from bot.domain.errors import UserError

log = logging.getLogger(__name__)


def _options(interaction: discord.Interaction) -> dict[str, Any]:
    data: Any = interaction.data or {}
    flat: dict[str, Any] = {}

    def walk(options: list[dict[str, Any]]) -> None:
        for option in options:
            if "value" in option:
                flat[option["name"]] = option["value"]
            walk(option.get("options", []))

    walk(data.get("options", []))
    return flat


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer ephemerally whether or not the interaction was already acknowledged."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Tell the user about ``error``: its message for a UserError, an apology with an id else."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        error = error.__cause__ or error
    if isinstance(error, UserError):
        text = f"⚠️ {error}"
    elif isinstance(error, app_commands.MissingPermissions):
        text = f"⚠️ You need the {', '.join(error.missing_permissions)} permission for this."
    elif isinstance(error, app_commands.CheckFailure):
        text = "⚠️ You can't use this here."
    else:
        reference = secrets.token_hex(4)
        command = interaction.command.qualified_name if interaction.command else "component"
        # Never log the interaction token: it lets anyone post as the bot for 15 minutes.
        log.error("unexpected error ref=%s command=%s options=%s user=%s guild=%s channel=%s",
                  reference, command, _options(interaction), interaction.user.id,
                  interaction.guild_id, interaction.channel_id, exc_info=error)
        text = f"😵 Something went wrong on our side (reference `{reference}`). Sorry!"
    try:
        await reply_ephemeral(interaction, text)
    except discord.HTTPException:
        log.warning("could not tell the user about an error", exc_info=True)


async def on_app_command_error(interaction: discord.Interaction,
                               error: app_commands.AppCommandError) -> None:
    """The command tree's error handler."""
    await report_error(interaction, error)
