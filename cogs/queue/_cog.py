"""``/queue`` shows where your jobs stand; ``/cancel`` stops one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.client.requester import can_manage_messages
from bot.domain.errors import UserError
from bot.render.queue_view import member_view, moderator_view

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


class QueueCog(commands.Cog):
    """Where your images stand."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="queue")
    @app_commands.rename(show_all="all")
    @app_commands.describe(show_all="Moderators: every waiting job, with user, channel and "
                                    "attempts")
    async def queue(self, interaction: discord.Interaction, show_all: bool = False) -> None:
        """Show your jobs in the queue, their places and the expected wait."""
        generation = self.bot.services.generation
        if show_all:
            if not can_manage_messages(interaction):
                raise UserError("the whole queue is for members with Manage Messages; "
                                "/queue shows your own jobs")
            text = moderator_view(generation.status().entries)
        else:
            status = generation.status(interaction.user.id)
            text = member_view(status.entries, status.total)
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="cancel")
    @app_commands.describe(job="Job number (from /queue); empty: your newest job")
    async def cancel(self, interaction: discord.Interaction,
                     job: app_commands.Range[int, 1] | None = None) -> None:
        """Cancel your waiting or running job (moderators: anyone's)."""
        cancelled = await self.bot.services.generation.cancel(
            job, user_id=interaction.user.id, moderator=can_manage_messages(interaction))
        await interaction.response.send_message(f"Cancelled job `#{cancelled.id}`.",
                                                ephemeral=True)
