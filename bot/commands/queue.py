"""``neurostream queue``: every waiting or running job in the bot's database, in policy order."""

from __future__ import annotations

from bot.config import Settings
from bot.domain import scheduling
from bot.domain.jobs import JobState
from bot.render.queue_view import QueueEntry, table_view
from bot.storage.database import Database
from bot.storage.jobs import JobRepository


async def show_queue(settings: Settings) -> int:
    """Print the queue as the bot will run it (read-only; safe while the bot runs)."""
    database = await Database.open(settings.database_path)
    try:
        jobs = JobRepository(database)
        running = await jobs.in_states([JobState.RUNNING])
        waiting = scheduling.ordered(await jobs.in_states([JobState.QUEUED]))
    finally:
        await database.close()
    entries = [QueueEntry(job, 0, 0.0) for job in running]
    entries += [QueueEntry(job, place, None) for place, job in enumerate(waiting, start=1)]
    print(table_view(entries))
    return 0
