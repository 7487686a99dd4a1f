"""``/dream`` and the buttons under its results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.dream._cog import DreamCog
from cogs.dream._views import DeleteButton, RecipeButton, RerollButton, result_view

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def setup(bot: NeurostreamBot) -> None:
    """Register the cog and the persistent buttons (they keep working after a restart)."""
    await bot.add_cog(DreamCog(bot))
    bot.add_dynamic_items(RerollButton, DeleteButton, RecipeButton)
    if bot.delivery is not None:
        bot.delivery.view_factory = result_view
