"""The job repository: the only place that knows how jobs are stored."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from bot.domain.jobs import Job, JobState, Requester, can_transition
from bot.domain.recipe import Recipe
from bot.storage.database import Database

_COLUMNS = ("id, state, recipe, source, user_id, user_name, guild_id, channel_id, "
            "interaction_token, token_expires_at, attachment_limit, parent_id, priority, "
            "attempts, created_at, started_at, finished_at, step_seconds, output_path, error, "
            "status_message_id, message_id, flagged")


def _column_value(value: Any) -> Any:
    """A field as stored: recipes as their JSON, everything else as it is."""
    return json.dumps(value.to_dict()) if isinstance(value, Recipe) else value


def _job_from_row(row: aiosqlite.Row) -> Job:
    requester = Requester(user_id=row["user_id"], user_name=row["user_name"],
                          guild_id=row["guild_id"], channel_id=row["channel_id"],
                          interaction_token=row["interaction_token"],
                          token_expires_at=row["token_expires_at"],
                          attachment_limit=row["attachment_limit"], source=row["source"])
    return Job(id=row["id"], recipe=Recipe.from_dict(json.loads(row["recipe"])),
               requester=requester, state=JobState(row["state"]), created_at=row["created_at"],
               parent_id=row["parent_id"], priority=row["priority"], attempts=row["attempts"],
               started_at=row["started_at"], finished_at=row["finished_at"],
               step_seconds=row["step_seconds"], output_path=row["output_path"],
               error=row["error"], status_message_id=row["status_message_id"],
               message_id=row["message_id"], flagged=bool(row["flagged"]))


class JobRepository:
    """Jobs in the ``jobs`` table, as domain objects."""

    def __init__(self, database: Database) -> None:
        self._db = database.connection

    async def add(self, recipe: Recipe, requester: Requester, *, parent_id: int | None = None,
                  priority: int = 0) -> Job:
        """Record a new queued job and return it (committed before anyone is told)."""
        now = time.time()
        cursor = await self._db.execute(
            "INSERT INTO jobs (state, recipe, source, user_id, user_name, guild_id, channel_id, "
            "interaction_token, token_expires_at, attachment_limit, parent_id, priority, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (JobState.QUEUED.value, json.dumps(recipe.to_dict()), requester.source,
             requester.user_id, requester.user_name, requester.guild_id, requester.channel_id,
             requester.interaction_token, requester.token_expires_at,
             requester.attachment_limit, parent_id, priority, now))
        await self._db.commit()
        job_id = cursor.lastrowid
        assert job_id is not None
        return Job(id=job_id, recipe=recipe, requester=requester, state=JobState.QUEUED,
                   created_at=now, parent_id=parent_id, priority=priority)

    async def get(self, job_id: int) -> Job | None:
        """The job with this id, or None."""
        async with self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?",
                                    (job_id,)) as cursor:
            row = await cursor.fetchone()
        return _job_from_row(row) if row else None

    async def in_states(self, states: Iterable[JobState], *,
                        sources: Iterable[str] | None = None) -> list[Job]:
        """Jobs in any of ``states`` (optionally of some sources), oldest first."""
        state_list = [s.value for s in states]
        query = (f"SELECT {_COLUMNS} FROM jobs WHERE state IN "
                 f"({', '.join('?' * len(state_list))})")
        params: list[Any] = list(state_list)
        if sources is not None:
            source_list = list(sources)
            query += f" AND source IN ({', '.join('?' * len(source_list))})"
            params += source_list
        async with self._db.execute(query + " ORDER BY id", params) as cursor:
            rows = await cursor.fetchall()
        return [_job_from_row(row) for row in rows]

    async def transition(self, job_id: int, new: JobState, **fields: Any) -> Job:
        """Move a job to ``new`` (checked against the state machine) and set ``fields``."""
        return (await self.transition_many([job_id], new, **fields))[0]

    async def transition_many(self, job_ids: Sequence[int], new: JobState, *,
                              attempts_delta: int = 0, strict: bool = True,
                              **fields: Any) -> list[Job]:
        """Move jobs to ``new`` and set ``fields`` in one statement; returns them in order.

        The state machine is checked by the statement itself (only jobs in a state that may go
        to ``new`` change), so a batch's state changes cost one round trip and one commit, not
        a read and a write per job. ``attempts_delta`` is added to each job's attempts (never
        below 0). A job that is missing or may not move raises, and nothing is changed; with
        ``strict=False`` such jobs are skipped and the others returned.
        """
        if not job_ids:
            return []
        sources = [old.value for old in JobState if can_transition(old, new)]
        assignments = ["state = ?", *(f"{name} = ?" for name in fields)]
        if attempts_delta:
            assignments.append(f"attempts = MAX(0, attempts + {int(attempts_delta)})")
        ids = ", ".join("?" * len(job_ids))
        olds = ", ".join("?" * len(sources))
        values = [_column_value(value) for value in fields.values()]
        rows = await self._db.execute_fetchall(
            f"UPDATE jobs SET {', '.join(assignments)} WHERE id IN ({ids}) "
            f"AND state IN ({olds}) RETURNING {_COLUMNS}",
            (new.value, *values, *job_ids, *sources))
        changed = {row["id"]: _job_from_row(row) for row in rows}
        if strict and len(changed) < len(set(job_ids)):
            await self._db.rollback()
            await self._refuse(job_ids, changed, new)
        await self._db.commit()
        return [changed[job_id] for job_id in job_ids if job_id in changed]

    async def _refuse(self, job_ids: Sequence[int], changed: dict[int, Job],
                      new: JobState) -> None:
        """Raise for the first job that could not move to ``new``: KeyError or ValueError."""
        for job_id in job_ids:
            if job_id in changed:
                continue
            job = await self.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id}")
            raise ValueError(f"job {job_id} cannot go from {job.state} to {new}")

    async def update(self, job_id: int, **fields: Any) -> Job:
        """Set columns of a job without changing its state (e.g. the delivered message id)."""
        assignments = ", ".join(f"{name} = ?" for name in fields)
        rows = await self._db.execute_fetchall(
            f"UPDATE jobs SET {assignments} WHERE id = ? RETURNING {_COLUMNS}",
            (*(_column_value(value) for value in fields.values()), job_id))
        await self._db.commit()
        if not rows:
            raise KeyError(f"no job {job_id}")
        return _job_from_row(next(iter(rows)))

    async def requeue_unfinished(self, sources: Iterable[str]) -> list[Job]:
        """After a restart: running jobs of ``sources`` go back to queued; return all queued."""
        source_list = list(sources)
        marks = ", ".join("?" * len(source_list))
        await self._db.execute(
            f"UPDATE jobs SET state = ?, started_at = NULL WHERE state = ? AND source IN ({marks})",
            (JobState.QUEUED.value, JobState.RUNNING.value, *source_list))
        await self._db.commit()
        return await self.in_states([JobState.QUEUED], sources=source_list)

    async def undelivered(self, sources: Iterable[str]) -> list[Job]:
        """Finished jobs whose user has not been shown the outcome yet (no message recorded)."""
        source_list = list(sources)
        marks = ", ".join("?" * len(source_list))
        async with self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state IN (?, ?, ?) AND message_id IS NULL "
                f"AND source IN ({marks}) ORDER BY id",
                (JobState.DONE.value, JobState.FAILED.value, JobState.CANCELLED.value,
                 *source_list)) as cursor:
            rows = await cursor.fetchall()
        return [_job_from_row(row) for row in rows]

    async def children(self, parent_id: int) -> list[Job]:
        """Jobs recorded with ``parent_id`` as their parent (rerolls, variations)."""
        async with self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE parent_id = ? ORDER BY id",
                                    (parent_id,)) as cursor:
            rows = await cursor.fetchall()
        return [_job_from_row(row) for row in rows]
