"""Read-only views for operators, straight from the database (safe while the bot runs)."""

from __future__ import annotations

from bot.config import Settings
from bot.domain import scheduling
from bot.domain.jobs import JobState, QueueEntry
from bot.storage.database import Database
from bot.storage.jobs import JobRepository


async def recorded_queue(settings: Settings) -> list[QueueEntry]:
    """Every running job, then every waiting one in the order the policy will run them."""
    database = await Database.open(settings.database_path)
    try:
        jobs = JobRepository(database)
        running = await jobs.in_states([JobState.RUNNING])
        waiting = scheduling.ordered(await jobs.in_states([JobState.QUEUED]))
    finally:
        await database.close()
    entries = [QueueEntry(job, 0, 0.0) for job in running]
    entries += [QueueEntry(job, place, None) for place, job in enumerate(waiting, start=1)]
    return entries
