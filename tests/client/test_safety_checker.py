"""The safety checker over the wire-level fake: with an injected deterministic checker, a flagged
image never reaches a channel that is not age-restricted (a notice instead, the requester told
why privately or in the notice), is a spoiler in an age-restricted channel of a server that
allows it, is withheld where the server denies it, and is a placeholder in a grid."""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.client.delivery import Delivery
from bot.client.grids import compose, grid_columns
from bot.domain.jobs import JobState, Requester
from bot.domain.recipe import Recipe
from bot.inference.safety import VEIL_CELLS, FlagAll
from bot.queue.events import EventKind, JobEvent, ResultOutput
from bot.render.png import encode_png, result_filename
from tests.client.conftest import Env
from tests.client.test_delivery_result import ScriptedQueue
from tests.client.test_dream import RESULT_TIMEOUT
from tests.fake_discord import InteractionHandle
from tests.fake_discord.models import FakeChannel, StoredMessage

MANAGE_GUILD = 1 << 5
# Long enough (about 2 s of steps at 512²) for progress previews to be shown on the way.
SLOW = {"prompt": "a lighthouse at dusk", "steps": 16}
SMALL = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2}


@pytest.fixture
def flag_all(shared_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared engine with a checker that flags every image (put back after the test)."""
    monkeypatch.setattr(shared_engine, "safety", FlagAll())


def _uploads_to(env: Env, channel: FakeChannel) -> list[tuple[str, bytes]]:
    """Every file uploaded into ``channel`` (channel posts and interaction messages alike)."""
    return [(a.filename, a.data) for a in env.fake.state.attachments.values()
            if f"/attachments/{channel.id}/" in a.url]


def _is_veiled(data: bytes) -> bool:
    """Whether a preview is a coarse mosaic (uniform blocks), not a picture."""
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    block = pixels.shape[0] // VEIL_CELLS
    inset = 4  # JPEG rings at the blocks' edges
    return all(pixels[y + inset:y + block - inset, x + inset:x + block - inset].std(axis=(0, 1))
               .max() < 4.0
               for y in range(0, pixels.shape[0], block) for x in range(0, pixels.shape[1], block))


def _assert_no_image_reached(env: Env, channel: FakeChannel) -> None:
    for filename, data in _uploads_to(env, channel):
        assert filename == "preview.jpg", filename  # never the result itself
        assert _is_veiled(data)  # and a preview shows how far it is, not what it shows


def _flags(env: Env) -> list[int]:
    with sqlite3.connect(env.settings.database_path) as db:
        return [row[0] for row in db.execute("SELECT flagged FROM jobs ORDER BY id")]


def _withheld(message: StoredMessage) -> bool:
    return "withheld" in message.content


async def test_a_flagged_image_is_withheld_from_a_channel_that_is_not_age_restricted(
        env: Env, flag_all: None) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream", SLOW)
        notice = await handle.wait_original(_withheld, timeout=RESULT_TIMEOUT)
        (told,) = await handle.wait_followups(1)
    assert not notice.attachments and not notice.embeds and not notice.custom_ids()
    assert "safety checker" in notice.content and "not age-restricted" not in notice.content
    assert told.is_ephemeral and "not age-restricted" in told.content
    _assert_no_image_reached(env, world.channel)
    assert _flags(env) == [1]
    with sqlite3.connect(env.settings.database_path) as db:
        ((path, message_id),) = db.execute("SELECT output_path, message_id FROM jobs")
    assert message_id == notice.id
    with Image.open(path) as kept:  # the file stays for the operator, as made
        assert kept.size == (512, 512) and np.asarray(kept).max() > 0


async def _allow(env: Env, setting: str) -> None:
    admin = env.fake.add_member(env.world.guild, "admin", permissions=MANAGE_GUILD)
    handle = await env.fake.send_command(env.world.guild, env.world.channel, admin,
                                         "safety nsfw", {"setting": setting})
    await handle.wait_original(timeout=10)


async def _dream_in(env: Env, channel: FakeChannel) -> InteractionHandle:
    return await env.fake.send_command(env.world.guild, channel, env.world.alice, "dream",
                                       SMALL)


async def test_in_an_age_restricted_channel_it_is_a_spoiler_where_the_server_allows_it(
        env: Env, flag_all: None) -> None:
    adults = env.fake.add_channel(env.world.guild, "adults", nsfw=True)
    async with env.run_bot():
        await _allow(env, "allow")
        handle = await _dream_in(env, adults)
        # The result, not a progress preview (previews come first, more of them on a busy
        # machine).
        result = await handle.wait_original(
            lambda m: any(a.filename != "preview.jpg" for a in m.attachments),
            timeout=RESULT_TIMEOUT)
    (attachment,) = result.attachments
    assert attachment.filename.startswith("SPOILER_") and attachment.filename.endswith(".png")
    assert "flagged by the safety checker" in str(result.embeds[0])
    assert handle.followups == []  # nothing to explain
    assert [name for name, _ in _uploads_to(env, adults)
            if name != "preview.jpg"] == [attachment.filename]


async def test_where_the_server_denies_it_an_age_restricted_channel_gets_a_notice(
        env: Env, flag_all: None) -> None:
    adults = env.fake.add_channel(env.world.guild, "adults", nsfw=True)
    async with env.run_bot():
        await _allow(env, "deny")
        handle = await _dream_in(env, adults)
        notice = await handle.wait_original(_withheld, timeout=RESULT_TIMEOUT)
        (told,) = await handle.wait_followups(1)
    assert not notice.attachments
    assert told.is_ephemeral and "/safety nsfw allow" in told.content
    _assert_no_image_reached(env, adults)


async def test_without_a_live_token_the_notice_says_why(env: Env, flag_all: None) -> None:
    world = env.world
    recipe = Recipe("a harbour at night", width=64, height=64, steps=2, seed=7)
    async with env.run_bot() as bot:
        assert bot.app is not None
        jobs = bot.app.jobs
        # A stream's job: no interaction, so the channel is the only place to say it.
        job = await jobs.add(recipe, Requester(user_id=world.alice.id, user_name="alice",
                                               guild_id=world.guild.id,
                                               channel_id=world.channel.id, source="stream"))
        await jobs.transition(job.id, JobState.RUNNING, started_at=time.time())
        path = env.settings.output_dir / result_filename(job.id, 7)
        queue = ScriptedQueue()
        delivery = Delivery(bot, jobs, queue)
        delivery.nsfw_allowed = lambda guild_id: True  # allowed, but not in this channel
        delivery.follow(job.id)
        await queue.watching.wait()
        done = await jobs.transition(job.id, JobState.DONE, output_path=str(path),
                                     finished_at=time.time(), flagged=1)
        data = encode_png(Image.new("RGB", (64, 64), "navy"), "")
        queue.publish(JobEvent(EventKind.DONE, done, output=ResultOutput(data, path.name)))
        await delivery.wait_delivered(job.id)
        await delivery.close()
    (notice,) = env.fake.channel_messages(world.channel)
    assert "withheld" in notice.content and "not age-restricted" in notice.content
    assert f"<@{world.alice.id}>" in notice.content
    assert _uploads_to(env, world.channel) == []


class _FlagSeeds:
    """Flags the images of some seeds."""

    name = "test:seeds"

    def __init__(self, seeds: set[int]) -> None:
        self.seeds = seeds

    def check(self, images: Sequence[Image.Image], recipes: Sequence[Recipe]) -> list[bool]:
        return [recipe.seed in self.seeds for recipe in recipes]


async def test_a_flagged_grid_cell_is_a_placeholder_without_buttons(
        env: Env, shared_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_engine, "safety", _FlagSeeds({8}))
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {**SMALL, "count": 4, "seed": 7})
        grid = await handle.wait_original(
            lambda m: bool(m.attachments and m.embeds and "grid" in m.embeds[0]["footer"]["text"]),
            timeout=RESULT_TIMEOUT)
    with sqlite3.connect(env.settings.database_path) as db:
        rows = db.execute("SELECT id, output_path, flagged FROM jobs ORDER BY id").fetchall()
    assert [flagged for *_, flagged in rows] == [0, 1, 0, 0]
    ids = [job_id for job_id, *_ in rows]
    shown = [ids[0], ids[2], ids[3]]
    assert grid.custom_ids() == [f"ns:u:{i}" for i in shown] + [f"ns:v:{i}" for i in shown]
    assert "Image 2 withheld" in str(grid.embeds[0])
    # The posted grid is the cells' own images with a placeholder for the flagged one.
    cells = [None if flagged else Path(path).read_bytes() for _, path, flagged in rows]
    expected = compose(cells, grid_columns(4), (64, 64), 2048)
    with Image.open(io.BytesIO(grid.attachments[0].data)) as posted:
        assert np.array_equal(np.asarray(posted.convert("RGB")), np.asarray(expected))
