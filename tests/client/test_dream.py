"""``/dream`` over the wire-level fake: the real discord.py client, aiosqlite, the tiny pipeline."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import sys
from typing import Any

import pytest
from PIL import Image

from bot.domain.a1111 import parse_parameters
from bot.render import read_parameters
from bot.render.fit import read_webp_parameters
from tests.client.conftest import Env
from tests.fake_discord import InteractionHandle
from tests.fake_discord.models import StoredMessage

RESULT_TIMEOUT = 120.0


def _is_result(message: StoredMessage) -> bool:
    return bool(message.attachments and message.embeds and message.custom_ids())


async def _result(handle: InteractionHandle) -> StoredMessage:
    return await handle.wait_original(_is_result, timeout=RESULT_TIMEOUT)


def _metadata(message: StoredMessage) -> dict[str, str]:
    attachment = message.attachments[0]
    text = (read_parameters(attachment.data) if attachment.filename.endswith(".png")
            else read_webp_parameters(attachment.data))
    return parse_parameters(text or "")


def _job_rows(env: Env) -> list[tuple[Any, ...]]:
    with sqlite3.connect(env.settings.database_path) as db:
        return db.execute("SELECT id, state, user_id, parent_id FROM jobs ORDER BY id").fetchall()


async def test_dream_with_every_option(env: Env) -> None:
    async with env.run_bot():
        handle = await env.fake.send_command(
            env.world.guild, env.world.channel, env.world.alice, "dream",
            {"prompt": "a red fox in snow", "negative": "blurry", "width": 256, "height": 128,
             "steps": 4, "guidance": 6.5, "seed": 1234, "scheduler": "ddim"})
        await handle.wait_acked(timeout=3)
        message = await _result(handle)
    assert not message.is_ephemeral
    attachment = message.attachments[0]
    with Image.open(io.BytesIO(attachment.data)) as image:
        assert image.size == (256, 128)
    meta = _metadata(message)
    assert (meta["prompt"], meta["negative"], meta["Steps"], meta["CFG scale"], meta["Seed"],
            meta["Size"], meta["Sampler"], meta["Model"]) == (
        "a red fox in snow", "blurry", "4", "6.5", "1234", "256x128", "DDIM", "tiny")
    embed = message.embeds[0]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert embed["description"] == "a red fox in snow"
    assert fields["Seed"] == "1234" and fields["Negative"] == "blurry"
    assert str(env.world.alice.id) in fields["Requested by"]
    assert len(message.custom_ids()) == 8  # the result buttons (cogs/dream/_views.py)
    # The waiting message was shown before the result replaced it.
    assert any(word in (state.get("content") or "") for state in message.history
               for word in ("queue", "generating", "step"))


async def test_torch_runs_only_on_the_inference_thread(env: Env) -> None:
    """A torch call on the event loop's thread would give OpenMP a second thread pool, and with
    more pool threads than cores every generation slows down (~12 % measured on 2 cores)."""
    import torch

    calls: set[str] = set()

    def watch(frame: Any, event: str, arg: Any) -> None:
        if event != "c_call":
            return
        owner = getattr(arg, "__self__", None)
        module = getattr(arg, "__module__", None) or getattr(owner, "__name__", "")
        if isinstance(owner, torch.Tensor) or str(module).startswith("torch"):
            calls.add(f"{module}.{getattr(arg, '__name__', arg)}")

    async with env.run_bot():
        sys.setprofile(watch)  # this thread only: the event loop's
        try:
            handle = await env.fake.send_command(
                env.world.guild, env.world.channel, env.world.alice, "dream",
                {"prompt": "a red fox in snow", "width": 128, "height": 128, "steps": 6})
            await handle.wait_acked(timeout=3)
            message = await _result(handle)
        finally:
            sys.setprofile(None)
    assert message.attachments
    assert not calls, f"torch called on the event loop's thread: {sorted(calls)}"


async def test_defaults_give_512_and_a_recorded_seed(env: Env) -> None:
    async with env.run_bot():
        handle = await env.fake.send_command(env.world.guild, env.world.channel,
                                             env.world.alice, "dream", {"prompt": "a cat"})
        message = await _result(handle)
    with Image.open(io.BytesIO(message.attachments[0].data)) as image:
        assert image.size == (512, 512)
    seed = _metadata(message)["Seed"]
    assert seed.isdigit()
    with sqlite3.connect(env.settings.database_path) as db:
        (recipe,) = db.execute("SELECT recipe FROM jobs").fetchone()
    assert f'"seed": {seed}' in recipe


async def test_acknowledged_within_3s_while_another_job_generates(env: Env) -> None:
    async with env.run_bot():
        world = env.world
        first = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                            {"prompt": "slow", "steps": 30})
        await first.wait_original(lambda m: "step" in m.content, timeout=RESULT_TIMEOUT)
        second = await env.fake.send_command(world.guild, world.channel, world.mod, "dream",
                                             {"prompt": "second", "width": 64, "height": 64})
        await second.wait_acked(timeout=3)  # the fake answers 10062 to anything later
        waiting = await second.wait_original(lambda m: "queue" in m.content, timeout=10)
        assert "next in queue" in waiting.content or "1st" in waiting.content
        await _result(first)
        await _result(second)


async def test_four_dreams_from_two_members_land_on_their_own_interactions(env: Env) -> None:
    world = env.world
    async with env.run_bot():
        handles = await asyncio.gather(*[
            env.fake.send_command(world.guild, world.channel, member, "dream",
                                  {"prompt": f"{member.user.username} {i}", "width": 64,
                                   "height": 64, "steps": 2})
            for i in range(2) for member in (world.alice, world.mod)])
        results = [await _result(handle) for handle in handles]
    for handle, message in zip(handles, results, strict=True):
        requester = handle.payload["member"]["user"]["id"]
        assert str(requester) in message.embeds[0]["fields"][-1]["value"]
        assert _metadata(message)["prompt"] == handle.payload["data"]["options"][0]["value"]


@pytest.mark.parametrize(("options", "needle"), [
    ({"prompt": "cat", "width": 513}, "513"),
    ({"prompt": "cat", "steps": 0}, "steps must be between 1 and 150, got 0"),
    ({"prompt": "cat", "steps": 10000}, "got 10000"),
    ({"prompt": "   "}, "prompt must not be empty"),
])
async def test_bad_values_get_an_ephemeral_message_and_queue_nothing(
        env: Env, options: dict[str, Any], needle: str) -> None:
    world = env.world
    async with env.run_bot():
        bad = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                          options, validate=False)
        reply = await bad.wait_original(timeout=10)
        assert reply.is_ephemeral and needle in reply.content
        assert _job_rows(env) == []
        good = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                           {"prompt": "cat", "width": 64, "height": 64})
        await _result(good)
    assert len(_job_rows(env)) == 1
