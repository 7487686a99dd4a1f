"""``/dream count:`` over the wire-level fake: one job group, one grid message with U and V
buttons, kept current as cells finish and delivered once across a restart."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from PIL import Image

from bot.app import open_app
from bot.client.bot import NeurostreamBot
from bot.render import read_parameters
from tests.client.conftest import Env
from tests.client.test_dream import RESULT_TIMEOUT, _metadata, _result
from tests.fake_discord import InteractionHandle, run_client
from tests.fake_discord.models import StoredMessage

SMALL = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2}


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _is_grid(message: StoredMessage) -> bool:
    return bool(message.attachments and message.embeds
                and "grid" in message.embeds[0]["footer"]["text"])


async def _grid(handle: InteractionHandle) -> StoredMessage:
    return await handle.wait_original(_is_grid, timeout=RESULT_TIMEOUT)


def _cells(env: Env) -> list[tuple[int, int, str, int | None]]:
    """(job id, seed, state, delivered message id) of every job, in order."""
    with sqlite3.connect(env.settings.database_path) as db:
        rows = db.execute("SELECT id, recipe, state, message_id FROM jobs ORDER BY id").fetchall()
    import json
    return [(job_id, json.loads(recipe)["seed"], state, message)
            for job_id, recipe, state, message in rows]


def _group(env: Env) -> tuple[str, list[int], int | None]:
    """The one group's kind, members in order and message."""
    with sqlite3.connect(env.settings.database_path) as db:
        ((group_id, kind, message),) = db.execute(
            "SELECT id, kind, message_id FROM job_groups").fetchall()
        members = [row[0] for row in db.execute(
            "SELECT job_id FROM group_members WHERE group_id = ? ORDER BY position", (group_id,))]
    return kind, members, message


async def test_count_4_is_one_grid_message_and_u2_posts_the_second_cell(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {**SMALL, "count": 4, "seed": 7})
        grid = await _grid(handle)
        ids = [job_id for job_id, *_ in _cells(env)]
        assert grid.custom_ids() == ([f"ns:u:{i}" for i in ids] + [f"ns:v:{i}" for i in ids])
        # U2: the second cell at full size, with its own recipe and buttons.
        click = await fake.click(grid, f"ns:u:{ids[1]}", world.alice)
        cell = await click.wait_original(lambda m: bool(m.attachments), timeout=RESULT_TIMEOUT)
        # V3: a subtle variation whose parent is the third cell.
        varied = await _result(await fake.click(grid, f"ns:v:{ids[2]}", world.alice))
        # The same seed on its own, for comparison (a CPU renders one at a time).
        single = await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "dream", {**SMALL, "seed": 8}))
    cells = _cells(env)[:4]
    assert [seed for _, seed, _, _ in cells] == [7, 8, 9, 10]
    assert _group(env) == ("grid", ids, grid.id)
    assert all(message == grid.id for *_, message in cells)  # delivered with the grid
    # One grid message: no cell was posted on its own.
    posted = [m for m in fake.channel_messages(world.channel) if m.attachments]
    assert [m.id for m in posted] == [grid.id, cell.id, varied.id, single.id]
    with Image.open(io.BytesIO(grid.attachments[0].data)) as image:
        assert image.width > 2 * 64 and image.height > 2 * 64  # 2×2 with gutters
    assert read_parameters(grid.attachments[0].data) is None  # not one image's result
    assert _metadata(cell)["Seed"] == "8" and len(cell.custom_ids()) == 8
    assert np.array_equal(_pixels(cell.attachments[0].data), _pixels(single.attachments[0].data))
    meta = _metadata(varied)
    assert (meta["Seed"], meta["Variation seed strength"]) == ("9", "0.1")
    with sqlite3.connect(env.settings.database_path) as db:
        links = db.execute("SELECT child_id, parent_id, kind FROM job_links").fetchall()
    assert links == [(ids[-1] + 1, ids[2], "variation")]


async def test_count_2_is_a_1x2_grid(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        grid = await _grid(await fake.send_command(world.guild, world.channel, world.alice,
                                                   "dream", {**SMALL, "count": 2, "seed": 1}))
    with Image.open(io.BytesIO(grid.attachments[0].data)) as image:
        assert image.width > 2 * 64 and image.height < 2 * 64
    assert len(grid.custom_ids()) == 4


def _run_bot(env: Env, factory: Callable[[], Any]
             ) -> contextlib.AbstractAsyncContextManager[NeurostreamBot]:
    """The bot on the env's settings with a model loader of the test's choosing."""
    @contextlib.asynccontextmanager
    async def run() -> AsyncIterator[NeurostreamBot]:
        async with open_app(env.settings, sources=("discord", "stream"), recover=True,
                            factory=factory, wait_for_model=False) as app:
            bot = NeurostreamBot(app, env.settings, guild_ready_timeout=0.05)
            async with run_client(env.fake, bot):
                yield bot
    return run()


async def test_a_grid_requested_before_a_restart_is_delivered_once_after_it(
        env: Env, shared_engine: Any) -> None:
    world, fake = env.world, env.fake

    def never_loads() -> Any:
        raise RuntimeError("this model never loads: the jobs wait for the restart")

    async with _run_bot(env, never_loads):
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {**SMALL, "count": 3, "seed": 4})
        await handle.wait_original(lambda m: "queue" in m.content, timeout=10)
    assert [state for _, _, state, _ in _cells(env)] == ["queued"] * 3

    async with _run_bot(env, lambda: shared_engine):
        grid = await _grid(handle)
    assert grid.id == handle.original.id if handle.original else False
    assert len(grid.custom_ids()) == 6  # U1–U3, V1–V3 (the 2×2 grid's fourth place is empty)
    # The mosaic was shown as cells finished (a preview without metadata), then the grid.
    progress = [state for state in grid.history if "done" in (state.get("content") or "")]
    assert progress and all(a["filename"] == "preview.jpg"
                            for state in progress for a in state.get("attachments") or [])
    assert [m.id for m in fake.channel_messages(world.channel) if m.attachments] == [grid.id]
    assert all(message == grid.id for *_, message in _cells(env))
