"""The tool service with the real app: aiosqlite, the attachments store, the queue and the tiny
model; every tool is one submit with its lineage, and its inputs survive a restart."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.app import App, open_app
from bot.config import Settings, settings_from_dict
from bot.domain.a1111 import parse_parameters
from bot.domain.errors import UserError
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.lineage import GroupKind, Link, LinkKind
from bot.domain.recipe import Mode
from bot.domain.requests import DreamRequest, JobRequest
from bot.render.animation import animation_suffix
from bot.render.png import read_parameters
from bot.storage.lineage import LineageRepository

CLI = Requester()
MEMBER = Requester(user_id=7, user_name="ada", guild_id=1, channel_id=10, source="discord")


def _settings(tmp_path: Path) -> Settings:
    return settings_from_dict(
        {"storage": {"database": "t.db", "output_dir": "out"},
         "model": {"width": 64, "height": 64, "steps": 3, "width_max": 128,
                   "height_max": 128}}, base_dir=tmp_path)


@pytest.fixture
async def app(tmp_path: Path, shared_engine: Any) -> AsyncIterator[App]:
    async with open_app(_settings(tmp_path), sources=("cli", "discord"), recover=False,
                        factory=lambda: shared_engine) as opened:
        yield opened


async def _done(app: App, jobs: list[Job]) -> list[Job]:
    finished = [await app.generation.wait(job.id) for job in jobs]
    assert all(job.state is JobState.DONE for job in finished), [j.error for j in finished]
    return finished


async def _dream(app: App, prompt: str = "a red fox", seed: int = 5,
                 requester: Requester = CLI, **options: Any) -> Job:
    request = JobRequest(DreamRequest(prompt=prompt, seed=seed, **options), requester)
    [job] = await _done(app, await app.generation.submit(request))
    return job


def _pixels(job: Job) -> np.ndarray:
    with Image.open(job.output_path or "") as image:
        return np.asarray(image.convert("RGB"), dtype=int)


def _settings_of(job: Job) -> dict[str, str]:
    return parse_parameters(read_parameters(Path(job.output_path or "")) or "")


def _counting() -> tuple[list[int], Callable[[], Any]]:
    calls: list[int] = []

    async def acknowledge() -> None:
        calls.append(1)

    return calls, acknowledge


async def test_vary_zero_is_the_parent_and_variations_are_recorded_and_repeatable(
        app: App) -> None:
    parent = await _dream(app)
    calls, acknowledge = _counting()
    [same] = await _done(app, await app.tools.vary(parent.id, CLI, strength=0.0,
                                                   variation_seed=77, acknowledge=acknowledge))
    [strong] = await _done(app, await app.tools.vary(parent.id, CLI, strength=0.35,
                                                     variation_seed=77))
    [again] = await _done(app, await app.tools.vary(parent.id, CLI, strength=0.35,
                                                    variation_seed=77))
    assert calls == [1]
    assert np.array_equal(_pixels(same), _pixels(parent))
    assert np.array_equal(_pixels(strong), _pixels(again))
    assert np.abs(_pixels(strong) - _pixels(parent)).mean() > 1
    lineage = LineageRepository(app.database)
    assert await lineage.parents(strong.id) == [Link(parent.id, LinkKind.VARIATION)]
    written = _settings_of(strong)
    assert (written["Seed"], written["Variation seed"], written["Variation seed strength"]) == (
        "5", "77", "0.35")


async def test_upscale_keeps_the_parents_image_and_doubles_its_size(app: App) -> None:
    parent = await _dream(app)
    [child] = await _done(app, await app.tools.upscale(parent.id, CLI))
    recipe = child.recipe
    assert (recipe.mode, recipe.width, recipe.height, recipe.seed) == (Mode.UPSCALE, 128, 128, 5)
    assert app.attachments.locate(recipe.init_image or "").read_bytes() == (
        Path(parent.output_path or "").read_bytes())
    assert _pixels(child).shape == (128, 128, 3)
    # 0.3 runs no step of 3; the least strength that runs one is taken instead.
    assert _settings_of(child)["Denoising strength"] == "0.334"
    assert await LineageRepository(app.database).parents(child.id) == [
        Link(parent.id, LinkKind.UPSCALE)]


async def test_an_upscale_queued_before_a_restart_runs_after_it(tmp_path: Path,
                                                                shared_engine: Any) -> None:
    settings = _settings(tmp_path)
    async with open_app(settings, sources=("cli",), recover=False,
                        factory=lambda: shared_engine) as first:
        parent = await _dream(first)
    async with open_app(settings, sources=("cli",), recover=False, wait_for_model=False,
                        start_model=False, factory=lambda: shared_engine) as second:
        [queued] = await second.tools.upscale(parent.id, CLI)  # the model never loads here
    async with open_app(settings, sources=("cli",), recover=True,
                        factory=lambda: shared_engine) as third:
        [child] = await _done(third, [queued])
    assert _pixels(child).shape == (128, 128, 3)


async def test_zoom_out_paints_the_border_of_a_stored_canvas(app: App) -> None:
    parent = await _dream(app)
    [child] = await _done(app, await app.tools.zoom_out(parent.id, CLI))
    recipe = child.recipe
    assert (recipe.mode, recipe.width, recipe.height, recipe.strength) == (
        Mode.INPAINT, 64, 64, 1.0)
    with Image.open(app.attachments.locate(recipe.mask_image or "")) as mask:
        assert mask.size == (64, 64) and mask.getpixel((0, 0)) == 255
        assert mask.getpixel((32, 32)) == 0
    assert app.attachments.locate(recipe.init_image or "").is_file()
    assert await LineageRepository(app.database).parents(child.id) == [
        Link(parent.id, LinkKind.ZOOM)]


async def test_remix_renders_the_edited_prompt_from_the_same_seed(app: App) -> None:
    parent = await _dream(app, negative="blurry")
    [child] = await _done(app, await app.tools.remix(parent.id, CLI, prompt="a red fox, ink",
                                                     negative=None))
    recipe = child.recipe
    assert (recipe.prompt, recipe.negative, recipe.seed) == ("a red fox, ink", "blurry", 5)
    assert app.tools.recipe_of(parent).prompt == "a red fox"
    assert await LineageRepository(app.database).parents(child.id) == [
        Link(parent.id, LinkKind.REMIX)]


async def test_morph_frames_are_one_group_from_one_end_to_the_other(app: App) -> None:
    start = await _dream(app, "a red fox", seed=1)
    end = await _dream(app, "a blue whale", seed=2)
    frames = await _done(app, await app.tools.morph(start.id, end.id, CLI, frames=3))
    lineage = LineageRepository(app.database)
    [group_id] = await lineage.groups_of(frames[0].id)
    group = await lineage.group(group_id)
    assert group is not None and group.kind is GroupKind.MORPH
    assert group.members == tuple(frame.id for frame in frames)
    for frame in frames:
        assert await lineage.parents(frame.id) == [Link(start.id, LinkKind.MORPH, 0),
                                                   Link(end.id, LinkKind.MORPH, 1)]
    for frame, source in ((frames[0], start), (frames[-1], end)):
        diff = np.abs(_pixels(frame) - _pixels(source))
        assert diff.max() <= 1 and diff.mean() < 0.05
    animation, sheet = await app.tools.morph_animation(group_id)
    assert animation_suffix(animation) == ".webp"
    with Image.open(io.BytesIO(animation)) as decoded:
        assert decoded.n_frames == 3 and decoded.size == (64, 64)
    with Image.open(io.BytesIO(sheet)) as contact:
        assert contact.format == "PNG" and contact.width > 2 * 64


async def test_refusals_name_the_job_and_record_nothing(tmp_path: Path,
                                                        shared_engine: Any) -> None:
    async with open_app(_settings(tmp_path), sources=("cli",), recover=False,
                        wait_for_model=False, start_model=False,
                        factory=lambda: shared_engine) as app:
        [queued] = await app.generation.submit(JobRequest(DreamRequest("a fox", seed=1), CLI))
        calls, acknowledge = _counting()
        cases: list[tuple[Any, str]] = [
            (app.tools.vary(999, CLI, strength=0.1), "job 999 is not in this bot's records"),
            (app.tools.vary(queued.id, CLI, strength=0.1, acknowledge=acknowledge),
             f"job {queued.id} is queued; vary needs a finished image"),
            (app.tools.vary(queued.id, CLI, strength=2.0),
             "variation strength must be a number from 0 to 1"),
            (app.tools.upscale(queued.id, CLI), f"job {queued.id} is queued; upscale needs"),
            (app.tools.morph(queued.id, queued.id, CLI, frames=25),
             "frames must be a whole number from 2 to 24, got 25"),
            (app.tools.morph_animation(12345), "there is no morph 12345"),
        ]
        for call, needle in cases:
            with pytest.raises(UserError) as caught:
                await call
            assert needle in str(caught.value)
        assert calls == []
        assert app.queue.waiting() == [queued]


async def test_a_member_reaches_only_their_servers_jobs(app: App) -> None:
    other_server = await _dream(app, requester=Requester(user_id=8, guild_id=2, channel_id=20,
                                                         source="discord"))
    with pytest.raises(UserError, match=f"job {other_server.id} is not in this server's"):
        await app.tools.vary(other_server.id, MEMBER, strength=0.1)


async def test_morph_ends_must_match(app: App) -> None:
    start = await _dream(app, seed=1)
    end = await _dream(app, seed=2, steps=2)
    with pytest.raises(UserError, match=f"same steps: job {start.id} has 3, job {end.id} has 2"):
        await app.tools.morph(start.id, end.id, CLI)


async def test_a_recipe_card_sends_the_stored_inputs_that_fit(app: App) -> None:
    parent = await _dream(app)
    [child] = await _done(app, await app.tools.zoom_out(parent.id, CLI))
    card = await app.tools.recipe_card(child.id, CLI, limit=10 * 2**20)
    assert card.job.id == child.id and card.parents == (Link(parent.id, LinkKind.ZOOM),)
    stored = {name: app.attachments.locate(ref or "").read_bytes()
              for name, ref in (("source.png", child.recipe.init_image),
                                ("mask.png", child.recipe.mask_image))}
    assert dict(card.files) == stored
    too_small = await app.tools.recipe_card(child.id, CLI, limit=sum(map(len, stored.values())) - 1)
    assert too_small.files == () and too_small.parents == card.parents
    plain = await app.tools.recipe_card(parent.id, CLI, limit=10 * 2**20)
    assert (plain.parents, plain.files) == ((), ())  # a prompt's job starts from no file
