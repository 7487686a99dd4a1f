"""One door: every origin (slash command, Reroll button, CLI, stream) passes the same request
rules, and a refusal is the same message everywhere, with nothing recorded."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_app
from bot.config import settings_from_dict
from bot.domain.errors import UserError
from bot.domain.rules import RuleContext
from bot.services.generation import GenerationService
from tests.client.conftest import Env
from tests.fake_discord.models import StoredMessage

REFUSAL = "the word 'forbidden' is not allowed here"
GUILD, CHANNEL = 1, 10


@dataclass
class RefuseWord:
    """A test rule: refuses any request whose final prompt holds ``word`` (once armed)."""

    word: str = "forbidden"
    armed: bool = True
    name: str = "refuse a word"

    def check(self, context: RuleContext) -> None:
        """Refuse the word in any recipe of the request."""
        if self.armed and any(self.word in r.prompt for r in context.recipes):
            raise UserError(REFUSAL)


def _jobs(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, state FROM jobs ORDER BY id").fetchall()


def _is_result(message: StoredMessage) -> bool:
    return bool(message.attachments and message.embeds and message.custom_ids())


async def test_slash_command_is_refused_ephemerally_before_any_acknowledgement(
        env: Env) -> None:
    world = env.world
    async with env.run_bot() as bot:
        assert bot.app is not None
        bot.app.generation.rules.append(RefuseWord())
        handle = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                             {"prompt": "a forbidden cat", "width": 64,
                                              "height": 64})
        reply = await handle.wait_original(timeout=10)
    # The first and only answer is ephemeral: no public "thinking…" flashed first.
    assert handle.response_type == 4 and not handle.is_deferred
    assert reply.is_ephemeral and REFUSAL in reply.content
    assert _jobs(env.settings.database_path) == []


async def test_a_cap_refusal_is_ephemeral_from_the_start(env: Env) -> None:
    world = env.world
    async with env.run_bot(model={"steps": 3}, queue={"max_per_user": 1, "max_batch": 1},
                           storage={"database": "ns.db", "output_dir": "outputs"},
                           discord={"dev_guild_ids": [world.guild.id]}) as bot:
        assert bot.app is not None
        app = bot.app
        running = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                              {"prompt": "a cat", "width": 64, "height": 64,
                                               "steps": 150})
        await env.fake.wait_for(lambda: app.queue.running(), timeout=60)
        waiting = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                              {"prompt": "a cow", "width": 64, "height": 64})
        await waiting.wait_acked(timeout=3)
        second = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                             {"prompt": "a dog", "width": 64, "height": 64})
        reply = await second.wait_original(timeout=10)
        for _ in (waiting, running):
            await app.generation.cancel(None, user_id=world.alice.id)
        assert running.is_deferred and waiting.is_deferred
    assert second.response_type == 4 and not second.is_deferred
    assert reply.is_ephemeral and "limit is 1 per person" in reply.content


async def test_reroll_button_passes_the_same_rules(env: Env) -> None:
    world = env.world
    rule = RefuseWord(armed=False)
    async with env.run_bot() as bot:
        assert bot.app is not None
        bot.app.generation.rules.append(rule)
        handle = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                             {"prompt": "a forbidden cat", "width": 64,
                                              "height": 64})
        result = await handle.wait_original(_is_result, timeout=120)
        rule.armed = True  # e.g. a moderator added the word to the blocklist since
        reroll = next(c for c in result.custom_ids() if c.startswith("ns:reroll:"))
        click = await env.fake.click(result, reroll, world.alice)
        reply = await click.wait_original(timeout=10)
    assert click.response_type == 4 and reply.is_ephemeral and REFUSAL in reply.content
    assert len(_jobs(env.settings.database_path)) == 1  # the parent only


def _arm_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    real_init = GenerationService.__init__

    def init(self: GenerationService, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        self.rules.append(RefuseWord())

    monkeypatch.setattr(GenerationService, "__init__", init)


def test_cli_passes_the_same_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main

    _arm_every_service(monkeypatch)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert main(["dream", "a forbidden cat", "--model", "tiny", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"neurostream dream: error: {REFUSAL}"]
    assert _jobs(tmp_path / "neurostream" / "neurostream.db") == []


async def test_a_stream_passes_the_same_rules(tmp_path: Path, shared_engine: Any) -> None:
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
        app.generation.rules.append(RefuseWord())
        await app.themes.set(GUILD, CHANNEL, app.themes.build("a cat"), user_id=7,
                             user_name="mod")
        await app.streams.add_prompt(GUILD, CHANNEL, "forbidden dreams", user_id=7)
        await app.streams.start(GUILD, CHANNEL, 60.0, user_id=7)
        app.streams.start_runner(Host())
        try:
            await asyncio.wait_for(stopped.wait(), 60)
        finally:
            await app.streams.stop_runner()
    assert len(announced) == 1 and REFUSAL in announced[0]
    assert _jobs(settings.database_path) == []


async def test_a_reroll_is_recorded_as_a_reroll_link_of_its_parent(env: Env) -> None:
    world = env.world
    async with env.run_bot():
        handle = await env.fake.send_command(world.guild, world.channel, world.alice, "dream",
                                             {"prompt": "a cat", "width": 64, "height": 64})
        result = await handle.wait_original(_is_result, timeout=120)
        reroll = next(c for c in result.custom_ids() if c.startswith("ns:reroll:"))
        click = await env.fake.click(result, reroll, world.alice)
        await click.wait_original(_is_result, timeout=120)
    with sqlite3.connect(env.settings.database_path) as db:
        links = db.execute("SELECT child_id, parent_id, kind, position FROM job_links").fetchall()
        parents = db.execute("SELECT id, parent_id FROM jobs ORDER BY id").fetchall()
    assert links == [(2, 1, "reroll", 0)]
    assert parents == [(1, None), (2, 1)]
