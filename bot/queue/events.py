"""What the queue tells whoever waits on a job: position, progress, the end; and the bus that
carries it to each job's subscribers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.domain.jobs import Job

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True, slots=True)
class ResultOutput:
    """A finished image as it was written: the encoded bytes (PNG with its A1111 metadata) and
    the file name. Travels with the DONE event so the delivery re-reads and re-parses nothing."""

    data: bytes
    filename: str


class EventKind(StrEnum):
    """The kinds of job events."""

    QUEUED = "queued"
    STARTED = "started"
    PROGRESS = "progress"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """True for the events after which nothing more comes."""
        return self in (EventKind.DONE, EventKind.FAILED, EventKind.CANCELLED)


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One thing that happened to a job."""

    kind: EventKind
    job: Job
    position: int | None = None
    eta: float | None = None
    step: int = 0
    total: int = 0
    preview: Image.Image | None = None
    output: ResultOutput | None = None  # on DONE, while the process that made it runs


class EventBus:
    """Per-job subscriptions: each subscriber gets its own unbounded queue of that job's events.

    Publishing never blocks nor awaits, so the dispatcher can publish between two state changes
    without giving the loop a chance to interleave another slot's.
    """

    def __init__(self) -> None:
        self._subscribers: dict[int, list[asyncio.Queue[JobEvent]]] = {}

    def subscribe(self, job_id: int) -> asyncio.Queue[JobEvent]:
        """A queue of this job's events from now on."""
        events: asyncio.Queue[JobEvent] = asyncio.Queue()
        self._subscribers.setdefault(job_id, []).append(events)
        return events

    def unsubscribe(self, job_id: int, events: asyncio.Queue[JobEvent]) -> None:
        """Stop receiving a job's events."""
        listeners = self._subscribers.get(job_id, [])
        if events in listeners:
            listeners.remove(events)
        if not listeners:
            self._subscribers.pop(job_id, None)

    def watched(self, job_id: int) -> bool:
        """Whether anyone subscribes to this job (so building its event is worth it)."""
        return job_id in self._subscribers

    def publish(self, event: JobEvent) -> None:
        """Hand ``event`` to every subscriber of its job."""
        for events in self._subscribers.get(event.job.id, []):
            events.put_nowait(event)
