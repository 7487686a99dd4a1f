"""``/dream`` and the buttons under its results and grids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.dream._cog import DreamCog
from cogs.dream._remix import handle_remix
from cogs.dream._views import DYNAMIC_ITEMS, grid_view, result_view

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def setup(bot: NeurostreamBot) -> None:
    """Register the cog and the persistent buttons (they keep working after a restart)."""
    await bot.add_cog(DreamCog(bot))
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    bot.add_listener(handle_remix, "on_interaction")
    if bot.delivery is not None:
        bot.delivery.view_factory = result_view
        bot.delivery.grid_view_factory = grid_view
