"""``/queue`` and ``/cancel``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.queue._cog import QueueCog

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def setup(bot: NeurostreamBot) -> None:
    """Register the cog."""
    await bot.add_cog(QueueCog(bot))
