"""``/styles``, ``/xy``, ``/prompt tips`` and ``/prompt check``: parse, one service call, render."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.client.errors import report_error
from bot.client.requester import requester_from
from bot.domain.errors import UserError
from bot.domain.xy import AXIS_HELP, Axis
from bot.services.craft import Grid
from cogs.craft._autocomplete import style_autocomplete
from cogs.craft._render import check_text

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

AXIS_CHOICES = [app_commands.Choice(name=f"{axis} — {AXIS_HELP[axis]}"[:100], value=str(axis))
                for axis in Axis]


def show_grid(bot: NeurostreamBot, grid: Grid) -> None:
    """Hand a submitted grid to the delivery: it keeps the one grid message current (a mosaic
    as cells finish, then the labelled grid with a button per cell), after a restart too."""
    if bot.delivery is not None:
        bot.delivery.follow_grid([job.id for job in grid.jobs])


class CraftCog(commands.Cog):
    """Grids that teach, and prompt craft."""

    prompt = app_commands.Group(name="prompt", description="Prompt craft: tips and a check")

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot

    def _thread_parent(self, interaction: discord.Interaction) -> int | None:
        return getattr(interaction.channel, "parent_id", None)

    @app_commands.command(name="styles")
    @app_commands.describe(
        subject="What to draw in every style, e.g. 'a spoon' or 'a large city landscape'",
        artists="Rows, comma-separated (default: Munch, Picasso, Dalí, Van Gogh)",
        techniques="Columns, comma-separated (default: oil, watercolor, pastel, pencil)",
        seed="One seed for every cell, so only the style changes (empty: random)",
        steps="Denoising steps of every cell",
        width="Cell width in pixels, a multiple of 8 (smaller is quicker)",
        height="Cell height in pixels, a multiple of 8",
    )
    async def styles(self, interaction: discord.Interaction,
                     subject: app_commands.Range[str, 1, 1000],
                     artists: app_commands.Range[str, 1, 500] | None = None,
                     techniques: app_commands.Range[str, 1, 500] | None = None,
                     seed: app_commands.Range[int, 0, 2**32 - 1] | None = None,
                     steps: app_commands.Range[int, 1, 500] | None = None,
                     width: app_commands.Range[int, 64, 4096] | None = None,
                     height: app_commands.Range[int, 64, 4096] | None = None) -> None:
        """A labelled grid of one subject: rows are artists, columns techniques."""
        try:
            grid = await self.bot.services.craft.styles_grid(
                subject, requester_from(interaction), artists=artists, techniques=techniques,
                seed=seed, steps=steps, width=width, height=height,
                thread_parent_id=self._thread_parent(interaction),
                acknowledge=lambda: interaction.response.defer(thinking=True))
        except UserError as error:
            await report_error(interaction, error)  # nothing acknowledged, nothing queued
            return
        show_grid(self.bot, grid)

    @app_commands.command(name="xy")
    @app_commands.describe(
        prompt="The prompt of every cell",
        x="What changes along a row",
        x_values="Comma-separated values of x (ranges like 10-40 [4] for numbers)",
        y="What changes down a column (optional)",
        y_values="Comma-separated values of y",
        seed="One seed for every cell unless seed is an axis (empty: random)",
    )
    @app_commands.choices(x=AXIS_CHOICES, y=AXIS_CHOICES)
    async def xy(self, interaction: discord.Interaction,
                 prompt: app_commands.Range[str, 1, 1000], x: str,
                 x_values: app_commands.Range[str, 1, 500], y: str | None = None,
                 y_values: app_commands.Range[str, 1, 500] | None = None,
                 seed: app_commands.Range[int, 0, 2**32 - 1] | None = None) -> None:
        """An X/Y plot: the same prompt with one or two settings varied, side by side."""
        try:
            grid = await self.bot.services.craft.xy_grid(
                prompt, requester_from(interaction), x=x, x_values=x_values, y=y,
                y_values=y_values, seed=seed, thread_parent_id=self._thread_parent(interaction),
                acknowledge=lambda: interaction.response.defer(thinking=True))
        except UserError as error:
            await report_error(interaction, error)
            return
        show_grid(self.bot, grid)

    @prompt.command(name="tips")
    async def tips(self, interaction: discord.Interaction) -> None:
        """How to write a prompt, with worked examples (only you see it)."""
        await interaction.response.send_message(self.bot.services.craft.tips(), ephemeral=True)

    @prompt.command(name="check")
    @app_commands.describe(
        prompt="The prompt to check",
        style="Style presets, chained with commas (suggested as you type)",
        width="The width you mean to use",
        height="The height you mean to use",
    )
    @app_commands.autocomplete(style=style_autocomplete)
    async def check(self, interaction: discord.Interaction,
                    prompt: app_commands.Range[str, 1, 6000], style: str | None = None,
                    width: app_commands.Range[int, 64, 4096] | None = None,
                    height: app_commands.Range[int, 64, 4096] | None = None) -> None:
        """The final prompt here (theme and styles applied), its tokens and warnings."""
        try:
            report = self.bot.services.craft.check(
                prompt, requester_from(interaction), style=style, width=width, height=height,
                thread_parent_id=self._thread_parent(interaction))
        except UserError as error:
            await report_error(interaction, error)
            return
        await interaction.response.send_message(check_text(report), ephemeral=True)


