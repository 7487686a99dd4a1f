"""``/styles`` and ``/xy`` (grids that teach), ``/prompt tips`` and ``/prompt check``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.craft._cog import CraftCog
from cogs.craft._views import CellButton, CellSelect, grid_view

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def setup(bot: NeurostreamBot) -> None:
    """Register the cog and the persistent cell buttons (they keep working after a restart)."""
    await bot.add_cog(CraftCog(bot))
    bot.add_dynamic_items(CellButton, CellSelect)
    if bot.delivery is not None:  # the buttons under each finished grid
        bot.delivery.labelled_view_factory = grid_view
