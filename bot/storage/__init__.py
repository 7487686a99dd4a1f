"""Storage: one SQLite file through aiosqlite, versioned migrations, repositories of domain objects."""

from bot.storage.database import Database
from bot.storage.jobs import JobRepository

__all__ = ["Database", "JobRepository"]
