"""``/party``, the ⭐/🏅 buttons, ``/starboard``, ``/best``, ``/history`` and ``/wall``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.party._boards import GalleryCog, StarboardCog, WallCog, star_reposter
from cogs.party._cog import PartyCog
from cogs.party._votes import PartyButtons, PickButton, VoteButton, party_note, with_party_buttons

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

__all__ = ["PartyButtons", "PickButton", "VoteButton", "party_note", "with_party_buttons"]


async def setup(bot: NeurostreamBot) -> None:
    """Register the cogs and the persistent ⭐/🏅 buttons (they work after a restart), and put
    the buttons under results where votes count."""
    for cog in (PartyCog(bot), StarboardCog(bot), GalleryCog(bot), WallCog(bot)):
        await bot.add_cog(cog)
    bot.add_dynamic_items(VoteButton, PickButton)
    if bot.app is None:
        return
    party = bot.services.party
    party.reposter = star_reposter(bot)
    if bot.delivery is not None:
        # After cogs.dream set its factory (EXTENSIONS order): its buttons, then ⭐ and 🏅.
        bot.delivery.view_factory = with_party_buttons(bot.delivery.view_factory, party)
        bot.delivery.note_factory = party_note(party)  # the topic on each party result
