"""Storage: one SQLite file through aiosqlite, versioned migrations, repositories."""

from bot.storage.database import Database
from bot.storage.jobs import JobRepository

__all__ = ["Database", "JobRepository"]
