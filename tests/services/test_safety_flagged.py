"""Flagged images stay out of every shared view, with the real app and a checker that flags what
it is told to: the exported gallery, /best, the star board and the live wall's feed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.__main__ import main
from bot.domain.errors import UserError
from bot.domain.recipe import Recipe
from bot.services.party import Repost
from bot.services.wall import WallService
from bot.storage.party import PartyRepository
from tests.render.test_gallery import GalleryPage
from tests.services.test_party import CHANNEL, GUILD, PM, _app, _make


class _FlagPrompts:
    """Flags the images whose prompt starts with "flagged"."""

    name = "test:flag-prompts"

    def check(self, images: Sequence[Image.Image], recipes: Sequence[Recipe]) -> list[bool]:
        return [recipe.prompt.startswith("flagged") for recipe in recipes]


async def test_a_flagged_image_is_in_no_gallery_best_star_board_or_wall(
        tmp_path: Path, shared_engine: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(shared_engine, "safety", _FlagPrompts())
    posted: list[Repost] = []

    async def reposter(item: Repost) -> int:
        posted.append(item)
        return 4242

    async with _app(tmp_path, shared_engine) as app:
        app.party.reposter = reposter
        party = await app.party.start(guild_id=GUILD, channel_id=CHANNEL, topic="safety",
                                      hours=None, theme=None, user_id=PM, user_name="pm")
        kept, flagged = await _make(app, "kept"), await _make(app, "flagged")
        assert (kept.flagged, flagged.flagged) == (False, True)
        await app.party.set_starboard(GUILD, 99, 1, user_id=PM)
        await app.party.vote(kept.id, 20)  # one vote reaches this board
        with pytest.raises(UserError, match="safety checker flagged this image"):
            await app.party.vote(flagged.id, 20)
        # Even a vote recorded some other way does not bring it to /best.
        await PartyRepository(app.database).toggle_vote(flagged.id, 21)
        best = await app.party.best(GUILD, period="all")
        wall = WallService(PartyRepository(app.database))
        feed = [image.job_id for image in await wall.recent()]  # a running party's channel
        served = await wall.image(flagged.id), await wall.image(kept.id)
        await app.party.end(CHANNEL, actor_id=PM, moderator=False)
    assert [image.job_id for image in best] == [kept.id]
    assert [item.image.job_id for item in posted] == [kept.id]
    assert feed == [kept.id]
    assert served[0] is None and served[1] is not None
    assert Path(flagged.output_path or "").is_file()  # kept on the server, only never shown
    config = tmp_path / "config.toml"
    config.write_text('[storage]\ndatabase = "p.db"\noutput_dir = "out"\n')
    assert await asyncio.to_thread(main, ["export", "--party", str(party.id), "--out",
                                          str(tmp_path / "pub"), "--config", str(config)]) == 0
    page = GalleryPage(Path(capsys.readouterr().out.strip()).read_text())
    assert set(page.figures) == {kept.id}
