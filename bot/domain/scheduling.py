"""Scheduling policy: which waiting jobs run next. Pure, so positions shown equal what runs."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.jobs import Job


def _order(job: Job) -> tuple[int, int]:
    # Higher priority first (people before streams), then oldest first.
    return (-job.priority, job.id)


def ordered(waiting: Sequence[Job]) -> list[Job]:
    """The waiting jobs in the order they will run."""
    return sorted(waiting, key=_order)


def pick_batch(waiting: Sequence[Job], max_batch: int) -> list[Job]:
    """The next job and up to ``max_batch - 1`` later ones that can share its pipeline call.

    A lone job never waits for company: the batch is formed only from jobs already waiting.
    """
    queue = ordered(waiting)
    if not queue:
        return []
    first = queue[0]
    key = first.recipe.batch_key()
    batch = [first]
    for job in queue[1:]:
        if len(batch) >= max_batch:
            break
        if job.recipe.batch_key() == key:
            batch.append(job)
    return batch


def position(waiting: Sequence[Job], job_id: int) -> int | None:
    """1-based place of ``job_id`` among the waiting jobs, or None if it is not waiting."""
    for index, job in enumerate(ordered(waiting), start=1):
        if job.id == job_id:
            return index
    return None


def estimate_wait(ahead: Sequence[Job], running_steps_left: int, running_pixels: int,
                  seconds_per_step_pixel: float) -> float:
    """Seconds until a job starts: what is left of the running job plus every job ahead.

    Step time is modelled as proportional to the image's pixel count, measured on this machine.
    """
    left = running_steps_left * running_pixels
    for job in ahead:
        left += job.recipe.steps * job.recipe.width * job.recipe.height
    return left * seconds_per_step_pixel
