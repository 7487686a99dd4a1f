"""A job: one recorded request, its place in the state machine and where its result went."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.recipe import Recipe


class JobState(StrEnum):
    """``queued → running → done | failed | cancelled``; a restart re-queues queued/running."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for the three end states."""
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


ALLOWED_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED,
                                 JobState.QUEUED}),
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def can_transition(old: JobState, new: JobState) -> bool:
    """Whether the state machine allows ``old → new``."""
    return new in ALLOWED_TRANSITIONS[old]


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked and where the answer goes (Discord ids are None for the CLI)."""

    user_id: int | None = None
    user_name: str = "cli"
    guild_id: int | None = None
    channel_id: int | None = None
    interaction_token: str | None = None
    token_expires_at: float | None = None
    attachment_limit: int | None = None
    source: str = "cli"
    # The member's roles where the request was made (quota exemptions); not stored with jobs.
    role_ids: tuple[int, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Job:
    """One persisted request and its outcome."""

    id: int
    recipe: Recipe
    requester: Requester
    state: JobState
    created_at: float
    parent_id: int | None = None
    priority: int = 0
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    step_seconds: float | None = None
    output_path: str | None = None
    error: str | None = None
    status_message_id: int | None = None
    message_id: int | None = None
    # The safety checker flagged the image: it is kept, but never posted unblurred.
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One job in the queue: 0 = generating now, else its place, and the expected wait."""

    job: Job
    position: int
    eta: float | None
