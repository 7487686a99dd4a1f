"""Moderators' commands: ``/blocklist``, ``/quota``, ``/mod`` and ``/safety``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.moderation._cog import BlocklistCog, ModCog, QuotaCog, SafetyCog

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def setup(bot: NeurostreamBot) -> None:
    """Register the cogs."""
    for cog in (BlocklistCog(bot), QuotaCog(bot), ModCog(bot), SafetyCog(bot)):
        await bot.add_cog(cog)
