"""``/theme`` over the wire-level fake: permissions, enforcement in /dream, threads, presets."""

from __future__ import annotations

import sqlite3
from typing import Any

from bot.domain.a1111 import parse_parameters
from bot.render import read_parameters
from tests.client.conftest import Env
from tests.fake_discord import InteractionHandle
from tests.fake_discord.models import MANAGE_CHANNELS, StoredMessage

RESULT_TIMEOUT = 120.0
SMALL = {"width": 64, "height": 64, "steps": 2}


def _is_result(message: StoredMessage) -> bool:
    return bool(message.attachments and message.embeds)


async def _result(handle: InteractionHandle) -> StoredMessage:
    return await handle.wait_original(_is_result, timeout=RESULT_TIMEOUT)


def _fields(message: StoredMessage) -> dict[str, str]:
    return {field["name"]: field["value"] for field in message.embeds[0]["fields"]}


def _rows(env: Env, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(env.settings.database_path) as db:
        return db.execute(query).fetchall()


async def _reply(handle: InteractionHandle) -> StoredMessage:
    return await handle.wait_original(timeout=10)


async def test_members_without_manage_channels_are_refused_and_nothing_is_stored(
        env: Env) -> None:
    world = env.world
    async with env.run_bot():
        commands = {c["name"]: c for c in env.fake.commands(world.guild)}
        for name in ("theme", "stream"):
            assert int(commands[name]["default_member_permissions"]) == MANAGE_CHANNELS
        assert "default_member_permissions" not in commands["dream"] or \
            commands["dream"]["default_member_permissions"] is None
        for path, options in [("theme set", {"prefix": "dogs only"}), ("theme clear", {}),
                              ("stream start", {}), ("stream add", {"prompt": "x"})]:
            handle = await env.fake.send_command(world.guild, world.channel, world.alice, path,
                                                 options)
            reply = await _reply(handle)
            assert reply.is_ephemeral and "manage_channels" in reply.content, path
    assert _rows(env, "SELECT * FROM channel_themes") == []
    assert _rows(env, "SELECT * FROM theme_changes") == []
    assert _rows(env, "SELECT * FROM stream_prompts") == []


async def test_a_theme_applies_in_its_channel_and_threads_only(env: Env) -> None:
    world, fake = env.world, env.fake
    other = fake.add_channel(world.guild, "dogs")
    thread = fake.add_thread(world.channel, "kitten talk")
    async with env.run_bot():
        handle = await fake.send_command(
            world.guild, world.channel, world.mod, "theme set",
            {"prefix": "a cute photograph of a cat,", "suffix": "soft light",
             "negative": "blurry", "width": 64, "height": 64, "steps": 2})
        reply = await _reply(handle)
        assert not reply.is_ephemeral and "soft light" in reply.content

        themed = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "on a windowsill", "negative": "dogs",
                                          "steps": 3})
        message = await _result(themed)
        in_thread = await fake.send_command(world.guild, thread, world.alice, "dream",
                                            {"prompt": "in a box"})
        thread_message = await _result(in_thread)
        plain = await fake.send_command(world.guild, other, world.alice, "dream",
                                        {"prompt": "on a windowsill", **SMALL})
        plain_message = await _result(plain)

    meta = parse_parameters(read_parameters(message.attachments[0].data) or "")
    assert meta["prompt"] == "a cute photograph of a cat, on a windowsill, soft light"
    assert meta["negative"] == "blurry, dogs"
    assert (meta["Size"], meta["Steps"]) == ("64x64", "2")  # locked; the user asked for 3
    embed = message.embeds[0]
    assert embed["description"] == "on a windowsill"
    fields = _fields(message)
    assert "a cute photograph of a cat" in fields["Theme"] and "soft light" in fields["Theme"]
    assert "locks steps to 2 (you asked for 3)" in fields["Theme notes"]
    assert str(world.alice.id) in embed["fields"][-1]["value"]
    # The waiting message named the theme and the note.
    assert any("Theme" in (state.get("content") or "") and "locks steps" in state["content"]
               for state in message.history)

    thread_meta = parse_parameters(read_parameters(thread_message.attachments[0].data) or "")
    assert thread_meta["prompt"] == "a cute photograph of a cat, in a box, soft light"

    plain_meta = parse_parameters(read_parameters(plain_message.attachments[0].data) or "")
    assert plain_meta["prompt"] == "on a windowsill" and plain_meta["negative"] == ""
    assert "Theme" not in _fields(plain_message)


async def test_show_history_list_and_clear(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        for prefix in ("cats", "kittens"):
            await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                 "theme set", {"prefix": prefix, **SMALL}))
        show = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                    "theme show"))
        assert show.is_ephemeral and "kittens" in show.content
        assert f"<@{world.mod.id}>" in show.content and "<t:" in show.content
        listed = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                      "theme list"))
        assert f"<#{world.channel.id}>" in listed.content and "kittens" in listed.content
        history = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                       "theme history"))
        lines = history.content.splitlines()
        assert "cats → kittens" in lines[1] and "none → cats" in lines[2]
        cleared = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                       "theme clear"))
        assert "cleared" in cleared.content
        again = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                     "theme clear"))
        assert again.is_ephemeral and "no theme" in again.content
        show = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                    "theme show"))
        assert "no theme" in show.content
        after = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                        {"prompt": "a dog", **SMALL})
        result = await _result(after)
    assert parse_parameters(read_parameters(result.attachments[0].data) or "")["prompt"] == "a dog"
    assert _rows(env, "SELECT * FROM channel_themes") == []
    assert len(_rows(env, "SELECT * FROM theme_changes")) == 3


async def test_bad_theme_values_are_refused_ephemerally(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.mod, "theme set",
                                         {"prefix": "cats", "width": 100})
        reply = await _reply(handle)
        assert reply.is_ephemeral and "width must be a multiple of 8" in reply.content
        unknown = await fake.send_command(world.guild, world.channel, world.mod, "theme preset",
                                          {"name": "dogs"})
        reply = await _reply(unknown)
        assert reply.is_ephemeral and "no preset called 'dogs'" in reply.content
    assert _rows(env, "SELECT * FROM channel_themes") == []


async def test_presets_autocomplete_and_apply_with_their_pool(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        choices = await fake.autocomplete(world.guild, world.channel, world.mod, "theme preset",
                                          {"name": ""}, "name")
        assert 9 <= len(choices) <= 25 and "cats" in [c["value"] for c in choices]
        cities = await fake.autocomplete(world.guild, world.channel, world.mod, "theme preset",
                                         {"name": "cit"}, "name")
        assert [c["value"] for c in cities] == ["city-oil", "city-pencil", "city-watercolor"]
        reply = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                     "theme preset", {"name": "cats"}))
        assert "Cats and kittens" in reply.content and "5 prompts" in reply.content
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a tabby", **SMALL})
        message = await _result(handle)
    assert "**cats**" in _fields(message)["Theme"]
    (theme,) = _rows(env, "SELECT theme FROM channel_themes")[0]
    assert '"name": "cats"' in theme
    assert len(_rows(env, "SELECT * FROM stream_prompts")) == 5


async def test_a_long_themed_prompt_is_accepted_with_a_warning(env: Env) -> None:
    world, fake = env.world, env.fake
    words = " ".join(["red"] * 70)  # 70 tokens: the user's words pass the 75-token window
    async with env.run_bot():
        await _reply(await fake.send_command(world.guild, world.channel, world.mod, "theme set",
                                             {"prefix": words, **SMALL}))
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a tiny red fox under the bright moon"})
        message = await _result(handle)
    note = _fields(message)["Theme notes"]
    assert "77-token" in note and "“under the bright moon”" in note
