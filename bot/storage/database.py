"""The database connection: one SQLite file, WAL mode, migrations applied on open."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType

import aiosqlite

from bot.storage.migrations import MIGRATIONS

log = logging.getLogger(__name__)


def _create_private(path: Path) -> None:
    """Create the database file readable by this user only (0600): it holds interaction tokens
    and who asked for what. SQLite gives its -wal and -shm files the same mode. An existing
    file keeps its mode (the operator may have chosen it), with a warning if others can read it.
    """
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            log.warning("database %s can be read by other users (mode %o); chmod 600 it",
                        path, path.stat().st_mode & 0o777)


class Database:
    """An open aiosqlite connection with the schema at the newest version."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open (creating if needed) the database at ``path`` and migrate it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(path)
        connection = await aiosqlite.connect(path)
        connection.row_factory = aiosqlite.Row
        # WAL lets the CLI read while the bot writes; NORMAL is durable across process crashes.
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute("PRAGMA foreign_keys=ON")
        await connection.execute("PRAGMA busy_timeout=5000")
        database = cls(connection, path)
        try:
            await database.migrate()
        except BaseException:
            await connection.close()
            raise
        return database

    async def schema_version(self) -> int:
        """The migration number applied last."""
        async with self.connection.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        """Apply every migration newer than the file's ``user_version``, each in a transaction."""
        current = await self.schema_version()
        if current > len(MIGRATIONS):
            raise RuntimeError(f"database {self.path} has schema version {current}, newer than "
                               f"this neurostream ({len(MIGRATIONS)}); upgrade neurostream")
        for version in range(current, len(MIGRATIONS)):
            log.info("migrating %s to schema version %d", self.path, version + 1)
            await self.connection.executescript(
                f"BEGIN;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version + 1};\nCOMMIT;")

    async def close(self) -> None:
        """Close the connection (and its thread)."""
        await self.connection.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
