"""The moderation tables on a real SQLite file; the database file is private to its user."""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from bot.domain.jobs import Requester
from bot.domain.moderation import Actor, Denial
from bot.domain.quotas import QuotaLimits
from bot.domain.recipe import Recipe
from bot.domain.scheduling import PRIORITY_STREAM
from bot.storage.database import Database
from bot.storage.jobs import JobRepository
from bot.storage.migrations import SCHEMA_VERSION
from bot.storage.moderation import GuildSettings, ModerationRepository

DATA = Path(__file__).parent / "data"
MOD = Actor(9, "mod")


async def test_rules_settings_exemptions_and_denials_round_trip(database: Database) -> None:
    repo = ModerationRepository(database)
    assert await repo.add_rule(1, "cat", "C.A.T", added_by=9)
    assert not await repo.add_rule(1, "cat", "cat", added_by=9)  # the same key
    assert await repo.add_rule(1, "re:x+", "re:x+", added_by=9)
    assert await repo.add_rule(2, "cat", "cat", added_by=None)
    await repo.save_settings(GuildSettings(1, QuotaLimits(1, 0, 5), nsfw_allowed=True))
    await repo.save_settings(GuildSettings(1, QuotaLimits(2, 0, 5), nsfw_allowed=True,
                                           default_blocklist=False))  # replaced
    await repo.save_settings(GuildSettings(3))
    assert await repo.set_exempt(1, 100, True, added_by=9)
    assert not await repo.set_exempt(1, 100, True, added_by=9)
    assert await repo.set_exempt(1, 101, True, added_by=9)
    assert await repo.set_exempt(1, 101, False, added_by=9)
    denial = Denial(1, 7, "spam", until=5000.0, by=MOD, at=1000.0)
    await repo.deny(denial)
    await repo.deny(Denial(1, 8, at=1.0))
    assert await repo.allow(1, 8)
    assert not await repo.allow(1, 8)

    loaded = await repo.load()
    assert [(r.key, r.text) for r in loaded[1].rules] == [("cat", "C.A.T"), ("re:x+", "re:x+")]
    assert loaded[1].settings == GuildSettings(1, QuotaLimits(2, 0, 5), nsfw_allowed=True,
                                               default_blocklist=False)
    assert loaded[3].settings == GuildSettings(3)  # no override: the config's quotas
    assert loaded[1].exempt_roles == {100}
    assert loaded[1].denied == {7: denial}
    assert await repo.remove_rule(1, "cat")
    assert not await repo.remove_rule(1, "cat")
    assert [r.key for r in (await repo.load())[1].rules] == ["re:x+"]


async def test_the_audit_log_is_per_server_newest_first(database: Database) -> None:
    repo = ModerationRepository(database)
    first = await repo.audit(1, MOD, "mod deny", target="alice (7)", detail="spam")
    await repo.audit(2, MOD, "quota set")
    second = await repo.audit(1, Actor(10, "other"), "mod allow", target="alice (7)")
    assert await repo.audit_log(1) == [second, first]
    assert [e.action for e in await repo.audit_log(1, limit=1)] == ["mod allow"]
    assert first.actor == MOD and first.detail == "spam"


async def test_recent_requests_and_jobs_come_from_the_jobs_table(database: Database) -> None:
    jobs = JobRepository(database)
    repo = ModerationRepository(database)
    alice = Requester(user_id=7, guild_id=1, channel_id=10, source="discord")
    made = [await jobs.add(Recipe(prompt=f"p{i}"), alice) for i in range(3)]
    await jobs.add(Recipe(prompt="elsewhere"), Requester(user_id=7, guild_id=2))
    await jobs.add(Recipe(prompt="stream"), Requester(guild_id=1), priority=PRIORITY_STREAM)
    await jobs.add(Recipe(prompt="cli"), Requester())
    recent = await repo.recent_jobs(1, 7, limit=2)
    assert [job.id for job in recent] == [made[2].id, made[1].id]
    counted = await repo.recent_requests(time.time() - 60)
    assert [(g, u) for g, u, _ in counted] == [(1, 7)] * 3 + [(2, 7)]
    assert await repo.recent_requests(time.time() + 1) == []


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
async def test_a_new_database_file_is_readable_by_its_user_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "ns.db"
    old_umask = os.umask(0o022)  # a usual umask would leave it world-readable
    try:
        database = await Database.open(path)
    finally:
        os.umask(old_umask)
    try:
        await JobRepository(database).add(Recipe(prompt="x"), Requester())
        for file in (path, path.with_name("ns.db-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        await database.close()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
async def test_an_existing_readable_file_is_kept_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ns.db"
    shutil.copy(DATA / "release-0.1-schema2.db", path)
    path.chmod(0o644)
    async with await Database.open(path) as database:
        assert await database.schema_version() == SCHEMA_VERSION  # upgraded in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert "can be read by other users (mode 644); chmod 600 it" in caplog.text
