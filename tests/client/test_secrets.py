"""The bot token is never logged or echoed: not at DEBUG over a whole run, not in the settings'
repr, not in a configuration error, not when Discord refuses it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import pytest

import bot.app
from bot.client.bot import run_bot
from bot.config import load_settings, settings_from_dict
from bot.domain.errors import ConfigError
from tests.fake_discord import FakeDiscord, build_world

SECRET = "MTIzNDU2Nzg5.secret-token-never-shown.abcdefghijklmnop"


def _leaks(caplog: pytest.LogCaptureFixture) -> list[str]:
    leaks = []
    for record in caplog.records:
        shown = [record.getMessage(), record.exc_text or "", repr(record.args)]
        if record.exc_info and record.exc_info[1] is not None:
            shown.append(repr(record.exc_info[1]))
        if any(SECRET in text for text in shown):
            leaks.append(f"{record.name}: {record.getMessage()[:100]}")
    return leaks


async def test_a_whole_run_at_debug_level_never_logs_the_token(
        tmp_path: Path, shared_engine: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # discord.py logs gateway payloads at DEBUG
    monkeypatch.setattr(bot.app, "engine_factory", lambda *args, **kwargs: lambda: shared_engine)
    async with FakeDiscord(token=SECRET) as fake:
        fake.patch_discord()
        world = build_world(fake)
        settings = settings_from_dict(
            {"model": {"steps": 1, "width": 64, "height": 64},
             "storage": {"database": "ns.db", "output_dir": "outputs"},
             "discord": {"dev_guild_ids": [world.guild.id]}}, base_dir=tmp_path)
        runner = asyncio.create_task(run_bot(settings, SECRET))
        try:
            await fake.wait_for(lambda: fake.commands(world.guild) or runner.done(),
                                timeout=60, what="commands synced")
            if runner.done():
                runner.result()  # its error
            await fake.wait_ready(timeout=60)  # connected to the gateway
            handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                             {"prompt": "a cat"})
            await handle.wait_original(  # the result (a progress preview comes first)
                lambda m: any(a.filename != "preview.jpg" for a in m.attachments),
                timeout=120)
            about = await fake.send_command(world.guild, world.channel, world.alice, "about")
            await about.wait_original(timeout=10)
        finally:
            runner.cancel()
            with contextlib.suppress(BaseException):
                await runner
    assert len(caplog.records) > 50  # it did log, at DEBUG
    assert _leaks(caplog) == []
    assert SECRET not in caplog.text


async def test_a_refused_token_is_not_echoed(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    import discord

    caplog.set_level(logging.DEBUG)
    async with FakeDiscord(token="the-right-one") as fake:
        fake.patch_discord()
        settings = settings_from_dict({"storage": {"database": "ns.db"}}, base_dir=tmp_path)
        with pytest.raises(discord.LoginFailure) as refused:
            await asyncio.wait_for(run_bot(settings, SECRET), 60)
    assert SECRET not in repr(refused.value) and SECRET not in str(refused.value)
    assert _leaks(caplog) == []


def test_the_settings_never_hold_or_show_the_token(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    config = tmp_path / "config.toml"
    config.write_text("[model]\nid = \"tiny\"\n", encoding="utf-8")
    assert SECRET not in repr(load_settings(config))
    config.write_text(f'[discord]\ntoken = "{SECRET}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as misplaced:
        load_settings(config)
    assert "does not belong in the config file" in str(misplaced.value)
    assert SECRET not in str(misplaced.value) and SECRET not in repr(misplaced.value)
    config.write_text(f'[discord]\nbot_token = "{SECRET}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as unknown:
        load_settings(config)
    assert "unknown key discord.bot_token" in str(unknown.value)
    assert SECRET not in str(unknown.value)
