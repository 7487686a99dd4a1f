"""The job table on a real SQLite file: migrations, WAL, the state machine, restart recovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain import JobState, Recipe, Requester
from bot.storage import Database, JobRepository
from bot.storage.migrations import SCHEMA_VERSION

REQUESTER = Requester(user_id=42, user_name="alice", guild_id=1, channel_id=2,
                      interaction_token="tok", token_expires_at=1000.0, attachment_limit=1024,
                      source="discord")


async def test_migrates_and_uses_wal(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        assert await db.schema_version() == SCHEMA_VERSION
        async with db.connection.execute("PRAGMA journal_mode") as cursor:
            row = await cursor.fetchone()
        assert row is not None and row[0] == "wal"
    # Re-opening an up-to-date file migrates nothing and keeps the data.
    async with await Database.open(tmp_path / "ns.db") as db:
        assert await db.schema_version() == SCHEMA_VERSION


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        await db.connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        await db.connection.commit()
    with pytest.raises(RuntimeError, match="newer than this neurostream"):
        await Database.open(tmp_path / "ns.db")


async def test_job_round_trip_and_lineage(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs = JobRepository(db)
        recipe = Recipe(prompt="cat", seed=5, scheduler="ddim")
        parent = await jobs.add(recipe, REQUESTER)
        child = await jobs.add(recipe.with_seed(6), REQUESTER, parent_id=parent.id)
        loaded = await jobs.get(child.id)
        assert loaded == child
        assert loaded.requester == REQUESTER
        assert [j.id for j in await jobs.children(parent.id)] == [child.id]


async def test_state_machine_is_enforced(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs = JobRepository(db)
        job = await jobs.add(Recipe(prompt="cat"), REQUESTER)
        running = await jobs.transition(job.id, JobState.RUNNING, attempts=1, started_at=1.0)
        assert running.state is JobState.RUNNING and running.attempts == 1
        done = await jobs.transition(job.id, JobState.DONE, recipe=Recipe(prompt="cat", seed=9),
                                     output_path="x.png")
        assert done.recipe.seed == 9 and done.output_path == "x.png"
        with pytest.raises(ValueError, match="cannot go from done to running"):
            await jobs.transition(job.id, JobState.RUNNING)


async def test_restart_requeues_running_in_original_order(tmp_path: Path) -> None:
    path = tmp_path / "ns.db"
    async with await Database.open(path) as db:
        jobs = JobRepository(db)
        ids = [(await jobs.add(Recipe(prompt=f"p{i}"), REQUESTER)).id for i in range(4)]
        cli = await jobs.add(Recipe(prompt="cli"), Requester())
        await jobs.transition(ids[0], JobState.RUNNING)
        await jobs.transition(ids[0], JobState.DONE)
        await jobs.transition(ids[2], JobState.RUNNING, started_at=5.0)
    # A new process on the same file: the running job is queued again, in its original place.
    async with await Database.open(path) as db:
        recovered = await JobRepository(db).requeue_unfinished(["discord"])
        assert [j.id for j in recovered] == [ids[1], ids[2], ids[3]]
        assert all(j.state is JobState.QUEUED and j.started_at is None for j in recovered)
        assert cli.id not in [j.id for j in recovered]


async def test_a_batch_moves_in_one_statement_or_not_at_all(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs = JobRepository(db)
        ids = [(await jobs.add(Recipe(prompt=f"p{i}"), REQUESTER)).id for i in range(3)]
        started = await jobs.transition_many(ids, JobState.RUNNING, attempts_delta=1,
                                             started_at=7.0)
        assert [(j.id, j.state, j.attempts, j.started_at) for j in started] == [
            (i, JobState.RUNNING, 1, 7.0) for i in ids]
        await jobs.transition(ids[1], JobState.DONE)
        # One job may not go back to queued: strictly, nothing moves and the reason is named.
        with pytest.raises(ValueError, match=f"job {ids[1]} cannot go from done to queued"):
            await jobs.transition_many(ids, JobState.QUEUED, attempts_delta=-1)
        assert [(await jobs.get(i)).state for i in ids] == [  # type: ignore[union-attr]
            JobState.RUNNING, JobState.DONE, JobState.RUNNING]
        with pytest.raises(KeyError, match="no job 99"):
            await jobs.transition_many([ids[0], 99], JobState.QUEUED)
        # Leniently, the jobs that may move do, and the attempt is given back (never below 0).
        requeued = await jobs.transition_many(ids, JobState.QUEUED, attempts_delta=-1,
                                              started_at=None, strict=False)
        assert [(j.id, j.state, j.attempts, j.started_at) for j in requeued] == [
            (ids[0], JobState.QUEUED, 0, None), (ids[2], JobState.QUEUED, 0, None)]
        again = await jobs.transition_many([ids[0]], JobState.RUNNING, attempts_delta=-5)
        assert again[0].attempts == 0
