"""Parties, votes, star board claims and wall channels in a real SQLite file; what survives a
kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.domain import JobState, Recipe, Requester
from bot.domain.lineage import GroupKind
from bot.domain.party import PartyRole
from bot.domain.themes import Theme
from bot.storage import Database, JobRepository
from bot.storage.lineage import LineageRepository
from bot.storage.party import PartyAlreadyRunning, PartyRepository

GUILD, CHANNEL, OTHER = 10, 20, 30


async def _done(jobs: JobRepository, prompt: str, *, channel: int = CHANNEL, user: int = 1,
                finished: float | None = None) -> int:
    job = await jobs.add(Recipe(prompt=prompt, seed=1),
                         Requester(user_id=user, user_name=f"u{user}", guild_id=GUILD,
                                   channel_id=channel, source="discord"))
    await jobs.transition(job.id, JobState.RUNNING)
    fields = {"finished_at": finished} if finished is not None else {}
    await jobs.transition(job.id, JobState.DONE, output_path=f"/nowhere/{job.id}.png", **fields)
    return job.id


async def _party(db: Database, channel: int = CHANNEL, **extra: object) -> tuple[int, int]:
    group = await LineageRepository(db).add_group(GroupKind.PARTY, guild_id=GUILD,
                                                  channel_id=channel, created_by=1, commit=False)
    party = await PartyRepository(db).add(
        guild_id=GUILD, channel_id=channel, topic="loneliness", theme=extra.get("theme"),  # type: ignore[arg-type]
        group_id=group.id, started_by=1, started_by_name="pm", ends_at=None)
    return party.id, group.id


async def test_one_party_per_channel_is_held_by_the_database(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        parties = PartyRepository(db)
        party_id, _ = await _party(db, theme=Theme(prefix="oil painting", name="party: x"))
        with pytest.raises(PartyAlreadyRunning):
            await _party(db)
        await _party(db, channel=OTHER)  # another channel may have its own
        party = await parties.get(party_id)
        assert party is not None and party.theme == Theme(prefix="oil painting",
                                                          name="party: x")
        assert party.roles == {PartyRole.PROMPT_MASTER: 1}
        assert await parties.end(party_id, ended_by=1, at=5.0)
        assert not await parties.end(party_id, ended_by=1, at=6.0)  # ending twice: nothing
        await _party(db)  # the channel is free again
        assert [p.channel_id for p in await parties.running()] == [OTHER, CHANNEL]


async def test_a_role_has_one_holder_and_hands_on(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        parties = PartyRepository(db)
        party_id, _ = await _party(db)
        await parties.set_role(party_id, PartyRole.ART_EXPERT, 2, "bob", granted_by=1)
        await parties.set_role(party_id, PartyRole.PROMPT_MASTER, 3, "cat", granted_by=1)
        party = await parties.get(party_id)
        assert party is not None
        assert party.roles == {PartyRole.PROMPT_MASTER: 3, PartyRole.ART_EXPERT: 2}
        assert party.role_names[PartyRole.PROMPT_MASTER] == "cat"


async def test_a_double_press_takes_the_vote_back_and_never_counts_twice(tmp_path: Path
                                                                          ) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs, parties = JobRepository(db), PartyRepository(db)
        job = await _done(jobs, "a cat")
        assert await parties.toggle_vote(job, 7) == (True, 1)
        assert await parties.toggle_vote(job, 7) == (False, 0)
        # Racing presses: eight people once each, and one person twice at the same moment.
        results = await asyncio.gather(*(parties.toggle_vote(job, user)
                                         for user in (*range(100, 108), 9, 9)))
        assert sorted(voted for voted, _ in results[-2:]) == [False, True]
        assert await parties.vote_count(job) == 8


async def test_a_star_board_claim_is_won_once_even_when_racing(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs, parties = JobRepository(db), PartyRepository(db)
        job = await _done(jobs, "a cat")
        claims = await asyncio.gather(*(parties.claim_starboard(job, guild_id=GUILD,
                                                                channel_id=99)
                                        for _ in range(10)))
        assert claims.count(True) == 1
        assert await parties.unposted_starboard() == [(job, 99)]
        await parties.record_starboard_message(job, 1234)
        assert await parties.unposted_starboard() == []
        assert not await parties.claim_starboard(job, guild_id=GUILD, channel_id=99)


async def test_party_images_leave_out_deleted_and_unfinished_ones(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs, parties, lineage = JobRepository(db), PartyRepository(db), LineageRepository(db)
        party_id, group_id = await _party(db)
        kept, deleted = await _done(jobs, "kept"), await _done(jobs, "deleted")
        waiting = await jobs.add(Recipe(prompt="waiting"), Requester(channel_id=CHANNEL))
        outside = await _done(jobs, "not in the party")
        for job_id in (kept, deleted, waiting.id):
            await lineage.add_member(group_id, job_id, job_id)
        await parties.toggle_vote(kept, 5)
        assert await parties.toggle_pick(party_id, kept, user_id=2)
        await parties.mark_deleted(deleted, deleted_by=1)
        party = await parties.get(party_id)
        assert party is not None
        images = await parties.images(party)
        assert [(i.job_id, i.votes, i.picked, i.words) for i in images] == [
            (kept, 1, True, "kept")]
        assert (await parties.of_job(kept)) == party
        assert await parties.of_job(outside) is None
        assert await parties.image(deleted) is None
        assert not await parties.toggle_pick(party_id, kept, user_id=2)  # taken back


async def test_best_and_history_rank_and_filter(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs, parties = JobRepository(db), PartyRepository(db)
        one, two, three = [await _done(jobs, p) for p in ("one", "two", "three")]
        elsewhere = await _done(jobs, "four", channel=OTHER, user=2)
        for user in (1, 2):
            await parties.toggle_vote(two, user)
        await parties.toggle_vote(one, 1)
        await parties.toggle_vote(elsewhere, 1)
        best = await parties.best(GUILD, channel_id=CHANNEL, since=None, limit=10)
        assert [(i.job_id, i.votes) for i in best] == [(two, 2), (one, 1)]  # three: no votes
        assert len(await parties.best(GUILD, channel_id=None, since=None, limit=10)) == 3
        assert await parties.best(GUILD, channel_id=None, since=10**12, limit=10) == []
        for job_id in (one, three):
            await jobs.update(job_id, message_id=500 + job_id)
        assert [i.job_id for i in await parties.history(1, guild_id=GUILD, limit=10)] == [
            three, one]  # newest first, delivered only


async def test_the_wall_shows_opted_in_channels_and_running_parties(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        jobs, parties = JobRepository(db), PartyRepository(db)
        quiet = await _done(jobs, "quiet channel", channel=55, finished=100.0)
        walled = await _done(jobs, "walled", channel=OTHER, finished=101.0)
        partying = await _done(jobs, "party", channel=CHANNEL, finished=102.0)
        assert await parties.wall_images(after=None, limit=10) == []
        assert await parties.set_wall(OTHER, guild_id=GUILD, enabled_by=1, enabled=True)
        assert not await parties.set_wall(OTHER, guild_id=GUILD, enabled_by=1, enabled=True)
        party_id, group_id = await _party(db)
        await LineageRepository(db).add_member(group_id, partying, partying)
        assert [i.job_id for i in await parties.wall_images(after=None, limit=10)] == [
            walled, partying]
        assert [i.job_id for i in await parties.wall_images(after=None, limit=1)] == [partying]
        assert [i.job_id for i in await parties.wall_images(after=101.0, limit=10)] == [
            partying]
        assert await parties.wall_image(quiet) is None
        await parties.end(party_id, ended_by=1, at=200.0)
        assert await parties.wall_image(partying) is not None  # a party's image stays viewable
        assert [i.job_id for i in await parties.wall_images(after=None, limit=10)] == [walled]


CRASHING_WRITER = textwrap.dedent("""
    import asyncio, os, signal, sys
    from bot.domain.party import PartyRole
    from bot.storage import Database
    from bot.storage.party import PartyRepository

    async def main():
        db = await Database.open(__import__("pathlib").Path(sys.argv[1]))
        parties = PartyRepository(db)
        await parties.add_associations(1, ["rain", "Hopper"], user_id=3, user_name="cat")
        await parties.toggle_vote(int(sys.argv[2]), 4)
        await parties.set_role(1, PartyRole.ART_EXPERT, 2, "bob", granted_by=1)
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint

    asyncio.run(main())
""")


async def test_votes_roles_and_the_board_survive_a_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "ns.db"
    async with await Database.open(path) as db:
        party_id, _ = await _party(db)
        job = await _done(JobRepository(db), "a cat")
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_WRITER, str(path), str(job),
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    out, _ = await done.communicate()
    assert done.returncode == -signal.SIGKILL and out == b"written\n"
    async with await Database.open(path) as db:
        parties = PartyRepository(db)
        party = await parties.get(party_id)
        assert party is not None and party.roles[PartyRole.ART_EXPERT] == 2
        assert [a.text for a in await parties.associations(party_id)] == ["rain", "Hopper"]
        assert await parties.vote_count(job) == 1
