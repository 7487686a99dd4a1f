"""``neurostream queue``: every waiting or running job in the bot's database, in policy order."""

from __future__ import annotations

from bot.config import Settings
from bot.render.queue_view import table_view
from bot.services.admin import recorded_queue


async def show_queue(settings: Settings) -> int:
    """Print the queue as the bot will run it (read-only; safe while the bot runs)."""
    print(table_view(await recorded_queue(settings)))
    return 0
