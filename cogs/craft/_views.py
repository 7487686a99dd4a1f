"""The buttons under a grid: one per cell (a menu past 25 cells) posts that cell at full size.

State lives in the jobs table; a custom_id holds only the cell's job id (or the grid's group id
and a page), so the buttons keep working after a restart.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.client.errors import report_error
from bot.render.embeds import result_embed
from bot.render.texts import clip
from bot.services.craft import Grid

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

BUTTONS_MAX = 25  # 5 rows of 5 buttons
OPTIONS_MAX = 25  # options of one select menu
LABEL_MAX = 80


async def post_cell(interaction: discord.Interaction, job_id: int) -> None:
    """Post one cell as a result of its own (public), with the result buttons under it."""
    bot: NeurostreamBot = interaction.client  # type: ignore[assignment]
    try:
        cell = await bot.services.craft.cell(
            job_id, limit=interaction.filesize_limit or 10 * 1024 * 1024)
    except Exception as error:
        await report_error(interaction, error)
        return
    factory = bot.delivery.view_factory if bot.delivery is not None else None
    view = factory(cell.job) if factory is not None else None
    kwargs: dict[str, Any] = {"view": view} if view is not None else {}
    await interaction.response.send_message(
        file=discord.File(io.BytesIO(cell.data), filename=cell.filename),
        embed=result_embed(cell.job, seconds=None, note=cell.note),
        allowed_mentions=discord.AllowedMentions.none(), **kwargs)


class CellButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                 template=r"ns:cell:(?P<job>\d+)"):
    """One cell of a grid: posts it at full size."""

    def __init__(self, job_id: int, label: str = "cell") -> None:
        super().__init__(discord.ui.Button(label=clip(label, LABEL_MAX),
                                           style=discord.ButtonStyle.secondary,
                                           custom_id=f"ns:cell:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str]) -> CellButton:
        """Rebuild the button from its custom_id (also after a restart)."""
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Post the cell."""
        await post_cell(interaction, self.job_id)


class CellSelect(discord.ui.DynamicItem[discord.ui.Select[Any]],
                 template=r"ns:cells:(?P<group>\d+):(?P<page>\d+)"):
    """A menu of cells, for grids with more cells than buttons fit under a message."""

    def __init__(self, group_id: int, page: int,
                 options: list[discord.SelectOption] | None = None) -> None:
        super().__init__(discord.ui.Select(
            custom_id=f"ns:cells:{group_id}:{page}",
            placeholder=f"Post a cell at full size ({page * OPTIONS_MAX + 1}…)",
            options=options or [discord.SelectOption(label="cell", value="0")]))
        self.group_id = group_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str]) -> CellSelect:
        """Rebuild the menu from its custom_id (its options come with the interaction)."""
        return cls(int(match["group"]), int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Post the chosen cell."""
        data: Any = interaction.data or {}
        values = data.get("values") or []
        if values and str(values[0]).isdigit():
            await post_cell(interaction, int(values[0]))


def _label(grid: Grid, index: int) -> str:
    return clip(grid.cell_label(index), LABEL_MAX)


def grid_view(grid: Grid) -> discord.ui.View:
    """A button per cell (in the grid's order), or menus of cells past 25."""
    view = discord.ui.View(timeout=None)
    if len(grid.jobs) <= BUTTONS_MAX:
        # Laid out like the grid when it fits Discord's 5 × 5 buttons, else 5 to a row.
        per_row = grid.columns if grid.columns <= 5 and grid.rows <= 5 else 5
        for index, job in enumerate(grid.jobs):
            button = CellButton(job.id, _label(grid, index))
            button.item.row = index // per_row
            view.add_item(button)
        return view
    for page, start in enumerate(range(0, len(grid.jobs), OPTIONS_MAX)):
        options = [discord.SelectOption(label=_label(grid, index), value=str(job.id))
                   for index, job in enumerate(grid.jobs[start:start + OPTIONS_MAX], start)]
        view.add_item(CellSelect(grid.group_id or grid.jobs[0].id, page, options))
    return view
