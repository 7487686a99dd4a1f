"""``/models``: the models this bot renders with, their defaults, and the installed LoRAs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.models._cog import ModelsCog

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def setup(bot: NeurostreamBot) -> None:
    """Register the cog."""
    await bot.add_cog(ModelsCog(bot))
