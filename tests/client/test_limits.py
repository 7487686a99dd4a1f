"""Discord's size limits over the wire-level fake (which refuses what Discord refuses): a result
always fits, and a result Discord refuses anyway falls back to a minimal message."""

from __future__ import annotations

import io
import sqlite3
from typing import Any

import pytest
from PIL import Image

from bot.config import settings_from_dict
from tests.client.conftest import Env
from tests.client.test_dream import RESULT_TIMEOUT, _metadata, _result
from tests.fake_discord.rest_base import ApiError


def _delivered(env: Env) -> list[int | None]:
    with sqlite3.connect(env.settings.database_path) as db:
        return [row[0] for row in db.execute("SELECT message_id FROM jobs ORDER BY id")]


def _embed_size(embed: dict[str, object]) -> int:
    fields = embed.get("fields") or []
    assert isinstance(fields, list)
    footer = embed.get("footer") or {}
    assert isinstance(footer, dict)
    return (len(str(embed.get("title") or "")) + len(str(embed.get("description") or ""))
            + sum(len(f["name"]) + len(f["value"]) for f in fields)
            + len(footer.get("text") or ""))


async def test_a_long_themed_prompt_under_a_raised_limit_is_delivered(
        env: Env, shared_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world, fake = env.world, env.fake
    raised: dict[str, Any] = {
        "model": {"steps": 2, "width": 64, "height": 64, "prompt_max_chars": 6000},
        "storage": {"database": "ns.db", "output_dir": "outputs"},
        "discord": {"dev_guild_ids": [world.guild.id]}, "queue": {"max_batch": 1}}
    theme = {"prefix": "a watercolour of " + "misty hills, " * 34,
             "suffix": "soft light, " * 40, "negative": "blurry, " * 55}
    # The tests' shared engine was loaded with the default limits; a bot loads it with the config's.
    limits = settings_from_dict(raised, base_dir=env.settings.database_path.parent).model.limits
    monkeypatch.setattr(shared_engine, "limits", limits)
    async with env.run_bot(**raised):
        themed = await fake.send_command(world.guild, world.channel, world.mod, "theme set",
                                         theme)
        await themed.wait_original(timeout=10)
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a fox " * 660, "negative": "dogs " * 600})
        message = await _result(handle)  # the full result: embed, image and buttons
        button = next(c for c in message.custom_ids() if c.startswith("ns:recipe:"))
        recipe = await (await fake.click(message, button, world.alice)).wait_original(timeout=10)
    sent = [embed for request in fake.requests if isinstance(request.json, dict)
            for embed in request.json.get("embeds") or []]
    assert sent and all(_embed_size(embed) <= 6000 for embed in sent)
    assert not [r for r in fake.requests if r.status == 400]  # nothing was refused
    embed = message.embeds[0]
    assert embed["footer"]["text"] == "neurostream job #1"
    assert {"Theme", "Negative", "Seed", "Requested by"} <= {f["name"] for f in embed["fields"]}
    assert _metadata(message)["prompt"].startswith("a watercolour of misty hills")
    # The recipe is too long for a message: a cut code block, and the whole of it as a file.
    assert len(recipe.content) <= 2000 and recipe.content.count("```") == 2
    full = recipe.attachments[0].data.decode()
    assert recipe.attachments[0].filename == "recipe.txt"
    # The user's own words (the channel's theme adds its own where the command is pasted).
    assert full.startswith("/dream prompt:a fox a fox") and "misty hills" not in full.split(
        " negative:")[0]
    assert "dogs dogs" in full


async def test_a_refused_result_falls_back_to_a_minimal_message(env: Env) -> None:
    world, fake = env.world, env.fake
    refused: list[str] = []

    async def refuse_the_first_result(path: str, names: list[str]) -> None:
        if not refused and any(name.endswith(".png") for name in names):
            refused.append(path)
            raise ApiError(400, 50035, "Invalid Form Body")

    fake.state.upload_hook = refuse_the_first_result
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a lighthouse", "width": 64, "height": 64,
                                          "steps": 2, "seed": 9})
        message = await handle.wait_original(lambda m: bool(m.attachments and m.embeds),
                                             timeout=RESULT_TIMEOUT)
        await fake.wait_for(lambda: _delivered(env) == [message.id], timeout=10,
                            what="the delivery recorded")
    assert refused  # Discord refused the full result once
    assert message.embeds[0]["footer"]["text"] == "neurostream job #1"  # a restart finds it
    assert "metadata" in message.embeds[0]["description"]
    with Image.open(io.BytesIO(message.attachments[0].data)) as image:
        assert image.size == (64, 64)
    assert _metadata(message)["Seed"] == "9"
