"""``/stream`` over the wire-level fake: people first, resume after restart, self-stop."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from bot.app import open_app
from bot.client.bot import NeurostreamBot
from bot.config import ThemeSettings
from bot.domain.prompt_pool import expand
from bot.domain.recipe import Recipe
from tests.client.conftest import Env
from tests.fake_discord import InteractionHandle, run_client
from tests.fake_discord.models import FakeChannel, StoredMessage

TIMEOUT = 120.0
THEME = {"prefix": "a cat,", "width": 128, "height": 128, "steps": 4}


@contextlib.asynccontextmanager
async def _bot(env: Env, engine: Any) -> AsyncIterator[NeurostreamBot]:
    """The bot as ``run_bot`` starts it (its queue also recovers stream jobs), fast streams."""
    themes = ThemeSettings(stream_every=0.2, stream_every_min=0.05, stream_every_max=3600.0)
    settings = dataclasses.replace(env.settings, themes=themes)
    async with open_app(settings, sources=("discord", "stream"), recover=True,
                        factory=lambda: engine) as app:
        bot = NeurostreamBot(app, settings, guild_ready_timeout=0.05)
        async with run_client(env.fake, bot):
            yield bot


def _stream_messages(env: Env, channel: FakeChannel) -> list[StoredMessage]:
    return [m for m in env.fake.channel_messages(channel)
            if m.attachments and m.embeds and m.interaction_id is None]


def _jobs(env: Env, source: str | None = None) -> list[dict[str, Any]]:
    with sqlite3.connect(env.settings.database_path) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    return [dict(row) for row in rows if source is None or row["source"] == source]


async def _ok(handle: InteractionHandle) -> StoredMessage:
    reply = await handle.wait_original(timeout=10)
    assert "⚠️" not in reply.content, reply.content
    return reply


async def _theme_and_stream(env: Env, channel: FakeChannel, every: str = "0.1s") -> None:
    world, fake = env.world, env.fake
    await _ok(await fake.send_command(world.guild, channel, world.mod, "theme set", THEME))
    await _ok(await fake.send_command(world.guild, channel, world.mod, "stream add",
                                      {"prompt": "a __cat_breed__ kitten {asleep|awake}"}))
    await _ok(await fake.send_command(world.guild, channel, world.mod, "stream start",
                                      {"every": every}))


async def test_a_stream_flows_yields_to_people_and_resumes(env: Env, shared_engine: Any) -> None:
    world, fake = env.world, env.fake
    async with _bot(env, shared_engine) as bot:
        refused = await fake.send_command(world.guild, world.channel, world.mod, "stream start")
        reply = await refused.wait_original(timeout=10)
        assert reply.is_ephemeral and "themed channel" in reply.content
        await _theme_and_stream(env, world.channel)
        await fake.wait_for(lambda: len(_stream_messages(env, world.channel)) >= 2, TIMEOUT,
                            "two stream images")
        # A person's job sent while a stream image renders waits for that one image only.
        queue = bot.app.queue
        await fake.wait_for(lambda: any(j.requester.source == "stream" for j in queue.running()),
                            TIMEOUT, "a stream job rendering")
        person = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "on a sofa"})
        # The result, not a progress preview (the waiting message carries those too: waiting
        # for any attachment let the bot shut down mid-generation and re-queue the job).
        await person.wait_original(lambda m: bool(m.attachments and m.embeds), timeout=TIMEOUT)
        status = await _ok(await fake.send_command(world.guild, world.channel, world.mod,
                                                   "stream status"))
        assert "Streaming" in status.content and "Images today:" in status.content
    images_before_restart = len(_stream_messages(env, world.channel))

    jobs = _jobs(env)
    mine = next(j for j in jobs if j["source"] == "discord")
    streams = [j for j in jobs if j["source"] == "stream"]
    blocking = [j for j in streams
                if j["started_at"] and j["started_at"] < mine["created_at"] < j["finished_at"]]
    assert mine["state"] == "done"
    assert len(blocking) == 1  # it arrived during exactly one stream render ...
    # ... and waited for that one image only: it was the next job to start after it ...
    starts = sorted((j["started_at"], j["id"]) for j in jobs if j["started_at"])
    after = [job_id for started, job_id in starts if started > blocking[0]["started_at"]]
    assert after[0] == mine["id"], (starts, mine["id"])
    # ... and no stream job started while the person's job was waiting.
    assert not [j for j in streams if j["started_at"]
                and mine["created_at"] <= j["started_at"] < mine["started_at"]]
    waited = mine["started_at"] - mine["created_at"]
    render = blocking[0]["finished_at"] - blocking[0]["started_at"]
    print(f"person waited {waited:.3f} s behind a stream image of {render:.3f} s")

    # Every stream image is reproducible from its recorded template and seed.
    from bot.services.themes import BUILTIN_PRESETS, load_presets

    wildcards = load_presets([BUILTIN_PRESETS], env.settings.model.limits).wildcards
    done = [j for j in streams if j["state"] == "done"]
    for job in done:
        recipe = Recipe.from_dict(json.loads(job["recipe"]))
        assert recipe.template == "a __cat_breed__ kitten {asleep|awake}"
        assert recipe.template_seed is not None
        assert expand(recipe.template, wildcards, recipe.template_seed) == recipe.user_prompt
        assert recipe.prompt == f"a cat, {recipe.user_prompt}" and recipe.width == 128
        assert job["user_id"] is None and job["priority"] < 0
    # Stream images mention nobody.
    for message in _stream_messages(env, world.channel):
        assert "<@" not in message.content
        assert (message.allowed_mentions or {}).get("users", []) == []

    # After a restart the stream carries on, then /stream stop ends it.
    async with _bot(env, shared_engine):
        await fake.wait_for(
            lambda: len(_stream_messages(env, world.channel)) >= images_before_restart + 2,
            TIMEOUT, "stream images after the restart")
        await _ok(await fake.send_command(world.guild, world.channel, world.mod, "stream stop"))
        await fake.wait_for(lambda: all(j["state"] in ("done", "failed", "cancelled")
                                        for j in _jobs(env, "stream")), TIMEOUT, "last image")
        count = len(_jobs(env, "stream"))
        status = await _ok(await fake.send_command(world.guild, world.channel, world.mod,
                                                   "stream status"))
        assert "Stopped" in status.content
    assert len(_jobs(env, "stream")) == count


async def test_a_deleted_channel_stops_its_stream_with_a_message(
        env: Env, shared_engine: Any) -> None:
    world, fake = env.world, env.fake
    planets = fake.add_channel(world.guild, "planets")
    async with _bot(env, shared_engine) as bot:
        await _theme_and_stream(env, planets, every="0.2s")
        await fake.wait_for(lambda: _stream_messages(env, planets), TIMEOUT, "a stream image")
        payload = fake.state.channel_payload(planets)
        fake.state.remove_channel(planets)
        await fake.dispatch("CHANNEL_DELETE", payload)
        await fake.wait_for(lambda: not bot.services.streams.is_running(planets.id), 10,
                            "the stream to stop")
        notice = await fake.wait_for(
            lambda: next((m for m in fake.channel_messages(world.channel)
                          if "stopped itself" in m.content), None), 10, "the notice")
        assert "deleted" in notice.content
    with sqlite3.connect(env.settings.database_path) as db:
        running, reason = db.execute("SELECT running, stop_reason FROM streams").fetchone()
    assert running == 0 and "deleted" in reason


async def test_a_missed_delete_event_stops_the_stream_on_the_failed_post(
        env: Env, shared_engine: Any) -> None:
    world, fake = env.world, env.fake
    planets = fake.add_channel(world.guild, "planets")
    async with _bot(env, shared_engine) as bot:
        await _theme_and_stream(env, planets, every="0.2s")
        await fake.wait_for(lambda: _stream_messages(env, planets), TIMEOUT, "a stream image")
        fake.state.remove_channel(planets)  # Discord deleted it; the bot never heard
        await fake.wait_for(lambda: not bot.services.streams.is_running(planets.id), TIMEOUT,
                            "the stream to stop")
        await fake.wait_for(lambda: any("stopped itself" in m.content
                                        for m in fake.channel_messages(world.channel)), 10,
                            "the notice")


async def test_stream_setup_creates_themed_streaming_channels(
        env: Env, shared_engine: Any) -> None:
    world, fake = env.world, env.fake
    async with _bot(env, shared_engine) as bot:
        choices = await fake.autocomplete(world.guild, world.channel, world.mod, "stream setup",
                                          {"presets": "cats,lon"}, "presets")
        assert [c["value"] for c in choices] == ["cats,loneliness"]
        reply = await _ok(await fake.send_command(
            world.guild, world.channel, world.mod, "stream setup",
            {"presets": "cats, love", "category": "flow", "every": "1h"}))
        assert reply.is_ephemeral and "2 themed, streaming channels" in reply.content
        (category,) = fake.channels_named(world.guild, "flow")
        made = [c for c in world.guild.channels.values() if c.parent_id == category.id]
        assert sorted(c.name for c in made) == ["cats", "love"]
        for channel in made:
            assert bot.services.themes.theme_for(channel.id) is not None
            assert bot.services.streams.is_running(channel.id)
            await bot.services.streams.stop(channel.id, "test over")
