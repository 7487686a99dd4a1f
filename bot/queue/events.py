"""What the queue tells whoever waits on a job: position, progress, the end."""

from __future__ import annotations

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
