"""Who asked, from an interaction: ids, the token and its lifetime, the upload limit."""

from __future__ import annotations

import time

import discord

from bot.domain.jobs import Requester

INTERACTION_TOKEN_LIFETIME = 15 * 60


def requester_from(interaction: discord.Interaction, *,
                   received_at: float | None = None) -> Requester:
    """The requester of an interaction, with when its token expires on this host's clock.

    The token lives 15 minutes. Its age is judged by this host's own clock from when the bot
    received the interaction (``received_at``, by default now: this is called right after the
    defer, which Discord accepts only within 3 s, a gap the delivery's margin covers), never by
    comparing Discord's ``created_at`` with this host's clock: a host minutes off would see every
    token as expired, or as valid when it is not. The expiry is recorded with the job, so it
    holds after a restart.
    """
    received = time.time() if received_at is None else received_at
    return Requester(
        user_id=interaction.user.id,
        user_name=interaction.user.display_name,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        interaction_token=interaction.token,
        token_expires_at=received + INTERACTION_TOKEN_LIFETIME,
        attachment_limit=interaction.filesize_limit,
        source="discord",
        role_ids=tuple(role.id for role in getattr(interaction.user, "roles", ())),
    )


def can_manage_messages(interaction: discord.Interaction) -> bool:
    """Whether the member may manage others' jobs and results in this channel."""
    permissions = interaction.permissions
    return bool(permissions.manage_messages or permissions.administrator)
