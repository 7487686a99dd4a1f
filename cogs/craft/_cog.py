"""``/styles``, ``/xy``, ``/prompt tips`` and ``/prompt check``: parse, one service call, render."""

from __future__ import annotations

import io
import logging
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.client.errors import report_error
from bot.client.requester import requester_from
from bot.domain.errors import UserError
from bot.domain.xy import AXIS_HELP, Axis
from bot.services.craft import Grid, GridImage
from cogs.craft._autocomplete import style_autocomplete
from cogs.craft._render import check_text, grid_text
from cogs.craft._views import grid_view

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

log = logging.getLogger(__name__)

AXIS_CHOICES = [app_commands.Choice(name=f"{axis} — {AXIS_HELP[axis]}"[:100], value=str(axis))
                for axis in Axis]
TOKEN_MARGIN = 60.0  # stop editing through the interaction this long before its token expires
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024


class GridMessage:
    """Keeps one grid's message current: edits the interaction's response while its token
    lives, then posts to the channel (the token lasts 15 minutes; a big grid may take longer)."""

    def __init__(self, bot: NeurostreamBot, interaction: discord.Interaction, grid: Grid) -> None:
        self.bot = bot
        self.interaction = interaction
        self.grid = grid
        self.expires = grid.jobs[0].requester.token_expires_at or time.time() + 15 * 60

    def _file(self, image: GridImage) -> discord.File:
        return discord.File(io.BytesIO(image.data), filename=image.filename)

    async def update(self, image: GridImage) -> None:
        """Show the mosaic so far (skipped once the token is near its end)."""
        if time.time() >= self.expires - TOKEN_MARGIN:
            return
        try:
            await self.interaction.edit_original_response(
                content=grid_text(self.grid, image), attachments=[self._file(image)],
                allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            log.warning("could not update grid %s: %s", self.grid.group_id, error)

    async def finish(self, image: GridImage) -> int | None:
        """Show the finished grid with its cell buttons; the message's id."""
        view = grid_view(self.grid)
        content = grid_text(self.grid, image)
        if time.time() < self.expires - TOKEN_MARGIN:
            try:
                message = await self.interaction.edit_original_response(
                    content=content, attachments=[self._file(image)], view=view,
                    allowed_mentions=discord.AllowedMentions.none())
                return message.id
            except discord.HTTPException as error:
                if error.status not in (401, 404):
                    raise
        # The interaction is gone: a plain channel message that pings the requester only.
        requester = self.grid.jobs[0].requester
        if requester.channel_id is None:
            return None
        channel = self.bot.get_partial_messageable(requester.channel_id,
                                                   guild_id=requester.guild_id)
        mention = f"<@{requester.user_id}> your grid is ready\n" if requester.user_id else ""
        users = [discord.Object(requester.user_id)] if requester.user_id else []
        sent = await channel.send(content=mention + content, file=self._file(image), view=view,
                                  allowed_mentions=discord.AllowedMentions(
                                      everyone=False, roles=False, users=users))
        return sent.id


async def show_grid(bot: NeurostreamBot, interaction: discord.Interaction, grid: Grid) -> None:
    """Show a submitted grid as a progress mosaic until every cell is done, then its buttons."""
    craft = bot.services.craft
    limit = interaction.filesize_limit or DEFAULT_UPLOAD_LIMIT
    message = GridMessage(bot, interaction, grid)
    await message.update(await craft.render(grid, limit=limit, preview=True))
    final = await craft.follow(grid, message.update, limit=limit)
    message_id = await message.finish(final)
    if message_id is not None:
        await craft.record_message(grid, message_id)


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
        await show_grid(self.bot, interaction, grid)

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
        await show_grid(self.bot, interaction, grid)

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


