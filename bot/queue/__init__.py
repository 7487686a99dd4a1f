"""The job queue: persisted in SQLite, dispatched to a backend (the in-process worker)."""

from bot.queue.backend import Backend, InProcessBackend
from bot.queue.events import EventBus, EventKind, JobEvent, ResultOutput
from bot.queue.queue import JobQueue

__all__ = ["Backend", "EventBus", "EventKind", "InProcessBackend", "JobEvent", "JobQueue",
           "ResultOutput"]
