"""After a restart: what was queued or running goes back in line, and a poison job is failed.

Apart from dispatching, so the app can recover at once, while the model still loads: positions
and caps then count the re-queued jobs from the first request on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from bot.domain.jobs import Job, JobState
from bot.storage.jobs import JobRepository

log = logging.getLogger(__name__)


async def recover_unfinished(jobs: JobRepository, sources: Iterable[str], *,
                             max_attempts: int) -> list[Job]:
    """Re-queue the unfinished jobs of ``sources``; returns every job now queued, oldest first.

    A job that was running when the process died has used an attempt; one that has used
    ``max_attempts`` is failed instead (a poison job must not crash the bot forever).
    """
    source_list = list(sources)
    crashed = await jobs.in_states([JobState.RUNNING], sources=source_list)
    for job in crashed:
        if job.attempts >= max_attempts:
            await jobs.transition(
                job.id, JobState.FAILED, finished_at=time.time(),
                error=f"stopped after {job.attempts} attempts: the bot stopped while "
                      "rendering this request each time")
            log.error("job %d failed as a poison job after %d attempts", job.id, job.attempts)
    recovered = await jobs.requeue_unfinished(source_list)
    if recovered:
        log.info("re-queued %d unfinished job(s) after a restart", len(recovered))
    return recovered
