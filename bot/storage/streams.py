"""Streams and their prompt pools; the only place that knows how they are stored."""

from __future__ import annotations

import time
from collections.abc import Iterable

import aiosqlite

from bot.domain.streams import PoolEntry, Stream
from bot.storage.database import Database


def _stream(row: aiosqlite.Row) -> Stream:
    return Stream(guild_id=row["guild_id"], channel_id=row["channel_id"], every=row["every"],
                  running=bool(row["running"]), started_by=row["started_by"],
                  started_at=row["started_at"], last_image_at=row["last_image_at"],
                  stopped_at=row["stopped_at"], stop_reason=row["stop_reason"])


def _entry(row: aiosqlite.Row) -> PoolEntry:
    return PoolEntry(id=row["id"], guild_id=row["guild_id"], channel_id=row["channel_id"],
                     prompt=row["prompt"], added_by=row["added_by"], added_at=row["added_at"])


class StreamRepository:
    """Rows of ``streams`` and ``stream_prompts``."""

    def __init__(self, database: Database) -> None:
        self._db = database.connection

    # -- pools -------------------------------------------------------------------------------

    async def pool(self, channel_id: int) -> list[PoolEntry]:
        """The channel's pool, oldest first."""
        async with self._db.execute("SELECT * FROM stream_prompts WHERE channel_id = ? "
                                    "ORDER BY id", (channel_id,)) as cursor:
            rows = await cursor.fetchall()
        return [_entry(row) for row in rows]

    async def add_prompts(self, guild_id: int, channel_id: int, prompts: Iterable[str], *,
                          added_by: int | None) -> int:
        """Append prompts to a pool; returns how many were added."""
        now = time.time()
        rows = [(guild_id, channel_id, prompt, added_by, now) for prompt in prompts]
        await self._db.executemany("INSERT INTO stream_prompts (guild_id, channel_id, prompt, "
                                   "added_by, added_at) VALUES (?, ?, ?, ?, ?)", rows)
        await self._db.commit()
        return len(rows)

    async def replace_pool(self, guild_id: int, channel_id: int, prompts: Iterable[str], *,
                           added_by: int | None) -> int:
        """Replace a channel's pool (a preset brings its own); returns the new size."""
        await self._db.execute("DELETE FROM stream_prompts WHERE channel_id = ?", (channel_id,))
        return await self.add_prompts(guild_id, channel_id, prompts, added_by=added_by)

    async def remove_prompt(self, channel_id: int, entry_id: int) -> PoolEntry | None:
        """Remove one entry of the channel's pool; returns it, or None if it was not there."""
        async with self._db.execute("SELECT * FROM stream_prompts WHERE id = ? AND "
                                    "channel_id = ?", (entry_id, channel_id)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        await self._db.execute("DELETE FROM stream_prompts WHERE id = ?", (entry_id,))
        await self._db.commit()
        return _entry(row)

    # -- streams -----------------------------------------------------------------------------

    async def running(self) -> list[Stream]:
        """Every running stream (loaded at start: streams resume after a restart)."""
        async with self._db.execute("SELECT * FROM streams WHERE running = 1 "
                                    "ORDER BY channel_id") as cursor:
            rows = await cursor.fetchall()
        return [_stream(row) for row in rows]

    async def get(self, channel_id: int) -> Stream | None:
        """The channel's stream row (running or stopped), or None."""
        async with self._db.execute("SELECT * FROM streams WHERE channel_id = ?",
                                    (channel_id,)) as cursor:
            row = await cursor.fetchone()
        return _stream(row) if row else None

    async def start(self, guild_id: int, channel_id: int, every: float, *,
                    started_by: int | None) -> Stream:
        """Start (or restart with a new interval) the channel's stream."""
        now = time.time()
        await self._db.execute(
            "INSERT INTO streams (channel_id, guild_id, every, running, started_by, started_at) "
            "VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT(channel_id) DO UPDATE SET "
            "guild_id = excluded.guild_id, every = excluded.every, running = 1, "
            "started_by = excluded.started_by, started_at = excluded.started_at, "
            "stopped_at = NULL, stop_reason = NULL",
            (channel_id, guild_id, every, started_by, now))
        await self._db.commit()
        stream = await self.get(channel_id)
        assert stream is not None
        return stream

    async def stop(self, channel_id: int, reason: str) -> Stream | None:
        """Mark the channel's stream stopped with a reason; returns it (None if none ran)."""
        await self._db.execute("UPDATE streams SET running = 0, stopped_at = ?, stop_reason = ? "
                               "WHERE channel_id = ? AND running = 1",
                               (time.time(), reason, channel_id))
        await self._db.commit()
        return await self.get(channel_id)

    async def mark_image(self, channel_id: int, at: float) -> None:
        """Record when the stream last queued an image (its interval counts from there)."""
        await self._db.execute("UPDATE streams SET last_image_at = ? WHERE channel_id = ?",
                               (at, channel_id))
        await self._db.commit()

    async def images_since(self, channel_id: int, since: float) -> int:
        """How many stream images of the channel were made since ``since``."""
        async with self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE channel_id = ? AND source = 'stream' "
                "AND state = 'done' AND created_at >= ?", (channel_id, since)) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0
