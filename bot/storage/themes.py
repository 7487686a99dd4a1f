"""Channel themes and their audit trail; the only place that knows how themes are stored."""

from __future__ import annotations

import json
import time

import aiosqlite

from bot.domain.channel_theme import ChannelTheme, ThemeChange
from bot.domain.themes import Theme
from bot.storage.database import Database


def _theme(text: str | None) -> Theme | None:
    return Theme.from_dict(json.loads(text)) if text else None


def _dump(theme: Theme | None) -> str | None:
    return json.dumps(theme.to_dict()) if theme is not None else None


def _channel_theme(row: aiosqlite.Row) -> ChannelTheme:
    theme = _theme(row["theme"])
    assert theme is not None
    return ChannelTheme(guild_id=row["guild_id"], channel_id=row["channel_id"], theme=theme,
                        set_by=row["set_by"], set_by_name=row["set_by_name"],
                        set_at=row["set_at"])


class ThemeRepository:
    """Rows of ``channel_themes`` and ``theme_changes`` as domain objects."""

    def __init__(self, database: Database) -> None:
        self._db = database.connection

    async def all(self) -> list[ChannelTheme]:
        """Every themed channel (loaded once at start into the service's cache)."""
        async with self._db.execute("SELECT * FROM channel_themes ORDER BY channel_id") as cursor:
            rows = await cursor.fetchall()
        return [_channel_theme(row) for row in rows]

    async def set(self, guild_id: int, channel_id: int, theme: Theme | None, *,
                  user_id: int | None, user_name: str) -> ChannelTheme | None:
        """Set (or with None, clear) a channel's theme and record the change, in one commit."""
        async with self._db.execute("SELECT theme FROM channel_themes WHERE channel_id = ?",
                                    (channel_id,)) as cursor:
            row = await cursor.fetchone()
        old = row["theme"] if row else None
        now = time.time()
        if theme is None:
            await self._db.execute("DELETE FROM channel_themes WHERE channel_id = ?",
                                   (channel_id,))
        else:
            await self._db.execute(
                "INSERT INTO channel_themes (channel_id, guild_id, theme, set_by, set_by_name, "
                "set_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(channel_id) DO UPDATE SET "
                "guild_id = excluded.guild_id, theme = excluded.theme, set_by = excluded.set_by, "
                "set_by_name = excluded.set_by_name, set_at = excluded.set_at",
                (channel_id, guild_id, _dump(theme), user_id, user_name, now))
        await self._db.execute(
            "INSERT INTO theme_changes (guild_id, channel_id, user_id, user_name, changed_at, "
            "old_theme, new_theme) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (guild_id, channel_id, user_id, user_name, now, old, _dump(theme)))
        await self._db.commit()
        if theme is None:
            return None
        return ChannelTheme(guild_id, channel_id, theme, user_id, user_name, now)

    async def history(self, channel_id: int, limit: int = 10) -> list[ThemeChange]:
        """The channel's last ``limit`` changes, newest first."""
        async with self._db.execute(
                "SELECT * FROM theme_changes WHERE channel_id = ? ORDER BY id DESC LIMIT ?",
                (channel_id, limit)) as cursor:
            rows = await cursor.fetchall()
        return [ThemeChange(id=row["id"], guild_id=row["guild_id"], channel_id=row["channel_id"],
                            user_id=row["user_id"], user_name=row["user_name"],
                            changed_at=row["changed_at"], old=_theme(row["old_theme"]),
                            new=_theme(row["new_theme"])) for row in rows]
