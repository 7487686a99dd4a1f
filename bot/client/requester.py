"""Who asked, from an interaction: ids, the token and its lifetime, the upload limit."""

from __future__ import annotations

import discord

from bot.domain.jobs import Requester

INTERACTION_TOKEN_LIFETIME = 15 * 60


def requester_from(interaction: discord.Interaction) -> Requester:
    """The requester of an interaction (its token lives 15 minutes from creation)."""
    return Requester(
        user_id=interaction.user.id,
        user_name=interaction.user.display_name,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        interaction_token=interaction.token,
        token_expires_at=interaction.created_at.timestamp() + INTERACTION_TOKEN_LIFETIME,
        attachment_limit=interaction.filesize_limit,
        source="discord",
    )


def can_manage_messages(interaction: discord.Interaction) -> bool:
    """Whether the member may manage others' jobs and results in this channel."""
    permissions = interaction.permissions
    return bool(permissions.manage_messages or permissions.administrator)
