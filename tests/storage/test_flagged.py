"""The safety checker's verdict in SQLite: recorded on the job (schema 6), and every shared view
of results (party galleries, /best, /history, the star board's lookups, the wall) leaves a
flagged image out."""

from __future__ import annotations

from pathlib import Path

from bot.domain import JobState, Recipe, Requester
from bot.storage import Database, JobRepository
from bot.storage.lineage import LineageRepository
from bot.storage.migrations import SCHEMA_VERSION
from bot.storage.party import PartyRepository
from tests.storage.test_party import CHANNEL, GUILD, _done, _party


async def test_the_flag_is_recorded_with_the_job(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        assert await db.schema_version() == SCHEMA_VERSION
        jobs = JobRepository(db)
        job = await jobs.add(Recipe(prompt="a cat", seed=1), Requester(channel_id=CHANNEL))
        assert not job.flagged
        await jobs.transition(job.id, JobState.RUNNING)
        done = await jobs.transition(job.id, JobState.DONE, output_path="/x.png", flagged=1)
        assert done.flagged
        again = await jobs.get(job.id)
        assert again is not None and again.flagged
        plain = await jobs.add(Recipe(prompt="a dog", seed=1), Requester(channel_id=CHANNEL))
        fetched = await jobs.get(plain.id)
        assert fetched is not None and not fetched.flagged  # the column's default


async def test_a_flagged_result_is_left_out_of_every_shared_view(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs, parties = JobRepository(db), PartyRepository(db)
        party_id, group_id = await _party(db)
        kept = await _done(jobs, "kept", finished=100.0)
        flagged = await _done(jobs, "flagged", finished=101.0)
        await jobs.update(flagged, flagged=1)
        for job_id in (kept, flagged):
            await LineageRepository(db).add_member(group_id, job_id, job_id)
            await parties.toggle_vote(job_id, 5)
            await jobs.update(job_id, message_id=900 + job_id)
        await parties.set_wall(CHANNEL, guild_id=GUILD, enabled_by=1, enabled=True)
        party = await parties.get(party_id)
        assert party is not None
        assert [i.job_id for i in await parties.images(party)] == [kept]
        assert [i.job_id for i in await parties.best(GUILD, channel_id=None, since=None,
                                                     limit=10)] == [kept]
        assert [i.job_id for i in await parties.history(1, guild_id=GUILD, limit=10)] == [kept]
        assert [i.job_id for i in await parties.wall_images(after=None, limit=10)] == [kept]
        assert [i.job_id for i in await parties.wall_images(after=50.0, limit=10)] == [kept]
        assert await parties.image(flagged) is None and await parties.image(kept) is not None
        assert await parties.wall_image(flagged) is None
        assert await parties.is_flagged(flagged) and not await parties.is_flagged(kept)
