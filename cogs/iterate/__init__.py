"""``/sketch`` and ``/inpaint`` (from an uploaded image), ``/vary`` and ``/morph``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.iterate._cog import IterateCog

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def setup(bot: NeurostreamBot) -> None:
    """Register the cog."""
    await bot.add_cog(IterateCog(bot))
