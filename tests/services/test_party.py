"""The party service with the real app (aiosqlite, queue, tiny pipeline): the one door's party
hook, refines:, the star board's one repost, a party's hours, the export."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.app import App, open_app
from bot.config import settings_from_dict
from bot.domain.errors import UserError
from bot.domain.jobs import Job, Requester
from bot.domain.lineage import LinkKind
from bot.domain.party import edges
from bot.domain.requests import DreamRequest, JobRequest
from bot.services.party import Repost
from tests.render.test_gallery import GalleryPage

GUILD, CHANNEL, ELSEWHERE = 1, 10, 11
PM, GUEST = 7, 8


@contextlib.asynccontextmanager
async def _app(tmp_path: Path, engine: Any) -> AsyncIterator[App]:
    settings = settings_from_dict(
        {"storage": {"database": "p.db", "output_dir": "out"},
         "model": {"width": 64, "height": 64, "steps": 2}, "queue": {"max_batch": 1}},
        base_dir=tmp_path)
    async with open_app(settings, sources=("discord",), recover=False,
                        factory=lambda: engine) as app:
        yield app


async def _make(app: App, prompt: str, *, user: int = GUEST, channel: int = CHANNEL,
                links: tuple[Any, ...] = ()) -> Job:
    requester = Requester(user_id=user, user_name=f"u{user}", guild_id=GUILD,
                          channel_id=channel, source="discord")
    job, = await app.generation.submit(JobRequest(DreamRequest(prompt), requester, links=links))
    return await app.generation.wait(job.id)


async def test_while_a_party_runs_its_theme_and_group_take_every_job_there(
        tmp_path: Path, shared_engine: Any) -> None:
    async with _app(tmp_path, shared_engine) as app:
        party = await app.party.start(guild_id=GUILD, channel_id=CHANNEL, topic="love",
                                      hours=None, theme="oil painting", user_id=PM,
                                      user_name="pm")
        inside = await _make(app, "two old people")
        outside = await _make(app, "two old people", channel=ELSEWHERE)
        members = await app.party.tree(CHANNEL)
        await app.party.end(CHANNEL, actor_id=PM, moderator=False)
        after = await _make(app, "two old people")
    assert inside.recipe.prompt == "oil painting, two old people"
    assert inside.recipe.theme == "party: love"
    assert outside.recipe.prompt == after.recipe.prompt == "two old people"
    assert [root.job_id for root in members[1]] == [inside.id]
    assert party.group_id and members[2].startswith(b"\x89PNG")


async def test_refines_is_the_prompt_masters_during_a_party(tmp_path: Path,
                                                           shared_engine: Any) -> None:
    async with _app(tmp_path, shared_engine) as app:
        await app.party.start(guild_id=GUILD, channel_id=CHANNEL, topic="loneliness",
                              hours=None, theme=None, user_id=PM, user_name="pm")
        first = await _make(app, "loneliness", user=PM)
        with pytest.raises(UserError, match="only the Prompt Master"):
            await app.party.refine_links(CHANNEL, GUEST, first.id)
        with pytest.raises(UserError, match="not a finished image"):
            await app.party.refine_links(CHANNEL, PM, first.id + 100)
        links = await app.party.refine_links(CHANNEL, PM, first.id)
        refined = await _make(app, "two old people, loneliness", user=PM, links=links)
        _, roots, _ = await app.party.tree(CHANNEL)
    assert edges(roots) == [(first.id, refined.id, LinkKind.REFINE)]
    assert roots[0].children[0].label == "+two +old +people"


async def test_the_star_board_reposts_once_when_votes_race(tmp_path: Path,
                                                          shared_engine: Any) -> None:
    posted: list[Repost] = []

    async def reposter(item: Repost) -> int:
        await asyncio.sleep(0)  # let the racing votes interleave with the posting
        posted.append(item)
        return 4242

    async with _app(tmp_path, shared_engine) as app:
        app.party.reposter = reposter
        job = await _make(app, "a star")
        assert await app.party.set_starboard(GUILD, 99, 3, user_id=PM) == 3
        votes = await asyncio.gather(*(app.party.vote(job.id, user) for user in range(20, 26)))
        await app.party.vote(job.id, 20)  # one takes the vote back: 5, under no new threshold
        await app.party.vote(job.id, 20)  # and gives it again: 6, already reposted
        await app.party.resume_reposts()  # nothing left unposted
    assert all(vote.voted for vote in votes) and max(vote.count for vote in votes) == 6
    assert len(posted) == 1 and posted[0].channel_id == 99 and posted[0].data
    assert posted[0].votes >= 3 and posted[0].image.job_id == job.id


async def test_a_party_past_its_hours_ends_and_publishes(tmp_path: Path,
                                                         shared_engine: Any) -> None:
    async with _app(tmp_path, shared_engine) as app:
        now = [1_000_000.0]
        app.party.clock = lambda: now[0]
        party = await app.party.start(guild_id=GUILD, channel_id=CHANNEL, topic="time",
                                      hours=1, theme=None, user_id=PM, user_name="pm")
        assert app.party.due() == [] and app.party.party_in(CHANNEL) == party
        now[0] += 3600
        assert app.party.party_in(CHANNEL) is None  # past its hours: jobs no longer join
        assert app.party.due() == [party]
        # A new party before the timer came round: the old one still ends and publishes.
        second = await app.party.start(guild_id=GUILD, channel_id=CHANNEL, topic="again",
                                       hours=None, theme=None, user_id=GUEST,
                                       user_name="guest")
        assert app.party.due() == [party] and app.party.party_in(CHANNEL) == second
        ended = await app.party.end_due(party)
        assert app.party.due() == [] and app.party.party_in(CHANNEL) == second
    assert ended.published.html_path == app.settings.output_dir / "parties" / (
        f"party-{party.id}.html")
    assert ended.published.attach == ended.published.html_path
    assert ended.summary.duration == 3600


async def test_the_export_leaves_deleted_images_out(tmp_path: Path, shared_engine: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    async with _app(tmp_path, shared_engine) as app:
        party = await app.party.start(guild_id=GUILD, channel_id=CHANNEL, topic="export",
                                      hours=None, theme=None, user_id=PM, user_name="pm")
        kept, gone = await _make(app, "kept"), await _make(app, "deleted by its author")
        await app.party.forget(gone.id, user_id=GUEST)
        await app.party.end(CHANNEL, actor_id=PM, moderator=False)
    config = tmp_path / "config.toml"
    config.write_text('[storage]\ndatabase = "p.db"\noutput_dir = "out"\n')
    # The CLI runs its own event loop: in a thread, as from a shell.
    assert await asyncio.to_thread(main, ["export", "--party", str(party.id), "--out",
                                          str(tmp_path / "pub"), "--config", str(config)]) == 0
    written = Path(capsys.readouterr().out.strip())
    assert written == tmp_path / "pub" / f"party-{party.id}.html"
    page = GalleryPage(written.read_text())
    assert set(page.figures) == {kept.id}
    assert await asyncio.to_thread(main, ["export", "--party", "999", "--out", str(tmp_path),
                                          "--config", str(config)]) == 2
