"""``/queue`` shows where your jobs stand; ``/cancel`` stops one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.client.requester import can_manage_messages
from bot.render.texts import clip, position_text

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot
    from bot.services.generation import QueueStatus


def render_status(status: QueueStatus) -> str:
    """The /queue answer."""
    if not status.entries:
        return f"You have nothing in the queue. Jobs waiting or running: {status.total}."
    lines = []
    for entry in status.entries:
        prompt = clip(entry.job.recipe.prompt, 60)
        where = ("generating now" if entry.position == 0
                 else position_text(entry.position, entry.eta))
        lines.append(f"`#{entry.job.id}` {prompt} — {where}")
    lines.append(f"Jobs waiting or running in total: {status.total}.")
    return clip("\n".join(lines))


class QueueCog(commands.Cog):
    """Where your images stand."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="queue")
    async def queue(self, interaction: discord.Interaction) -> None:
        """Show your jobs in the queue, their places and the expected wait."""
        status = self.bot.services.generation.status(interaction.user.id)
        await interaction.response.send_message(render_status(status), ephemeral=True)

    @app_commands.command(name="cancel")
    @app_commands.describe(job="Job number (from /queue); empty: your newest job")
    async def cancel(self, interaction: discord.Interaction,
                     job: app_commands.Range[int, 1] | None = None) -> None:
        """Cancel your waiting or running job (moderators: anyone's)."""
        cancelled = await self.bot.services.generation.cancel(
            job, user_id=interaction.user.id, moderator=can_manage_messages(interaction))
        await interaction.response.send_message(f"Cancelled job `#{cancelled.id}`.",
                                                ephemeral=True)
