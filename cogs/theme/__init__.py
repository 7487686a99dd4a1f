"""``/theme``: moderators give a channel a theme that every prompt there carries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.theme._cog import ThemeCog

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def setup(bot: NeurostreamBot) -> None:
    """Register the cog."""
    await bot.add_cog(ThemeCog(bot))
