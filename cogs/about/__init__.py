"""``/about``: the bot, the model and its licence, this server's rules, the source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.about._cog import AboutCog

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def setup(bot: NeurostreamBot) -> None:
    """Register the cog."""
    await bot.add_cog(AboutCog(bot))
