"""Buttons under a result. State lives in the jobs table; the custom_id holds only the job id."""

from __future__ import annotations

import dataclasses
import functools
import io
import re
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import discord

from bot.client.errors import report_error
from bot.client.requester import can_manage_messages
from bot.domain.errors import UserError
from bot.domain.jobs import Job
from bot.domain.lineage import Link, LinkKind
from bot.render.texts import DISCORD_MESSAGE_LIMIT, clip, code_block, recipe_command

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


def _reports_errors(callback: Callable[[Any, discord.Interaction], Coroutine[Any, Any, None]]
                    ) -> Callable[[Any, discord.Interaction], Coroutine[Any, Any, None]]:
    """Route a button's errors through the one error handler (views have their own path)."""
    @functools.wraps(callback)
    async def wrapper(self: Any, interaction: discord.Interaction) -> None:
        try:
            await callback(self, interaction)
        except Exception as error:
            await report_error(interaction, error)
    return wrapper


async def _job(interaction: discord.Interaction, job_id: int) -> tuple[NeurostreamBot, Job]:
    bot: NeurostreamBot = interaction.client  # type: ignore[assignment]
    return bot, await bot.services.generation.job(job_id)


class RerollButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=r"ns:reroll:(?P<job>\d+)"):
    """🔁 The same recipe with a new seed, recorded as a child job."""

    def __init__(self, job_id: int) -> None:
        super().__init__(discord.ui.Button(label="Reroll", emoji="🔁",
                                           style=discord.ButtonStyle.primary,
                                           custom_id=f"ns:reroll:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str]) -> RerollButton:
        """Rebuild the button from its custom_id (also after a restart)."""
        return cls(int(match["job"]))

    @_reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        """Queue the parent's recipe with a fresh seed."""
        from cogs.dream._cog import job_request, start_job

        bot, parent = await _job(interaction, self.job_id)
        # The parent's recipe as it ran (themed already), with a new seed, as a child job.
        recipe = dataclasses.replace(parent.recipe, seed=None)
        await start_job(bot, interaction, job_request(
            interaction, recipe, links=(Link(parent.id, LinkKind.REROLL),)))


class DeleteButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=r"ns:delete:(?P<job>\d+)"):
    """🗑 Delete the result: its requester or a member with Manage Messages."""

    def __init__(self, job_id: int) -> None:
        super().__init__(discord.ui.Button(label="Delete", emoji="🗑",
                                           style=discord.ButtonStyle.secondary,
                                           custom_id=f"ns:delete:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str]) -> DeleteButton:
        """Rebuild the button from its custom_id (also after a restart)."""
        return cls(int(match["job"]))

    @_reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        """Delete the message, or refuse ephemerally."""
        _, job = await _job(interaction, self.job_id)
        if interaction.user.id != job.requester.user_id and not can_manage_messages(interaction):
            raise UserError("only the person who asked for this image or a member with Manage "
                            "Messages can delete it")
        await interaction.response.defer()
        if interaction.message is not None:
            await interaction.message.delete()


class RecipeButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=r"ns:recipe:(?P<job>\d+)"):
    """📋 The full recipe, ready to paste into /dream (ephemeral)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(discord.ui.Button(label="Recipe", emoji="📋",
                                           style=discord.ButtonStyle.secondary,
                                           custom_id=f"ns:recipe:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str]) -> RecipeButton:
        """Rebuild the button from its custom_id (also after a restart)."""
        return cls(int(match["job"]))

    @_reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        """Show the recipe to the clicker only."""
        _, job = await _job(interaction, self.job_id)
        command = recipe_command(job.recipe)
        # A code block to copy; a backtick in the prompt cannot end it early.
        tail = f"Model: `{clip(job.recipe.model, 200)}` · Sampler: {job.recipe.sampler}"
        block = code_block(command, len(command) * 2 + 8)
        if len(block) + len(tail) <= DISCORD_MESSAGE_LIMIT:
            await interaction.response.send_message(block + tail, ephemeral=True)
            return
        # Too long for a message (a raised prompt limit): the whole recipe comes as a file.
        tail = f"\n(cut: the whole recipe is in recipe.txt)\n{tail}"
        block = code_block(command, DISCORD_MESSAGE_LIMIT - len(tail))
        await interaction.response.send_message(
            block + tail, ephemeral=True,
            file=discord.File(io.BytesIO(command.encode()), filename="recipe.txt"))


def result_view(job: Job) -> discord.ui.View:
    """The persistent buttons under a result."""
    view = discord.ui.View(timeout=None)
    for button in (RerollButton(job.id), DeleteButton(job.id), RecipeButton(job.id)):
        view.add_item(button)
    return view
