"""The job queue: persisted in SQLite, dispatched to a backend (the in-process worker)."""

from bot.queue.backend import Backend, InProcessBackend
from bot.queue.events import EventKind, JobEvent
from bot.queue.queue import JobQueue

__all__ = ["Backend", "EventKind", "InProcessBackend", "JobEvent", "JobQueue"]
