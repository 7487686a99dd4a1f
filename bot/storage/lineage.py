"""Job links (several parents per job, each with a kind) and job groups, in SQLite."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from bot.domain.lineage import GroupKind, JobGroup, Link, LinkKind
from bot.storage.database import Database


class LineageRepository:
    """Rows of ``job_links``, ``job_groups`` and ``group_members``."""

    def __init__(self, database: Database) -> None:
        self._db = database.connection

    # -- links -------------------------------------------------------------------------------

    async def add_links(self, child_id: int, links: Iterable[Link], *,
                        commit: bool = True) -> None:
        """Record where ``child_id`` came from."""
        rows = [(child_id, link.parent_id, link.kind.value, link.position) for link in links]
        if rows:
            await self._db.executemany("INSERT OR IGNORE INTO job_links (child_id, parent_id, "
                                       "kind, position) VALUES (?, ?, ?, ?)", rows)
            if commit:
                await self._db.commit()

    async def parents(self, child_id: int) -> list[Link]:
        """The links of one job to its parents, in their order."""
        links = await self.parents_of([child_id])
        return links.get(child_id, [])

    async def parents_of(self, child_ids: Sequence[int]) -> dict[int, list[Link]]:
        """The parents of several jobs at once (one query)."""
        if not child_ids:
            return {}
        marks = ", ".join("?" * len(child_ids))
        async with self._db.execute(
                f"SELECT child_id, parent_id, kind, position FROM job_links WHERE child_id IN "
                f"({marks}) ORDER BY child_id, position, parent_id", tuple(child_ids)) as cursor:
            rows = await cursor.fetchall()
        out: dict[int, list[Link]] = {}
        for row in rows:
            out.setdefault(row["child_id"], []).append(
                Link(row["parent_id"], LinkKind(row["kind"]), row["position"]))
        return out

    async def children(self, parent_id: int, kind: LinkKind | None = None) -> list[int]:
        """The ids of the jobs made from ``parent_id`` (of one kind, or all), oldest first."""
        query = "SELECT child_id FROM job_links WHERE parent_id = ?"
        params: list[Any] = [parent_id]
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind.value)
        async with self._db.execute(query + " ORDER BY child_id", params) as cursor:
            rows = await cursor.fetchall()
        return [int(row["child_id"]) for row in rows]

    # -- groups ------------------------------------------------------------------------------

    async def add_group(self, kind: GroupKind, *, guild_id: int | None, channel_id: int | None,
                        created_by: int | None, title: str = "",
                        data: dict[str, Any] | None = None, commit: bool = True) -> JobGroup:
        """Create an empty group."""
        now = time.time()
        cursor = await self._db.execute(
            "INSERT INTO job_groups (kind, guild_id, channel_id, created_by, created_at, title, "
            "data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kind.value, guild_id, channel_id, created_by, now, title, json.dumps(data or {})))
        if commit:
            await self._db.commit()
        assert cursor.lastrowid is not None
        return JobGroup(id=cursor.lastrowid, kind=kind, created_at=now, guild_id=guild_id,
                        channel_id=channel_id, created_by=created_by, title=title,
                        data=dict(data or {}))

    async def add_member(self, group_id: int, job_id: int, position: int, *,
                         commit: bool = True) -> None:
        """Put a job at ``position`` in a group."""
        await self._db.execute("INSERT INTO group_members (group_id, job_id, position) "
                               "VALUES (?, ?, ?)", (group_id, job_id, position))
        if commit:
            await self._db.commit()

    async def group(self, group_id: int) -> JobGroup | None:
        """A group with its members in order, or None."""
        async with self._db.execute("SELECT * FROM job_groups WHERE id = ?",
                                    (group_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        async with self._db.execute("SELECT job_id FROM group_members WHERE group_id = ? "
                                    "ORDER BY position, job_id", (group_id,)) as cursor:
            members = tuple(int(r["job_id"]) for r in await cursor.fetchall())
        return _group(row, members)

    async def groups_of(self, job_id: int) -> list[int]:
        """The ids of the groups a job belongs to."""
        async with self._db.execute("SELECT group_id FROM group_members WHERE job_id = ? "
                                    "ORDER BY group_id", (job_id,)) as cursor:
            return [int(row["group_id"]) for row in await cursor.fetchall()]

    async def update_group(self, group_id: int, **fields: Any) -> None:
        """Set columns of a group (its messages, its data)."""
        if "data" in fields:
            fields["data"] = json.dumps(fields["data"])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        await self._db.execute(f"UPDATE job_groups SET {assignments} WHERE id = ?",
                               (*fields.values(), group_id))
        await self._db.commit()


def _group(row: aiosqlite.Row, members: tuple[int, ...]) -> JobGroup:
    return JobGroup(id=row["id"], kind=GroupKind(row["kind"]), created_at=row["created_at"],
                    guild_id=row["guild_id"], channel_id=row["channel_id"],
                    created_by=row["created_by"], title=row["title"], members=members,
                    data=json.loads(row["data"] or "{}"),
                    status_message_id=row["status_message_id"], message_id=row["message_id"])
