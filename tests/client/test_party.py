"""A whole neurogenerative party over the wire-level fake: start, three members generate and
reroll, associations, votes, a role hand-over, the end with its summary and gallery; the star
board; a restart mid-party."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from cogs.party import party_note
from tests.client.conftest import Env
from tests.client.test_dream import _result
from tests.fake_discord import FakeDiscord, InteractionHandle
from tests.fake_discord.models import FakeMember, StoredMessage
from tests.render.test_gallery import GalleryPage

SMALL = {"width": 64, "height": 64, "steps": 2}
MANAGE_GUILD = 1 << 5


def _vote_id(message: StoredMessage) -> str:
    return next(c for c in message.custom_ids() if c.startswith("party:vote:"))


def _job(message: StoredMessage) -> int:
    return int(_vote_id(message).rsplit(":", 1)[1])


def _label(fake: FakeDiscord, message: StoredMessage, custom_id: str) -> str:
    component = fake.get_message(message.id).find_component(custom_id) or {}
    return str(component.get("label") or "")


async def _command(fake: FakeDiscord, env: Env, who: FakeMember, name: str,
                   options: dict[str, Any] | None = None) -> InteractionHandle:
    handle = await fake.send_command(env.world.guild, env.world.channel, who, name, options)
    await handle.wait_acked(timeout=3)
    return handle


async def _text(handle: InteractionHandle) -> str:
    message = await handle.wait_original(lambda m: not m.is_loading, timeout=10)
    return message.content


async def _dream(fake: FakeDiscord, env: Env, who: FakeMember, prompt: str) -> StoredMessage:
    return await _result(await fake.send_command(env.world.guild, env.world.channel, who,
                                                 "dream", {"prompt": prompt, **SMALL}))


async def _press(fake: FakeDiscord, message: StoredMessage, custom_id: str,
                 who: FakeMember) -> InteractionHandle:
    click = await fake.click(fake.get_message(message.id), custom_id, who)
    await click.wait_acked(timeout=3)
    return click


def _votes(env: Env) -> dict[int, int]:
    with sqlite3.connect(env.settings.database_path) as db:
        return dict(db.execute("SELECT job_id, COUNT(*) FROM votes GROUP BY job_id").fetchall())


async def test_a_whole_party_from_the_first_word_to_the_published_gallery(env: Env) -> None:
    fake, world = env.fake, env.world
    alice, mod = world.alice, world.mod
    bob, carol = fake.add_member(world.guild, "bob"), fake.add_member(world.guild, "carol")
    async with env.run_bot():
        started = await _text(await _command(fake, env, alice, "party start",
                                             {"topic": "loneliness <script>"}))
        assert "loneliness \\<script>" in started and f"<@{alice.id}>" in started
        refused = await _command(fake, env, bob, "party start", {"topic": "love"})
        assert refused.is_ephemeral and "already running" in await _text(refused)

        first = await _dream(fake, env, alice, "loneliness")
        second = await _dream(fake, env, bob, "two old people <script>alert(1)</script>")
        reroll = next(c for c in first.custom_ids() if c.startswith("ns:reroll:"))
        third = await _result(await fake.click(first, reroll, carol))  # carol refines by reroll
        jobs = [_job(m) for m in (first, second, third)]
        assert all(f"party:pick:{job}" in m.custom_ids()
                   for job, m in zip(jobs, (first, second, third), strict=True))

        for who, words in ((bob, "rain, Hopper"), (carol, "RAIN"), (alice, "silence")):
            await _command(fake, env, who, "party associate", {"words": words})
        board = await _text(await _command(fake, env, mod, "party board"))
        assert board.index("**rain** ×2 (2 people)") < board.index("**Hopper** ×1")

        # Votes: bob and carol for the second, alice for the third; carol presses the first
        # twice (the second press takes the vote back).
        for who, message in ((bob, second), (carol, second), (alice, third), (carol, first),
                             (carol, first)):
            await _press(fake, message, _vote_id(message), who)
        await fake.wait_for(lambda: _label(fake, second, _vote_id(second)) == "2", timeout=10,
                            what="the second result's label shows 2 votes")
        assert _votes(env) == {jobs[1]: 2, jobs[2]: 1}

        # Alice hands the Prompt Master role to bob; she can no longer end the party.
        await _command(fake, env, alice, "party role", {"member": bob, "role": "prompt_master"})
        await _command(fake, env, bob, "party role", {"member": carol, "role": "art_expert"})
        not_hers = await _command(fake, env, alice, "party end")
        assert not_hers.is_ephemeral and "only the Prompt Master" in await _text(not_hers)
        pick = f"party:pick:{jobs[2]}"
        refused_pick = await _press(fake, third, pick, alice)
        await refused_pick.wait_followups(1)
        assert "Art Expert" in refused_pick.followups[0].content
        await _press(fake, third, pick, carol)
        await fake.wait_for(lambda: _label(fake, third, pick) == "Picked", timeout=10,
                            what="the pick shown")

        end = await fake.send_command(world.guild, world.channel, bob, "party end")
        summary = await end.wait_original(lambda m: bool(m.embeds), timeout=60)
    embed = summary.embeds[0]
    top = embed["fields"][3]
    assert top["name"].startswith(f"#1 · ★ 2 · job {jobs[1]}")
    assert "two old people \\<script>" in top["value"] and f"<@{bob.id}>" in top["value"]
    assert summary.attachments[0].filename.startswith("party-")
    page = GalleryPage(summary.attachments[0].data.decode())
    assert sorted(set(page.figures)) == sorted(jobs)
    assert f"{jobs[0]}-{jobs[2]}" in page.edges  # the reroll step
    assert "two old people <script>alert(1)</script>" in page.visible
    assert "loneliness <script>" in page.visible
    assert len(page.images) == 3 + 3 and page.scripts == 0


async def test_the_star_board_reposts_once_when_votes_race(env: Env) -> None:
    fake, world = env.fake, env.world
    stars = fake.add_channel(world.guild, "stars")
    owner = fake.add_member(world.guild, "owner", permissions=MANAGE_GUILD)
    voters = [fake.add_member(world.guild, f"v{i}") for i in range(5)]
    async with env.run_bot():
        refused = await _command(fake, env, world.alice, "starboard set",
                                 {"channel": stars, "threshold": 2})
        assert refused.is_ephemeral and "manage_guild" in await _text(refused)
        await _command(fake, env, owner, "starboard set", {"channel": stars, "threshold": 2})
        result = await _dream(fake, env, world.alice, "a star")
        vote = _vote_id(result)
        # Five people press at the same moment: two reach the threshold, three pass it.
        clicks = await asyncio.gather(*(fake.click(result, vote, who) for who in voters))
        for click in clicks:
            await click.wait_acked(timeout=3)
        await fake.wait_for(lambda: _votes(env).get(_job(result)) == 5, timeout=10,
                            what="five votes counted")
        await fake.wait_for(lambda: fake.channel_messages(stars), timeout=10,
                            what="the repost")
        best = await _text(await _command(fake, env, world.mod, "best", {"period": "day"}))
        history = await _command(fake, env, world.alice, "history")
    reposts = fake.channel_messages(stars)
    assert len(reposts) == 1
    assert f"/{world.channel.id}/{result.id}" in reposts[0].content
    assert reposts[0].attachments and reposts[0].embeds[0]["footer"]["text"].endswith(
        f"#{_job(result)}")
    assert "★ 5" in best and "a star" in best
    assert history.is_ephemeral and f"job {_job(result)}" in await _text(history)


async def test_a_party_survives_a_restart(env: Env) -> None:
    fake, world = env.fake, env.world
    bob = fake.add_member(world.guild, "bob")
    async with env.run_bot():
        await _command(fake, env, world.alice, "party start", {"topic": "love"})
        first = await _dream(fake, env, world.alice, "love")
        await _press(fake, first, _vote_id(first), bob)
        await _command(fake, env, world.alice, "party role", {"member": bob,
                                                              "role": "prompt_master"})
        await _command(fake, env, world.alice, "party associate", {"words": "roses"})
    async with env.run_bot() as bot:  # a graceful stop, then a new process's start
        board = await _text(await _command(fake, env, world.mod, "party board"))
        assert "**roses** ×1" in board
        job = await bot.services.generation.job(_job(first))
        assert party_note(bot.services.party)(job) == "🎉 party: love"
        themes = await fake.autocomplete(world.guild, world.channel, bob, "party start",
                                         {"topic": "x", "theme": "lone"}, focused="theme")
        assert themes[0]["value"] == "loneliness"
        await _press(fake, first, _vote_id(first), world.alice)  # the old button still works
        await fake.wait_for(lambda: _label(fake, first, _vote_id(first)) == "2", timeout=10,
                            what="two votes after the restart")
        reroll = next(c for c in first.custom_ids() if c.startswith("ns:reroll:"))
        child = await _result(await fake.click(first, reroll, bob))
        tree = await fake.send_command(world.guild, world.channel, bob, "party tree")
        picture = await tree.wait_original(lambda m: bool(m.attachments), timeout=30)
        assert picture.attachments[0].data.startswith(b"\x89PNG")
        end = await fake.send_command(world.guild, world.channel, bob, "party end")  # bob: PM
        summary = await end.wait_original(lambda m: bool(m.embeds), timeout=60)
    page = GalleryPage(summary.attachments[0].data.decode())
    assert f"{_job(first)}-{_job(child)}" in page.edges
