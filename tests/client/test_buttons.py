"""The buttons under a result over the wire-level fake: who may Delete, what Reroll changes."""

from __future__ import annotations

import io
import json
import sqlite3
from typing import Any

from PIL import Image

from bot.domain.recipe import Recipe
from tests.client.conftest import Env
from tests.client.test_dream import RESULT_TIMEOUT, _metadata, _result
from tests.fake_discord.models import StoredMessage


def _pixels(message: StoredMessage) -> bytes:
    with Image.open(io.BytesIO(message.attachments[0].data)) as image:
        return image.convert("RGB").tobytes()

SMALL = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2}


def _recipes(env: Env) -> list[tuple[int, int | None, Recipe]]:
    """(id, parent id, recipe) of every job, oldest first."""
    with sqlite3.connect(env.settings.database_path) as db:
        rows = db.execute("SELECT id, parent_id, recipe FROM jobs ORDER BY id").fetchall()
    return [(job_id, parent, Recipe.from_dict(json.loads(recipe)))
            for job_id, parent, recipe in rows]


async def test_a_moderator_may_delete_anyones_result(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         SMALL)
        result = await _result(handle)
        delete = next(c for c in result.custom_ids() if c.startswith("ns:delete:"))
        click = await fake.click(result, delete, world.mod)  # Manage Messages, not the requester
        await click.wait_acked(timeout=3)
        await fake.wait_for(lambda: fake.get_message(result.id).deleted, timeout=10,
                            what="the result deleted by the moderator")
    assert click.original is None or "only the person" not in click.original.content


async def test_reroll_draws_a_new_seed_and_keeps_the_rest_of_the_recipe(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {**SMALL, "seed": 5})
        result = await _result(handle)
        reroll = next(c for c in result.custom_ids() if c.startswith("ns:reroll:"))
        child = await _result(await fake.click(result, reroll, world.alice))
    (parent_id, _, parent), (_, child_parent, rerolled) = _recipes(env)
    assert child_parent == parent_id
    assert parent.seed == 5 and rerolled.seed is not None and rerolled.seed != parent.seed
    assert _metadata(child)["Seed"] == str(rerolled.seed)  # the image shows its own seed
    same: dict[str, Any] = {**parent.to_dict(), "seed": rerolled.seed}
    assert rerolled.to_dict() == same  # everything else as the parent had it


# -- every result button, after a restart --------------------------------------------------------

def _links(env: Env) -> dict[int, tuple[int, str]]:
    """child id → (parent id, kind) of every recorded link."""
    with sqlite3.connect(env.settings.database_path) as db:
        rows = db.execute("SELECT child_id, parent_id, kind FROM job_links").fetchall()
    return {child: (parent, kind) for child, parent, kind in rows}


def _button(message: StoredMessage, action: str) -> str:
    return next(c for c in message.custom_ids() if c.startswith(f"ns:{action}:"))


async def test_every_button_makes_its_child_with_its_lineage_after_a_restart(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        result = await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "dream", {**SMALL, "seed": 5}))
        # Remix: the form opens now, and is answered after the restart.
        form = await fake.click(result, _button(result, "remix"), world.alice)
        await form.wait_acked(timeout=3)
    assert form.modal is not None
    prefilled = {c["custom_id"]: c.get("value") for row in form.modal["components"]
                 for c in row.get("components", [row.get("component", {})])}
    assert prefilled["prompt"] == SMALL["prompt"]
    # Rows of at most 5 buttons.
    assert [len(row["components"]) for row in result.components] == [5, 3]

    children: dict[str, StoredMessage] = {}
    async with env.run_bot():
        for action in ("reroll", "vary-subtle", "vary-strong", "upscale", "zoom"):
            click = await fake.click(result, _button(result, action), world.alice)
            children[action] = await _result(click)
        children["remix"] = await _result(await fake.submit_modal(
            form, {"prompt": "a lighthouse at night", "negative": "fog"}))
        recipe = await fake.click(result, _button(result, "recipe"), world.alice)
        shown = await recipe.wait_original(timeout=10)
    assert shown.is_ephemeral and "prompt:a lighthouse" in shown.content
    assert "seed:5" in shown.content

    (parent_id, _, _), *made = _recipes(env)
    kinds = {"reroll": "reroll", "vary-subtle": "variation", "vary-strong": "variation",
             "upscale": "upscale", "zoom": "zoom", "remix": "remix"}
    links = _links(env)
    for action, message in children.items():
        child_id = int(_button(message, "reroll").split(":")[2])
        assert links[child_id] == (parent_id, kinds[action]), action
    assert len(made) == 6 and all(parent_of == parent_id for _, parent_of, _ in made)
    meta = {action: _metadata(message) for action, message in children.items()}
    assert meta["vary-subtle"]["Variation seed strength"] == "0.1"
    assert meta["vary-strong"]["Variation seed strength"] == "0.35"
    assert meta["vary-subtle"]["Seed"] == meta["remix"]["Seed"] == "5"  # the parent's seed
    assert meta["upscale"]["Size"] == "128x128" and meta["zoom"]["Size"] == "64x64"
    assert (meta["remix"]["prompt"], meta["remix"]["negative"]) == ("a lighthouse at night",
                                                                    "fog")
    for message in children.values():  # each child carries the buttons in its turn
        assert len(message.custom_ids()) == 8


async def test_delete_by_a_stranger_is_refused_and_by_the_requester_done(env: Env) -> None:
    world, fake = env.world, env.fake
    stranger = fake.add_member(world.guild, "carol")
    async with env.run_bot():
        result = await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "dream", SMALL))
        refused = await fake.click(result, _button(result, "delete"), stranger)
        reply = await refused.wait_original(timeout=10)
        assert reply.is_ephemeral and "only the person who asked" in reply.content
        assert not fake.get_message(result.id).deleted
        await fake.click(result, _button(result, "delete"), world.alice)
        await fake.wait_for(lambda: fake.get_message(result.id).deleted, timeout=10,
                            what="the result deleted by its requester")


async def test_vary_command_at_strength_0_is_the_parent_and_records_the_seed(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        parent = await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "dream", {**SMALL, "seed": 3}))
        job_id = int(_button(parent, "reroll").split(":")[2])
        same = await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "vary",
            {"job": job_id, "strength": 0.0, "seed": 99}))
        varied = await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "vary", {"job": job_id, "seed": 99}))
    assert _pixels(same) == _pixels(parent)
    assert _pixels(varied) != _pixels(parent)
    meta = _metadata(varied)
    assert (meta["Variation seed"], meta["Variation seed strength"]) == ("99", "0.1")
    assert _links(env) == {job_id + 1: (job_id, "variation"), job_id + 2: (job_id, "variation")}


async def test_morph_posts_one_animation_and_its_contact_sheet(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        ends = [await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "dream", {**SMALL, "seed": seed}))
            for seed in (1, 2)]
        start, end = (int(_button(message, "reroll").split(":")[2]) for message in ends)
        handle = await fake.send_command(world.guild, world.channel, world.alice, "morph",
                                         {"from": start, "to": end, "frames": 3})
        morph = await handle.wait_original(lambda m: len(m.attachments) == 2,
                                           timeout=RESULT_TIMEOUT)
    animation, sheet = morph.attachments
    assert animation.filename.endswith((".webp", ".gif")) and sheet.filename.endswith(".png")
    with Image.open(io.BytesIO(animation.data)) as image:
        assert getattr(image, "n_frames", 1) == 3
    posted = [m for m in fake.channel_messages(world.channel) if m.attachments]
    assert [m.id for m in posted] == [ends[0].id, ends[1].id, morph.id]  # no frame on its own
    frames = {child: link for child, link in _links(env).items()}
    assert len(frames) == 3 and {kind for _, kind in frames.values()} == {"morph"}
