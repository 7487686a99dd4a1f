"""Parties, votes, star boards and wall channels in SQLite (schema 5)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from bot.domain.jobs import JobState
from bot.domain.party import Association, Party, PartyRole, VotedImage
from bot.domain.recipe import Recipe
from bot.domain.themes import Theme
from bot.storage.database import Database


class PartyAlreadyRunning(Exception):
    """The channel has a running party (the database's one-per-channel index said so)."""


# A finished result that still counts: done, not flagged by the safety checker (kept out of
# galleries, /best, the star board and the wall), and not deleted by its author.
_SHOWN = (f"j.state = '{JobState.DONE.value}' AND j.flagged = 0 AND "
          "NOT EXISTS (SELECT 1 FROM job_deletions d WHERE d.job_id = j.id)")
_IMAGE_COLUMNS = ("j.id, j.recipe, j.user_id, j.user_name, j.created_at, j.finished_at, "
                  "j.output_path, j.guild_id, j.channel_id, j.message_id, "
                  "(SELECT COUNT(*) FROM votes v WHERE v.job_id = j.id) AS votes")


def _image(row: aiosqlite.Row, picked: bool = False) -> VotedImage:
    return VotedImage(job_id=row["id"], recipe=Recipe.from_dict(json.loads(row["recipe"])),
                      author_id=row["user_id"], author_name=row["user_name"],
                      created_at=row["created_at"], finished_at=row["finished_at"],
                      votes=row["votes"], picked=picked, output_path=row["output_path"],
                      guild_id=row["guild_id"], channel_id=row["channel_id"],
                      message_id=row["message_id"])


class PartyRepository:
    """Rows of the party, vote, star board and wall tables."""

    def __init__(self, database: Database) -> None:
        self._db = database.connection

    # -- parties -----------------------------------------------------------------------------

    async def add(self, *, guild_id: int | None, channel_id: int, topic: str,
                  theme: Theme | None, group_id: int, started_by: int | None,
                  started_by_name: str, ends_at: float | None,
                  started_at: float | None = None) -> Party:
        """Record a running party with its starter as Prompt Master (one transaction, with
        whatever the connection has pending: the party's job group)."""
        now = time.time() if started_at is None else started_at
        try:
            cursor = await self._db.execute(
                "INSERT INTO parties (guild_id, channel_id, topic, theme, group_id, started_by, "
                "started_by_name, started_at, ends_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (guild_id, channel_id, topic,
                 json.dumps(theme.to_dict()) if theme is not None else None, group_id,
                 started_by, started_by_name, now, ends_at))
        except sqlite3.IntegrityError:
            await self._db.rollback()
            raise PartyAlreadyRunning(channel_id) from None
        party_id = cursor.lastrowid
        assert party_id is not None
        if started_by is not None:
            await self._set_role(party_id, PartyRole.PROMPT_MASTER, started_by, started_by_name,
                                 started_by, now)
        await self._db.commit()
        party = await self.get(party_id)
        assert party is not None
        return party

    async def get(self, party_id: int) -> Party | None:
        """A party with its roles, or None."""
        parties = await self._parties("WHERE id = ?", (party_id,))
        return parties[0] if parties else None

    async def running(self) -> list[Party]:
        """Every party not ended (those past their hours too: the caller ends them)."""
        return await self._parties("WHERE ended_at IS NULL ORDER BY id", ())

    async def latest_in(self, channel_id: int) -> Party | None:
        """The newest party of a channel, running or ended."""
        parties = await self._parties("WHERE channel_id = ? ORDER BY id DESC LIMIT 1",
                                      (channel_id,))
        return parties[0] if parties else None

    async def of_job(self, job_id: int) -> Party | None:
        """The party a job belongs to (through its job group), or None."""
        parties = await self._parties(
            "WHERE group_id IN (SELECT group_id FROM group_members WHERE job_id = ?) "
            "ORDER BY id DESC LIMIT 1", (job_id,))
        return parties[0] if parties else None

    async def end(self, party_id: int, *, ended_by: int | None, at: float) -> bool:
        """Mark a party ended; False if it already was (a second end does nothing)."""
        cursor = await self._db.execute(
            "UPDATE parties SET ended_at = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL",
            (at, ended_by, party_id))
        await self._db.commit()
        return cursor.rowcount == 1

    async def set_summary_message(self, party_id: int, message_id: int) -> None:
        """Remember the summary's message."""
        await self._db.execute("UPDATE parties SET summary_message_id = ? WHERE id = ?",
                               (message_id, party_id))
        await self._db.commit()

    async def _parties(self, where: str, params: Sequence[Any]) -> list[Party]:
        async with self._db.execute(f"SELECT * FROM parties {where}", tuple(params)) as cursor:
            rows = await cursor.fetchall()
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        marks = ", ".join("?" * len(ids))
        async with self._db.execute(
                f"SELECT party_id, role, user_id, user_name FROM party_roles WHERE party_id IN "
                f"({marks})", ids) as cursor:
            role_rows = await cursor.fetchall()
        roles: dict[int, dict[PartyRole, int]] = {}
        names: dict[int, dict[PartyRole, str]] = {}
        for row in role_rows:
            roles.setdefault(row["party_id"], {})[PartyRole(row["role"])] = row["user_id"]
            names.setdefault(row["party_id"], {})[PartyRole(row["role"])] = row["user_name"]
        return [Party(id=row["id"], guild_id=row["guild_id"], channel_id=row["channel_id"],
                      topic=row["topic"], group_id=row["group_id"],
                      started_by=row["started_by"], started_at=row["started_at"],
                      ends_at=row["ends_at"],
                      theme=Theme.from_dict(json.loads(row["theme"])) if row["theme"] else None,
                      ended_at=row["ended_at"], ended_by=row["ended_by"],
                      roles=roles.get(row["id"], {}), role_names=names.get(row["id"], {}))
                for row in rows]

    # -- roles, associations, picks -----------------------------------------------------------

    async def set_role(self, party_id: int, role: PartyRole, user_id: int, user_name: str, *,
                       granted_by: int | None) -> None:
        """Give ``role`` to a member (its previous holder loses it)."""
        await self._set_role(party_id, role, user_id, user_name, granted_by, time.time())
        await self._db.commit()

    async def _set_role(self, party_id: int, role: PartyRole, user_id: int, user_name: str,
                        granted_by: int | None, at: float) -> None:
        await self._db.execute(
            "INSERT INTO party_roles (party_id, role, user_id, user_name, granted_by, "
            "granted_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (party_id, role) DO UPDATE SET "
            "user_id = excluded.user_id, user_name = excluded.user_name, "
            "granted_by = excluded.granted_by, granted_at = excluded.granted_at",
            (party_id, role.value, user_id, user_name, granted_by, at))

    async def add_associations(self, party_id: int, words: Iterable[str], *,
                               user_id: int | None, user_name: str) -> None:
        """Record associations someone added."""
        now = time.time()
        await self._db.executemany(
            "INSERT INTO party_associations (party_id, user_id, user_name, text, added_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(party_id, user_id, user_name, word, now) for word in words])
        await self._db.commit()

    async def associations(self, party_id: int) -> list[Association]:
        """A party's associations, oldest first."""
        async with self._db.execute(
                "SELECT user_id, user_name, text, added_at FROM party_associations "
                "WHERE party_id = ? ORDER BY id", (party_id,)) as cursor:
            rows = await cursor.fetchall()
        return [Association(row["user_id"], row["user_name"], row["text"], row["added_at"])
                for row in rows]

    async def toggle_pick(self, party_id: int, job_id: int, *, user_id: int) -> bool:
        """Pick an image, or take the pick back; True if it is picked now."""
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO party_picks (party_id, job_id, picked_by, picked_at) "
            "VALUES (?, ?, ?, ?)", (party_id, job_id, user_id, time.time()))
        picked = cursor.rowcount == 1
        if not picked:
            await self._db.execute("DELETE FROM party_picks WHERE party_id = ? AND job_id = ?",
                                   (party_id, job_id))
        await self._db.commit()
        return picked

    async def images(self, party: Party) -> list[VotedImage]:
        """A party's finished images that still count (deleted ones left out), oldest first."""
        async with self._db.execute(
                f"SELECT {_IMAGE_COLUMNS}, EXISTS (SELECT 1 FROM party_picks p WHERE "
                f"p.party_id = ? AND p.job_id = j.id) AS picked FROM jobs j JOIN group_members m "
                f"ON m.job_id = j.id WHERE m.group_id = ? AND {_SHOWN} ORDER BY j.id",
                (party.id, party.group_id)) as cursor:
            rows = await cursor.fetchall()
        return [_image(row, bool(row["picked"])) for row in rows]

    # -- votes ---------------------------------------------------------------------------------

    async def toggle_vote(self, job_id: int, user_id: int) -> tuple[bool, int]:
        """A vote, or (pressed again) the vote taken back: (voted now, the image's count).

        The insert decides, so two presses racing each other toggle twice, never count twice.
        """
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO votes (job_id, user_id, voted_at) VALUES (?, ?, ?)",
            (job_id, user_id, time.time()))
        voted = cursor.rowcount == 1
        if not voted:
            await self._db.execute("DELETE FROM votes WHERE job_id = ? AND user_id = ?",
                                   (job_id, user_id))
        await self._db.commit()
        return voted, await self.vote_count(job_id)

    async def vote_count(self, job_id: int) -> int:
        """How many people voted for an image."""
        async with self._db.execute("SELECT COUNT(*) FROM votes WHERE job_id = ?",
                                    (job_id,)) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def best(self, guild_id: int, *, channel_id: int | None, since: float | None,
                   limit: int) -> list[VotedImage]:
        """A server's results with the most votes (at least one), best first."""
        query = (f"SELECT {_IMAGE_COLUMNS} FROM jobs j WHERE j.guild_id = ? AND {_SHOWN} "
                 "AND j.id IN (SELECT job_id FROM votes)")
        params: list[Any] = [guild_id]
        if channel_id is not None:
            query += " AND j.channel_id = ?"
            params.append(channel_id)
        if since is not None:
            query += " AND j.created_at >= ?"
            params.append(since)
        query += " ORDER BY votes DESC, j.id LIMIT ?"
        async with self._db.execute(query, (*params, limit)) as cursor:
            return [_image(row) for row in await cursor.fetchall()]

    async def history(self, user_id: int, *, guild_id: int | None, limit: int
                      ) -> list[VotedImage]:
        """Someone's last delivered results (in one server, or everywhere), newest first."""
        query = (f"SELECT {_IMAGE_COLUMNS} FROM jobs j WHERE j.user_id = ? AND {_SHOWN} "
                 "AND j.message_id IS NOT NULL")
        params: list[Any] = [user_id]
        if guild_id is not None:
            query += " AND j.guild_id = ?"
            params.append(guild_id)
        async with self._db.execute(query + " ORDER BY j.id DESC LIMIT ?",
                                    (*params, limit)) as cursor:
            return [_image(row) for row in await cursor.fetchall()]

    async def image(self, job_id: int) -> VotedImage | None:
        """One finished, undeleted result with its votes, or None."""
        async with self._db.execute(f"SELECT {_IMAGE_COLUMNS} FROM jobs j WHERE j.id = ? AND "
                                    f"{_SHOWN}", (job_id,)) as cursor:
            row = await cursor.fetchone()
        return _image(row) if row else None

    async def is_flagged(self, job_id: int) -> bool:
        """Whether the safety checker flagged a job's image (so no party view shows it)."""
        async with self._db.execute("SELECT flagged FROM jobs WHERE id = ?",
                                    (job_id,)) as cursor:
            row = await cursor.fetchone()
        return bool(row and row["flagged"])

    async def mark_deleted(self, job_id: int, *, deleted_by: int | None) -> None:
        """Remember that a result's author (or a moderator) deleted it."""
        await self._db.execute("INSERT OR IGNORE INTO job_deletions (job_id, deleted_by, "
                               "deleted_at) VALUES (?, ?, ?)", (job_id, deleted_by, time.time()))
        await self._db.commit()

    # -- star boards ---------------------------------------------------------------------------

    async def set_starboard(self, guild_id: int, channel_id: int, threshold: int, *,
                            set_by: int | None) -> None:
        """Set (or move) a server's star board."""
        await self._db.execute(
            "INSERT INTO starboards (guild_id, channel_id, threshold, set_by, set_at) VALUES "
            "(?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET channel_id = "
            "excluded.channel_id, threshold = excluded.threshold, set_by = excluded.set_by, "
            "set_at = excluded.set_at", (guild_id, channel_id, threshold, set_by, time.time()))
        await self._db.commit()

    async def starboards(self) -> dict[int, tuple[int, int]]:
        """Every server's star board: guild id → (channel id, threshold)."""
        async with self._db.execute("SELECT guild_id, channel_id, threshold FROM starboards"
                                    ) as cursor:
            return {row["guild_id"]: (row["channel_id"], row["threshold"])
                    for row in await cursor.fetchall()}

    async def claim_starboard(self, job_id: int, *, guild_id: int | None,
                              channel_id: int) -> bool:
        """Claim the one repost of an image; True for the first claim only (ever)."""
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO starboard_posts (job_id, guild_id, channel_id, claimed_at) "
            "VALUES (?, ?, ?, ?)", (job_id, guild_id, channel_id, time.time()))
        await self._db.commit()
        return cursor.rowcount == 1

    async def record_starboard_message(self, job_id: int, message_id: int) -> None:
        """Remember the repost's message."""
        await self._db.execute("UPDATE starboard_posts SET message_id = ? WHERE job_id = ?",
                               (message_id, job_id))
        await self._db.commit()

    async def unposted_starboard(self) -> list[tuple[int, int]]:
        """Claims whose repost never got its message (a crash in between): (job, channel)."""
        async with self._db.execute("SELECT job_id, channel_id FROM starboard_posts WHERE "
                                    "message_id IS NULL ORDER BY job_id") as cursor:
            return [(row["job_id"], row["channel_id"]) for row in await cursor.fetchall()]

    # -- the wall ------------------------------------------------------------------------------

    async def set_wall(self, channel_id: int, *, guild_id: int | None, enabled_by: int | None,
                       enabled: bool) -> bool:
        """Show a channel on the wall (or stop); False if nothing changed."""
        if enabled:
            cursor = await self._db.execute(
                "INSERT OR IGNORE INTO wall_channels (channel_id, guild_id, enabled_by, "
                "enabled_at) VALUES (?, ?, ?, ?)", (channel_id, guild_id, enabled_by, time.time()))
        else:
            cursor = await self._db.execute("DELETE FROM wall_channels WHERE channel_id = ?",
                                            (channel_id,))
        await self._db.commit()
        return cursor.rowcount == 1

    async def wall_images(self, *, after: float | None, limit: int) -> list[VotedImage]:
        """Finished results of wall channels and running parties: those finished after
        ``after`` (oldest first), or the newest ``limit`` (after None, newest last)."""
        shown = (f"{_SHOWN} AND (j.channel_id IN (SELECT channel_id FROM wall_channels) OR "
                 "j.channel_id IN (SELECT channel_id FROM parties WHERE ended_at IS NULL))")
        if after is None:
            query = (f"SELECT * FROM (SELECT {_IMAGE_COLUMNS} FROM jobs j WHERE {shown} AND "
                     "j.finished_at IS NOT NULL ORDER BY j.finished_at DESC, j.id DESC "
                     "LIMIT ?) ORDER BY finished_at, id")
            params: tuple[Any, ...] = (limit,)
        else:
            query = (f"SELECT {_IMAGE_COLUMNS} FROM jobs j WHERE j.finished_at > ? AND {shown} "
                     "ORDER BY j.finished_at, j.id LIMIT ?")
            params = (after, limit)
        async with self._db.execute(query, params) as cursor:
            return [_image(row) for row in await cursor.fetchall()]

    async def wall_image(self, job_id: int) -> VotedImage | None:
        """One result if the wall may show it (its channel is on the wall, or was a party's)."""
        async with self._db.execute(
                f"SELECT {_IMAGE_COLUMNS} FROM jobs j WHERE j.id = ? AND {_SHOWN} AND "
                "(j.channel_id IN (SELECT channel_id FROM wall_channels) OR j.id IN (SELECT "
                "m.job_id FROM group_members m JOIN parties p ON p.group_id = m.group_id))",
                (job_id,)) as cursor:
            row = await cursor.fetchone()
        return _image(row) if row else None
