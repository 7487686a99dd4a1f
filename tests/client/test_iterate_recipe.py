"""📋 Recipe on a job that started from an image, over the wire-level fake: the command it
shows (/sketch, /inpaint) with the files to attach sent along, and that command, run with
those files, renders the same image again."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from tests.client.conftest import Env
from tests.client.test_dream import _metadata, _result
from tests.client.test_sketch import job_rows, png
from tests.fake_discord import InteractionHandle
from tests.fake_discord.models import StoredMessage, Upload

ZWSP = "\u200b"


def _button(message: StoredMessage, action: str) -> str:
    return next(c for c in message.custom_ids() if c.startswith(f"ns:{action}:"))


def _command(reply: StoredMessage) -> str:
    """The command in the reply's code block, as it pastes back."""
    assert reply.content.count("```") == 2
    return reply.content.split("```")[1].strip().replace("`" + ZWSP, "`")


def _options(command: str) -> dict[str, str]:
    """The ``name:value`` options after the prompt (a one-word prompt here) and the prompt; the
    files come before it."""
    prompt, *others = command.partition(" prompt:")[2].split(" ")
    return {"prompt": prompt, **dict(word.split(":", 1) for word in others)}


def _pixels(message: StoredMessage) -> bytes:
    with Image.open(io.BytesIO(message.attachments[0].data)) as image:
        return image.convert("RGB").tobytes()


async def _recipe(env: Env, result: StoredMessage) -> StoredMessage:
    handle: InteractionHandle = await env.fake.click(result, _button(result, "recipe"),
                                                     env.world.alice)
    reply = await handle.wait_original(timeout=10)
    assert reply.is_ephemeral
    return reply


def _mask(size: tuple[int, int]) -> bytes:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle((20, 20, 70, 60), fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


async def test_the_recipe_of_a_sketch_and_an_inpaint_runs_again_with_its_files(
        env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        sketch = await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "sketch", {
                "image": Upload("drawing.png", png((123, 75), seed=7)), "prompt": "castle",
                "strength": 0.7, "steps": 4, "seed": 3}))
        sketch_recipe = await _recipe(env, sketch)
        inpaint = await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "inpaint", {
                "image": Upload("photo.png", png((101, 83), seed=8)),
                "mask": Upload("m.png", _mask((101, 83))), "prompt": "door", "steps": 3,
                "seed": 4}))
        inpaint_recipe = await _recipe(env, inpaint)
        # Run each command as it says, with the files the reply sent along.
        files = {a.filename: a.data for a in sketch_recipe.attachments}
        options = _options(_command(sketch_recipe))
        again = await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "sketch", {
                **options,
                "strength": float(options["strength"]), "guidance": float(options["guidance"]),
                **{k: int(options[k]) for k in ("width", "height", "steps", "seed")},
                "image": Upload("source.png", files["source.png"])}))
        files = {a.filename: a.data for a in inpaint_recipe.attachments}
        options = _options(_command(inpaint_recipe))
        again_inpaint = await _result(await fake.send_command(
            world.guild, world.channel, world.alice, "inpaint", {
                **options,
                "strength": float(options["strength"]), "guidance": float(options["guidance"]),
                **{k: int(options[k]) for k in ("steps", "seed")},
                "image": Upload("source.png", files["source.png"]),
                "mask": Upload("mask.png", files["mask.png"])}))
    command = _command(sketch_recipe)
    assert command.startswith("/sketch image:<attach source.png> prompt:castle strength:0.7 ")
    assert "width:120 height:72" in command and "/dream" not in sketch_recipe.content
    assert "attach source.png as image:" in sketch_recipe.content
    assert sorted(a.filename for a in inpaint_recipe.attachments) == ["mask.png", "source.png"]
    assert _command(inpaint_recipe).startswith(
        "/inpaint image:<attach source.png> mask:<attach mask.png> prompt:door strength:1 ")
    # The same jobs again: the same stored inputs, recipes and images.
    (_, first), (_, second), (_, third), (_, fourth) = job_rows(env)
    assert third.init_image == first.init_image and third.to_dict() == first.to_dict()
    assert fourth.to_dict() == second.to_dict()
    assert _pixels(again) == _pixels(sketch) and _pixels(again_inpaint) == _pixels(inpaint)
    assert _metadata(again_inpaint)["Size"] == "101x83"
