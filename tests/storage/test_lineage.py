"""Lineage, groups and the upgrade of a database written by the previous release."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.domain import JobState, Recipe, Requester
from bot.domain.lineage import GroupKind, Link, LinkKind
from bot.storage import Database, JobRepository
from bot.storage.lineage import LineageRepository
from bot.storage.migrations import SCHEMA_VERSION
from bot.storage.streams import StreamRepository
from bot.storage.themes import ThemeRepository

RELEASE_DB = Path(__file__).parent / "data" / "release-0.1-schema2.db"


async def test_a_job_can_have_several_parents_of_different_kinds(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs, lineage = JobRepository(db), LineageRepository(db)
        a = await jobs.add(Recipe(prompt="a cat"), Requester())
        b = await jobs.add(Recipe(prompt="a dog"), Requester())
        morph = await jobs.add(Recipe(prompt="a cat"), Requester())
        await lineage.add_links(morph.id, [Link(b.id, LinkKind.MORPH, 1),
                                           Link(a.id, LinkKind.MORPH, 0)])
        assert await lineage.parents(morph.id) == [Link(a.id, LinkKind.MORPH, 0),
                                                   Link(b.id, LinkKind.MORPH, 1)]
        assert await lineage.children(a.id) == [morph.id]
        assert await lineage.children(a.id, LinkKind.REROLL) == []
        assert await lineage.parents(a.id) == []


async def test_a_group_keeps_its_members_in_order(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs, lineage = JobRepository(db), LineageRepository(db)
        cells = [await jobs.add(Recipe(prompt=f"cell {i}"), Requester()) for i in range(4)]
        group = await lineage.add_group(GroupKind.GRID, guild_id=1, channel_id=2, created_by=3,
                                        title="2×2", data={"seed": 7})
        for position, job in reversed(list(enumerate(cells))):
            await lineage.add_member(group.id, job.id, position)
        await lineage.update_group(group.id, message_id=99)
        stored = await lineage.group(group.id)
        assert stored is not None
        assert stored.members == tuple(job.id for job in cells)
        assert (stored.kind, stored.title, stored.data, stored.message_id) == (
            GroupKind.GRID, "2×2", {"seed": 7}, 99)
        assert await lineage.groups_of(cells[2].id) == [group.id]
        assert await lineage.group(group.id + 1) is None


async def test_a_database_of_the_previous_release_upgrades_in_place(tmp_path: Path) -> None:
    """The file was written by release 0.1 (schema 2): a done job, its reroll, a queued CLI
    job, a channel theme and a stream pool. Everything is kept; the reroll becomes a link."""
    path = tmp_path / "old.db"
    shutil.copy(RELEASE_DB, path)
    async with await Database.open(path) as db:
        assert await db.schema_version() == SCHEMA_VERSION
        jobs, lineage = JobRepository(db), LineageRepository(db)
        done, reroll, queued = [await jobs.get(i) for i in (1, 2, 3)]
        assert done is not None and reroll is not None and queued is not None
        assert (done.state, done.message_id, done.recipe.seed) == (JobState.DONE, 555, 7)
        assert reroll.parent_id == done.id and reroll.state is JobState.QUEUED
        assert await lineage.parents(reroll.id) == [Link(done.id, LinkKind.REROLL, 0)]
        assert queued.recipe.prompt == "a red fox in snow" and queued.requester.source == "cli"
        themes = await ThemeRepository(db).all()
        assert [t.theme.prefix for t in themes] == ["a cat,"]
        assert [e.prompt for e in await StreamRepository(db).pool(10)] == [
            "a {tabby|calico} kitten"]
        # It goes on working: a new job lands after the old ones.
        new = await jobs.add(Recipe(prompt="new"), Requester())
        assert new.id == 4
        assert [j.id for j in await jobs.in_states([JobState.QUEUED])] == [2, 3, 4]
