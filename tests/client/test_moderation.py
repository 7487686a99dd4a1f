"""Moderation over the wire-level fake: permissions, blocklists, quotas, denied members on every
origin, the audit log, /about, /safety."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_app
from bot.config import settings_from_dict
from tests.client.conftest import Env
from tests.fake_discord import InteractionHandle
from tests.fake_discord.models import MANAGE_CHANNELS, MANAGE_MESSAGES, StoredMessage

SMALL = {"width": 64, "height": 64, "steps": 2}
MANAGE_GUILD = 1 << 5
GUILD, CHANNEL = 1, 10


async def _reply(handle: InteractionHandle) -> StoredMessage:
    return await handle.wait_original(timeout=10)


def _is_result(message: StoredMessage) -> bool:
    return bool(message.attachments and message.embeds and message.custom_ids())


def _rows(env: Env, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(env.settings.database_path) as db:
        return db.execute(query).fetchall()


async def test_moderator_commands_are_hidden_and_checked_again(env: Env) -> None:
    world, fake = env.world, env.fake
    # Manage Channels and Messages, not Manage Server.
    async with env.run_bot():
        commands = {c["name"]: c for c in fake.commands(world.guild)}
        for name, bits in (("blocklist", MANAGE_MESSAGES), ("mod", MANAGE_MESSAGES),
                           ("quota", MANAGE_GUILD), ("safety", MANAGE_GUILD)):
            assert int(commands[name]["default_member_permissions"]) == bits, name
        assert commands["about"].get("default_member_permissions") is None
        # A server could open the commands to everyone: the bot checks again.
        refused = [("blocklist add", {"rule": "cat"}, world.alice, "manage_messages"),
                   ("mod deny", {"member": world.mod}, world.alice, "manage_messages"),
                   ("mod log", {}, world.alice, "manage_messages"),
                   ("quota set", {"per_minute": 1}, world.mod, "manage_guild"),
                   ("safety nsfw", {"setting": "allow"}, world.mod, "manage_guild"),
                   ("blocklist defaults", {"enabled": False}, world.mod, "manage_guild")]
        for path, options, who, permission in refused:
            reply = await _reply(await fake.send_command(world.guild, world.channel, who, path,
                                                         options))
            assert reply.is_ephemeral and permission in reply.content, path
    for table in ("blocklist_rules", "denied_members", "guild_settings", "audit_log"):
        assert _rows(env, f"SELECT * FROM {table}") == [], table
    assert MANAGE_CHANNELS  # the moderator of the fake world has it, and it is not enough


async def test_a_blocklisted_prompt_is_refused_naming_the_rule_and_audited(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        added = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                     "blocklist add", {"rule": "Cat"}))
        assert added.is_ephemeral and "Added the rule `Cat`" in added.content
        await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                             "blocklist add", {"rule": "re:\\bdogs?\\b"}))
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a ｃ.а.т on a mat", **SMALL})
        refusal = await _reply(handle)
        assert handle.response_type == 4 and not handle.is_deferred
        assert refusal.is_ephemeral
        assert refusal.content == ("⚠️ this server's blocklist does not allow that: the prompt "
                                   "matches the rule `Cat`")
        slow = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                    "blocklist add", {"rule": "re:(a+)+$"}))
        assert slow.is_ephemeral and "repetition inside a repetition" in slow.content
        listed = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                      "blocklist list"))
        assert "`Cat`" in listed.content and "`re:\\bdogs?\\b`" in listed.content
        log = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                   "mod log"))
        assert log.content.count("blocklist add") == 2 and "**mod**" in log.content
    assert _rows(env, "SELECT id FROM jobs") == []


async def test_a_lone_surrogate_in_an_option_is_dropped_not_a_crash(env: Env) -> None:
    # JSON may carry "\\ud800"; it once failed the database write with UnicodeEncodeError.
    world, fake = env.world, env.fake
    async with env.run_bot():
        added = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                     "blocklist add", {"rule": "c\ud800at"}))
    assert added.is_ephemeral and "Added the rule `cat`" in added.content
    assert _rows(env, "SELECT rule FROM blocklist_rules") == [("cat",)]


async def test_quotas_refuse_with_the_wait_and_spare_an_exempt_role(env: Env) -> None:
    world, fake = env.world, env.fake
    admin = fake.add_member(world.guild, "admin", permissions=MANAGE_GUILD)
    artists = fake.add_role(world.guild, "artists")
    bob = fake.add_member(world.guild, "bob", roles=[artists])
    async with env.run_bot(model={"steps": 1, "width": 64, "height": 64},
                           storage={"database": "ns.db", "output_dir": "outputs"},
                           discord={"dev_guild_ids": [world.guild.id]}):
        quota = await _reply(await fake.send_command(world.guild, world.channel, admin,
                                                     "quota set", {"per_hour": 1}))
        assert "no limit" not in quota.content and "1 an hour" in quota.content
        await _reply(await fake.send_command(world.guild, world.channel, admin,
                                             "quota exempt", {"role": artists}))
        first = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                        {"prompt": "one"})
        await first.wait_acked(timeout=3)
        second = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "two"})
        refusal = await _reply(second)
        assert refusal.is_ephemeral and not second.is_deferred
        assert "limit of 1 image(s) an hour; your next request is allowed in " in \
            refusal.content
        assert refusal.content.endswith(("59 min 59 s", "59 min 58 s", "1 h"))
        for prompt in ("three", "four"):  # bob has the exempt role
            handle = await fake.send_command(world.guild, world.channel, bob, "dream",
                                             {"prompt": prompt})
            await handle.wait_acked(timeout=3)
            assert handle.is_deferred
        await first.wait_original(_is_result, timeout=120)
    assert _rows(env, "SELECT action FROM audit_log ORDER BY id") == [("quota set",),
                                                                      ("quota exempt",)]


async def test_a_denied_member_is_refused_on_commands_and_buttons_until_allowed(
        env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a cat", **SMALL})
        result = await handle.wait_original(_is_result, timeout=120)
        denied = await _reply(await fake.send_command(
            world.guild, world.channel, world.mod, "mod deny",
            {"member": world.alice, "reason": "spam @everyone", "duration": "2h"}))
        assert denied.is_ephemeral and "may not make images here for 2 h" in denied.content
        slash = await _reply(await fake.send_command(world.guild, world.channel, world.alice,
                                                     "dream", {"prompt": "a dog", **SMALL}))
        reroll = next(c for c in result.custom_ids() if c.startswith("ns:reroll:"))
        click = await fake.click(result, reroll, world.alice)
        button = await _reply(click)
        for reply in (slash, button):
            assert reply.is_ephemeral
            assert "stopped you from making images here (reason: `spam @everyone`), for " \
                   "2 h more" in reply.content or "for 1 h 59 min more" in reply.content
        recent = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                      "mod recent", {"member": world.alice}))
        assert "`#1`" in recent.content and "a cat" in recent.content
        assert (f"[jump](https://discord.com/channels/{world.guild.id}/{world.channel.id}/"
                f"{result.id})") in recent.content
        await _reply(await fake.send_command(world.guild, world.channel, world.mod, "mod allow",
                                             {"member": world.alice}))
        again = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                        {"prompt": "a dog", **SMALL})
        await again.wait_original(_is_result, timeout=120)
    assert _rows(env, "SELECT action, target FROM audit_log ORDER BY id") == [
        ("mod deny", f"alice ({world.alice.id})"), ("mod allow", f"alice ({world.alice.id})")]


async def test_about_shows_the_model_licence_rules_and_source(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                             "blocklist add", {"rule": "gore"}))
        about = await _reply(await fake.send_command(world.guild, world.channel, world.alice,
                                                     "about"))
    assert about.is_ephemeral
    embed = about.embeds[0]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert embed["title"].startswith("neurostream ")
    assert "answers for it" in embed["description"]
    assert fields["Model"] == "`tiny`"
    assert "Blocklist: 1 rule(s)" in fields["This server's rules"]
    assert "Quotas: no limit per person" in fields["This server's rules"]
    assert fields["Source"].startswith("https://")


async def test_the_safety_setting_is_stored_per_server(env: Env) -> None:
    world, fake = env.world, env.fake
    admin = fake.add_member(world.guild, "admin", permissions=MANAGE_GUILD)
    async with env.run_bot() as bot:
        reply = await _reply(await fake.send_command(world.guild, world.channel, admin,
                                                     "safety nsfw", {"setting": "allow"}))
        assert reply.is_ephemeral and "spoilers" in reply.content
        assert bot.services.moderation.nsfw_allowed(world.guild.id)
    assert _rows(env, "SELECT nsfw_allowed FROM guild_settings") == [(1,)]


async def test_a_forged_reroll_of_another_servers_job_is_refused(env: Env) -> None:
    world, fake = env.world, env.fake
    other = fake.add_guild("elsewhere")
    there = fake.add_channel(other, "art")
    fake.add_member(other, "alice", user=world.alice.user)
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a cat", **SMALL})
        result = await handle.wait_original(_is_result, timeout=120)
        job_id = next(c for c in result.custom_ids() if c.startswith("ns:reroll:")).split(":")[2]
        # A message in the other server carrying a button that names this server's job.
        forged, _ = fake.state.create_message(there, fake.bot_user, {"content": "x", "components": [
            {"type": 1, "components": [{"type": 2, "style": 1, "label": "Reroll",
                                        "custom_id": f"ns:reroll:{job_id}"}]}]})
        click = await fake.click(forged, f"ns:reroll:{job_id}", world.alice)
        reply = await _reply(click)
    assert reply.is_ephemeral and "not in this server's records" in reply.content
    assert len(_rows(env, "SELECT id FROM jobs")) == 1


# -- the other origins: the CLI and streams pass the same moderation rules ---------------------


def test_the_cli_passes_the_operators_default_blocklist(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main

    config = tmp_path / "config.toml"
    config.write_text('[moderation]\ndefault_blocklist = ["gore"]\n[storage]\n'
                      'database = "cli.db"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["dream", "some G.O.R.E", "--config", str(config), "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["neurostream dream: error: this server's blocklist does not allow that: "
                   "the prompt matches the rule `gore`"]
    with sqlite3.connect(tmp_path / "cli.db") as db:
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone() == (0,)


async def test_a_stream_passes_its_servers_blocklist(tmp_path: Path, shared_engine: Any) -> None:
    from bot.domain.moderation import Actor
    from tests.services.test_streams import QuietHost

    settings = settings_from_dict(
        {"storage": {"database": "s.db", "output_dir": "out"},
         "model": {"width": 64, "height": 64, "steps": 2}}, base_dir=tmp_path)
    announced: list[str] = []
    stopped = asyncio.Event()

    class Host(QuietHost):
        async def announce(self, stream: Any, text: str) -> None:
            announced.append(text)
            stopped.set()

    async with open_app(settings, sources=("stream",), recover=False,
                        factory=lambda: shared_engine) as app:
        await app.moderation.add_rule(GUILD, "forbidden", Actor(7, "mod"))
        await app.themes.set(GUILD, CHANNEL, app.themes.build("a cat"), user_id=7,
                             user_name="mod")
        await app.streams.add_prompt(GUILD, CHANNEL, "f0rbidden dreams", user_id=7)
        await app.streams.start(GUILD, CHANNEL, 60.0, user_id=7)
        app.streams.start_runner(Host())
        try:
            await asyncio.wait_for(stopped.wait(), 60)
        finally:
            await app.streams.stop_runner()
    assert len(announced) == 1 and "matches the rule `forbidden`" in announced[0]
    with sqlite3.connect(settings.database_path) as db:
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone() == (0,)
