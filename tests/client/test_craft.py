"""``/styles``, ``/xy``, ``/dream style:`` and ``/prompt`` over the wire-level fake: the real
discord.py client, aiosqlite and the tiny pipeline (64 px cells, 2 steps)."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from typing import Any

from PIL import Image

from bot.domain.recipe import Recipe
from bot.render.grid import grid_layout
from tests.client.conftest import Env
from tests.fake_discord import InteractionHandle
from tests.fake_discord.models import StoredMessage

RESULT_TIMEOUT = 120.0
TINY = {"steps": 2, "width": 64, "height": 64}


def _recipes(env: Env) -> list[Recipe]:
    with sqlite3.connect(env.settings.database_path) as db:
        rows = db.execute("SELECT recipe FROM jobs ORDER BY id").fetchall()
    return [Recipe.from_dict(json.loads(row[0])) for row in rows]


def _groups(env: Env) -> list[tuple[Any, ...]]:
    with sqlite3.connect(env.settings.database_path) as db:
        return db.execute("SELECT kind, title, data, message_id FROM job_groups").fetchall()


def _text(message: StoredMessage) -> str:
    """What the message says: its content and its embeds' descriptions."""
    return "\n".join([message.content, *(embed.get("description") or ""
                                          for embed in message.embeds)])


def _finished_grid(message: StoredMessage) -> bool:
    return bool(message.attachments and message.custom_ids() and "✅" in _text(message))


async def _grid(handle: InteractionHandle) -> StoredMessage:
    return await handle.wait_original(_finished_grid, timeout=RESULT_TIMEOUT)


async def _recorded_groups(env: Env) -> list[tuple[Any, ...]]:
    """The groups once every one has its message recorded: the bot records the message after
    Discord answered the final edit, which the fake has already shown to the test."""
    deadline = asyncio.get_running_loop().time() + RESULT_TIMEOUT
    groups = _groups(env)
    while any(row[3] is None for row in groups) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        groups = _groups(env)
    return groups


def _size(message: StoredMessage) -> tuple[int, int]:
    with Image.open(io.BytesIO(message.attachments[0].data)) as image:
        return image.size


async def test_styles_posts_one_labelled_grid_whose_cells_differ_only_in_style(env: Env) -> None:
    world = env.world
    artists, techniques = ["Edvard Munch", "Salvador Dalí"], ["oil painting", "watercolor"]
    async with env.run_bot():
        handle = await env.fake.send_command(
            world.guild, world.channel, world.alice, "styles",
            {"subject": "a spoon", "artists": ", ".join(artists),
             "techniques": ", ".join(techniques), "seed": 1234, **TINY})
        await handle.wait_acked(timeout=3)
        message = await _grid(handle)
        channel_messages = [m for m in env.fake.state.messages.values()
                            if m.channel_id == world.channel.id and m.attachments]
        groups = await _recorded_groups(env)
    # One grid message (the interaction's response), labelled as the layout says, 2 × 2 cells.
    assert not message.is_ephemeral and len(channel_messages) == 1
    layout = grid_layout(4, 2, cell_size=(64, 64), row_labels=artists, column_labels=techniques)
    assert _size(message) == (layout.width, layout.height)
    with Image.open(io.BytesIO(message.attachments[0].data)) as image:
        for label in (*layout.row_labels, *layout.column_labels):  # the names are drawn
            box = label.box
            header = image.convert("L").crop((box.x, box.y, box.right, box.bottom))
            assert header.getextrema()[0] < 100, label.lines
    assert len(message.custom_ids()) == 4 and "seed 1234" in _text(message)
    # The mosaic was shown before the grid was complete.
    assert any("🎨" in (state.get("content") or "") for state in message.history)
    recipes = _recipes(env)
    assert len(recipes) == 4 and {recipe.seed for recipe in recipes} == {1234}
    assert {(r.width, r.height, r.steps, r.negative) for r in recipes} == {(64, 64, 2, "")}
    assert [recipe.styles for recipe in recipes] == [
        ("oil-painting", "edvard-munch"), ("watercolor", "edvard-munch"),
        ("oil-painting", "salvador-dali"), ("watercolor", "salvador-dali")]
    assert all(recipe.prompt.startswith("a spoon, ") for recipe in recipes)
    assert "by Salvador Dali" in recipes[3].prompt and "watercolor" in recipes[3].prompt
    [(kind, title, data, message_id)] = groups
    assert (kind, title, message_id) == ("styles", "a spoon", message.id)
    assert json.loads(data)["row_labels"] == artists


async def test_a_cell_button_posts_that_cell_at_full_size(env: Env) -> None:
    world = env.world
    async with env.run_bot():
        handle = await env.fake.send_command(
            world.guild, world.channel, world.alice, "styles",
            {"subject": "a cup", "techniques": "oil painting, pencil sketch", "seed": 9, **TINY})
        grid = await _grid(handle)
        assert _size(grid)[0] == 2 * 64 + 4  # one row, no row labels
        second = grid.custom_ids()[1]
        click = await env.fake.click(grid, second, world.alice)
        cell = await click.wait_original(lambda m: bool(m.attachments), timeout=10)
    assert not cell.is_ephemeral and _size(cell) == (64, 64)
    assert "pencil sketch" in cell.embeds[0]["description"]


async def test_a_seven_by_seven_grid_is_refused_with_the_limit(env: Env) -> None:
    world = env.world
    seven = ", ".join(f"painter {i}" for i in range(7))
    async with env.run_bot():
        handle = await env.fake.send_command(
            world.guild, world.channel, world.alice, "styles",
            {"subject": "a spoon", "artists": seven, "techniques": seven, **TINY})
        reply = await handle.wait_original(timeout=10)
    assert reply.is_ephemeral and "at most 6 artists and 6 techniques" in reply.content
    assert _recipes(env) == [] and _groups(env) == []


async def test_xy_steps_by_guidance_cells_carry_the_plotted_values(env: Env) -> None:
    world = env.world
    async with env.run_bot(queue={"max_per_user": 0, "max_batch": 1}, grids={"cell_size": 64},
                           model={"steps": 3},
                           storage={"database": "ns.db", "output_dir": "outputs"},
                           discord={"dev_guild_ids": [world.guild.id]}) as bot:
        handle = await env.fake.send_command(
            world.guild, world.channel, world.alice, "xy",
            {"prompt": "a lighthouse", "x": "steps", "x_values": "1, 2, 3", "y": "guidance",
             "y_values": "2, 9", "seed": 5})
        message = await _grid(handle)
        assert bot.services.craft.max_side == 6
    recipes = _recipes(env)
    assert [(r.steps, r.guidance) for r in recipes] == [
        (1, 2.0), (2, 2.0), (3, 2.0), (1, 9.0), (2, 9.0), (3, 9.0)]
    assert {(r.seed, r.prompt, r.width) for r in recipes} == {(5, "a lighthouse", 64)}
    layout = grid_layout(6, 3, cell_size=(64, 64), row_labels=["guidance: 2", "guidance: 9"],
                         column_labels=["steps: 1", "steps: 2", "steps: 3"])
    assert _size(message) == (layout.width, layout.height)


async def test_xy_bad_values_are_refused_before_anything_is_queued(env: Env) -> None:
    world = env.world
    async with env.run_bot():
        handle = await env.fake.send_command(
            world.guild, world.channel, world.alice, "xy",
            {"prompt": "a lighthouse", "x": "steps", "x_values": "5, many"})
        reply = await handle.wait_original(timeout=10)
    assert reply.is_ephemeral and "steps values must be whole numbers" in reply.content
    assert _recipes(env) == []


async def test_dream_style_appends_the_words_and_records_the_names(env: Env) -> None:
    world = env.world
    async with env.run_bot():
        choices = await env.fake.autocomplete(world.guild, world.channel, world.alice, "dream",
                                              {"prompt": "a fox", "style": "pencil-sketch, mun"},
                                              focused="style")
        assert 0 < len(choices) <= 25
        assert choices[0]["value"] == "pencil-sketch, edvard-munch"
        assert choices[0]["name"].startswith("pencil-sketch + Artist · Edvard Munch")
        handle = await env.fake.send_command(
            world.guild, world.channel, world.alice, "dream",
            {"prompt": "a fox", "style": "pencil-sketch, edvard-munch", **TINY})
        await handle.wait_original(lambda m: bool(m.attachments and m.embeds),
                                   timeout=RESULT_TIMEOUT)
        typo = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                           {"prompt": "a fox", "style": "van gog", **TINY})
        reply = await typo.wait_original(timeout=10)
    [recipe] = _recipes(env)
    assert recipe.prompt == ("a fox, pencil sketch, graphite, cross-hatching, sketchbook, "
                             "by Edvard Munch, expressionism")
    assert recipe.styles == ("pencil-sketch", "edvard-munch")
    assert recipe.negative == "color, colour"
    assert reply.is_ephemeral and "no style called 'van gog'" in reply.content
    assert "vincent-van-gogh" in reply.content


async def test_prompt_tips_and_check_are_ephemeral_and_apply_the_theme(env: Env) -> None:
    world = env.world
    async with env.run_bot():
        theme = await env.fake.send_command(world.guild, world.channel, world.mod, "theme set",
                                            {"prefix": "a cute photograph of a cat,"})
        await theme.wait_original(timeout=10)
        tips = await env.fake.send_command(world.guild, world.channel, world.alice,
                                           "prompt tips", {})
        tips_reply = await tips.wait_original(timeout=10)
        check = await env.fake.send_command(
            world.guild, world.channel, world.alice, "prompt check",
            {"prompt": "portrait of a girl", "style": "sepia", "width": 1024, "height": 512})
        check_reply = await check.wait_original(timeout=10)
    assert tips_reply.is_ephemeral and "portrait of a beautiful girl" in tips_reply.content
    assert check_reply.is_ephemeral
    content = check_reply.content
    assert "a cute photograph of a cat, portrait of a girl, sepia" in content
    assert "/75" in content and "portrait at a wide size (1024×512)" in content
    assert _recipes(env) == []  # a check queues nothing
