"""Delivery over the wire-level fake: expired tokens, oversize images, buttons after a restart,
``/cancel`` and ``/queue``."""

from __future__ import annotations

import contextlib
import io
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import open_app
from bot.client.bot import NeurostreamBot
from bot.client.requester import INTERACTION_TOKEN_LIFETIME
from bot.render.embeds import job_marker
from tests.client.conftest import Env
from tests.client.test_dream import RESULT_TIMEOUT, _is_result, _job_rows, _metadata, _result
from tests.fake_discord import run_client
from tests.fake_discord.messages import NONCE_WINDOW_S
from tests.fake_discord.models import RecordedRequest, StoredMessage

PAST_TOKEN = INTERACTION_TOKEN_LIFETIME + 60  # seconds: every token received before is dead


class HostClock:
    """The bot's clock: this host's time, moved forward by the test instead of waiting."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


@contextlib.asynccontextmanager
async def _bot_with_clock(env: Env, engine: Any, clock: HostClock
                          ) -> AsyncIterator[NeurostreamBot]:
    """The bot as ``env.run_bot`` starts it, its delivery judging tokens by ``clock``."""
    async with open_app(env.settings, sources=("discord", "stream"), recover=True,
                        factory=lambda: engine) as app:
        bot = NeurostreamBot(app, env.settings, guild_ready_timeout=0.05)
        assert bot.delivery is not None
        bot.delivery.clock = clock  # before it starts: recorded jobs are judged at once
        async with run_client(env.fake, bot):
            yield bot


def _is_place_edit(request: RecordedRequest) -> bool:
    """An edit of a waiting message that shows its place in line."""
    content = (request.json or {}).get("content") or ""
    return request.method == "PATCH" and "in queue" in content


def _channel_results(env: Env) -> list[StoredMessage]:
    """Results posted to #cats as plain channel messages (not on an interaction)."""
    return [m for m in env.fake.channel_messages(env.world.channel)
            if _is_result(m) and m.interaction_id is None]


def _job_rows_delivered(env: Env) -> list[int | None]:
    with sqlite3.connect(env.settings.database_path) as db:
        return [row[0] for row in db.execute("SELECT message_id FROM jobs ORDER BY id")]


async def test_expired_token_posts_to_the_channel_with_a_mention(env: Env) -> None:
    world = env.world
    async with env.run_bot():
        # A long job ahead keeps alice's waiting while her token expires.
        await env.fake.send_command(world.guild, world.channel, world.mod, "dream",
                                    {"prompt": "ahead", "steps": 20})
        handle = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                             {"prompt": "late", "width": 128, "height": 128,
                                              "steps": 10})
        await handle.wait_original(lambda m: "queue" in m.content, timeout=30)
        env.fake.expire_token(handle)
        message = await env.fake.wait_for(
            lambda: next((m for m in env.fake.channel_messages(world.channel)
                          if _is_result(m) and m.interaction_id is None), None),
            timeout=RESULT_TIMEOUT, what="result posted to the channel")
        # Recorded as delivered (a restart must not post it again).
        await env.fake.wait_for(lambda: _job_rows_delivered(env)[1] == message.id, timeout=10,
                                what="the delivery recorded")
    assert f"<@{world.alice.id}>" in message.content
    assert message.allowed_mentions is not None
    assert [str(u) for u in message.allowed_mentions.get("users", [])] == [str(world.alice.id)]
    assert message.allowed_mentions.get("parse") == []
    assert _metadata(message)["prompt"] == "late"


async def test_a_token_past_its_lifetime_is_not_used_and_the_result_goes_to_the_channel(
        env: Env, shared_engine: Any) -> None:
    world, fake = env.world, env.fake
    clock = HostClock()
    async with _bot_with_clock(env, shared_engine, clock) as bot:
        # A long job ahead keeps alice's waiting while time passes.
        ahead = await fake.send_command(world.guild, world.channel, world.mod, "dream",
                                        {"prompt": "ahead", "steps": 100})
        await ahead.wait_acked(timeout=3)
        await fake.wait_for(lambda: bot.app.queue.running(), timeout=RESULT_TIMEOUT,
                            what="the job ahead generating")
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "late", "width": 64, "height": 64,
                                          "steps": 2})
        await handle.wait_original(lambda m: "queue" in m.content, timeout=30)
        # Sixteen minutes pass, for Discord and for the bot alike.
        fake.advance(PAST_TOKEN)
        clock.offset = PAST_TOKEN
        since = len(fake.requests)
        ahead_id = _job_rows(env)[0][0]
        stop = await fake.send_command(world.guild, world.channel, world.mod, "cancel",
                                       {"job": ahead_id})
        await stop.wait_original(timeout=10)
        message = await fake.wait_for(lambda: next(iter(_channel_results(env)), None),
                                      timeout=RESULT_TIMEOUT, what="result posted to the channel")
        await fake.wait_for(lambda: _job_rows_delivered(env)[1] == message.id, timeout=10,
                            what="the delivery recorded")
    # The bot knew the token was dead: it never tried it (no 401 to fall back from). Only an
    # edit of alice's place in line that was already on its way when the clock jumped (the
    # place changes as the job ahead renders) may land after the jump, and only first.
    tried = [r for r in fake.requests[since:] if handle.token in r.path]
    if tried and _is_place_edit(tried[0]):
        tried = tried[1:]
    assert [(r.method, r.path) for r in tried] == []
    assert f"<@{world.alice.id}>" in message.content and _metadata(message)["prompt"] == "late"


async def test_a_channel_post_is_not_repeated_after_a_restart_past_the_nonce_window(
        env: Env, shared_engine: Any) -> None:
    world, fake = env.world, env.fake
    clock = HostClock(PAST_TOKEN)  # every token looks dead to the bot: results go to #cats
    async with _bot_with_clock(env, shared_engine, clock):
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "once", "width": 64, "height": 64,
                                          "steps": 2})
        await handle.wait_acked(timeout=3)
        posted = await fake.wait_for(lambda: next(iter(_channel_results(env)), None),
                                     timeout=RESULT_TIMEOUT, what="result posted to the channel")
        await fake.wait_for(lambda: _job_rows_delivered(env)[0] == posted.id, timeout=10,
                            what="the delivery recorded")
    # As if the bot died between posting and recording the post; it comes back after Discord
    # forgot the post's nonce, so only the marker in the channel's history can stop a repeat.
    with sqlite3.connect(env.settings.database_path) as db:
        db.execute("UPDATE jobs SET message_id = NULL")
    fake.advance(NONCE_WINDOW_S + 1)
    clock.offset += NONCE_WINDOW_S + 1
    async with _bot_with_clock(env, shared_engine, clock):
        await fake.wait_for(lambda: _job_rows_delivered(env)[0] is not None,
                            timeout=RESULT_TIMEOUT, what="the delivery recorded again")
    marked = [m.id for m in fake.channel_messages(world.channel)
              if any(e.get("footer", {}).get("text") == job_marker(1) for e in m.embeds)]
    assert marked == [posted.id] and _job_rows_delivered(env) == [posted.id]


async def test_a_host_clock_far_from_discords_still_delivers_on_the_interaction(
        env: Env) -> None:
    world, fake = env.world, env.fake
    # This host runs 20 minutes fast: Discord's created_at of every interaction looks older
    # than a token's lifetime.
    fake.skew_clock(-20 * 60)
    async with env.run_bot():
        sent_at = time.time()
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "skewed", "width": 64, "height": 64,
                                          "steps": 2})
        await fake.wait_for(lambda: _channel_results(env) or (
            handle.original is not None and _is_result(handle.original)),
            timeout=RESULT_TIMEOUT, what="the result, wherever it goes")
        done_at = time.time()
    assert _channel_results(env) == []  # nothing went to the channel separately:
    result = handle.original  # the waiting message itself became the result
    assert result is not None and _metadata(result)["prompt"] == "skewed"
    assert not handle.followups
    with sqlite3.connect(env.settings.database_path) as db:
        (expires,) = db.execute("SELECT token_expires_at FROM jobs").fetchone()
    # Recorded by this host's clock from when it received the interaction (kept for restarts).
    lifetime = INTERACTION_TOKEN_LIFETIME
    assert sent_at + lifetime <= expires <= done_at + lifetime


async def test_oversize_image_is_reencoded_with_its_metadata(env: Env) -> None:
    env.fake.attachment_limit = 150_000  # a 512² PNG of the tiny model's noise is larger
    world = env.world
    async with env.run_bot():
        handle = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                             {"prompt": "big", "seed": 3})
        message = await _result(handle)
    attachment = message.attachments[0]
    assert attachment.size <= 150_000
    assert _metadata(message)["Seed"] == "3"
    with Image.open(io.BytesIO(attachment.data)) as image:
        assert image.size == (512, 512)
    with sqlite3.connect(env.settings.database_path) as db:
        (path,) = db.execute("SELECT output_path FROM jobs").fetchone()
    assert Path(path).stat().st_size > 150_000  # the stored original stays a full PNG


async def test_buttons_work_after_a_restart(env: Env) -> None:
    world = env.world
    stranger = env.fake.add_member(world.guild, "bob")
    async with env.run_bot():
        handle = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                             {"prompt": "a lighthouse", "width": 64,
                                              "height": 64, "seed": 5})
        result = await _result(handle)
    reroll, delete, recipe = (next(c for c in result.custom_ids() if c.startswith(f"ns:{a}:"))
                              for a in ("reroll", "delete", "recipe"))
    async with env.run_bot():  # a new process on the same database
        shown = await env.fake.click(result, recipe, stranger)
        text = (await shown.wait_original(timeout=10))
        assert text.is_ephemeral and "/dream prompt:a lighthouse" in text.content
        assert "seed:5" in text.content and "width:64" in text.content

        again = await env.fake.click(result, reroll, world.alice)
        child = await _result(again)
        assert _metadata(child)["prompt"] == "a lighthouse"
        rows = _job_rows(env)
        assert len(rows) == 2 and rows[1][3] == rows[0][0]  # recorded as a child job

        refused = await env.fake.click(result, delete, stranger)
        refusal = await refused.wait_original(timeout=10)
        assert refusal.is_ephemeral and "only the person who asked" in refusal.content
        assert not env.fake.get_message(result.id).deleted

        allowed = await env.fake.click(result, delete, world.alice)
        await allowed.wait_acked(timeout=3)
        await env.fake.wait_for(lambda: env.fake.get_message(result.id).deleted, timeout=10,
                                what="result deleted")


async def test_cancel_queued_and_running_jobs_and_queue(env: Env) -> None:
    world = env.world
    async with env.run_bot():
        running = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                              {"prompt": "running", "steps": 60})
        await running.wait_original(lambda m: "step" in m.content, timeout=RESULT_TIMEOUT)
        queued = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                             {"prompt": "queued", "width": 64, "height": 64})
        await queued.wait_original(lambda m: "queue" in m.content, timeout=10)
        running_id, queued_id = (row[0] for row in _job_rows(env))

        status = await env.fake.send_command(world.guild, world.channel, world.alice, "queue")
        listing = await status.wait_original(timeout=10)
        assert listing.is_ephemeral
        assert f"#{running_id}" in listing.content and "generating now" in listing.content
        assert f"#{queued_id}" in listing.content and "next in queue" in listing.content

        everything = await env.fake.send_command(world.guild, world.channel, world.mod,
                                                 "queue", {"all": True})
        admin = (await everything.wait_original(timeout=10)).content
        assert f"<@{world.alice.id}>" in admin and f"<#{world.channel.id}>" in admin
        assert f"#{running_id}" in admin and f"#{queued_id}" in admin and "attempts 1" in admin
        refused = await env.fake.send_command(world.guild, world.channel, world.alice, "queue",
                                              {"all": True})
        assert "Manage Messages" in (await refused.wait_original(timeout=10)).content

        stranger_try = await env.fake.send_command(
            world.guild, world.channel, env.fake.add_member(world.guild, "eve"), "cancel",
            {"job": queued_id})
        assert "someone else's" in (await stranger_try.wait_original(timeout=10)).content

        cancel_queued = await env.fake.send_command(world.guild, world.channel, world.alice,
                                                    "cancel", {"job": queued_id})
        assert f"#{queued_id}" in (await cancel_queued.wait_original(timeout=10)).content
        await queued.wait_original(lambda m: "cancelled" in m.content, timeout=10)

        cancel_running = await env.fake.send_command(world.guild, world.channel, world.mod,
                                                     "cancel", {"job": running_id})
        await cancel_running.wait_original(timeout=10)
        await running.wait_original(lambda m: "cancelled" in m.content, timeout=30)
    assert [row[1] for row in _job_rows(env)] == ["cancelled", "cancelled"]


async def test_gateway_disconnect_mid_generation_loses_nothing(env: Env) -> None:
    world = env.world
    async with env.run_bot():
        handle = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                             {"prompt": "through a storm", "steps": 20})
        await handle.wait_original(lambda m: not m.is_loading, timeout=RESULT_TIMEOUT)
        await env.fake.disconnect(code=4000)  # the gateway drops us; discord.py resumes
        message = await _result(handle)
        await env.fake.wait_resumed(timeout=30)
        after = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                            {"prompt": "after the storm", "width": 64,
                                             "height": 64})
        await _result(after)
    assert _metadata(message)["prompt"] == "through a storm"


async def test_unexpected_error_gets_an_apology_with_a_reference(
        env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from bot.services.generation import GenerationService

    def broken(self: GenerationService, user_id: int | None = None) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(GenerationService, "status", broken)
    world = env.world
    async with env.run_bot():
        handle = await env.fake.send_command(world.guild, world.channel, world.alice, "queue")
        reply = await handle.wait_original(timeout=10)
    assert reply.is_ephemeral and "Something went wrong" in reply.content
    reference = reply.content.split("`")[1]
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and str(world.alice.id) in logged[0].getMessage()
    assert "queue" in logged[0].getMessage()
    assert handle.token not in caplog.text  # the token is never logged
