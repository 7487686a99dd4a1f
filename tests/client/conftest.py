"""Fixtures for the bot over the wire-level fake Discord: the real discord.py client, real
aiosqlite and the tiny pipeline."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, open_app
from bot.client.bot import NeurostreamBot
from bot.config import Settings, settings_from_dict
from tests.fake_discord import FakeDiscord, World, build_world, run_client

BotRunner = Callable[..., contextlib.AbstractAsyncContextManager[NeurostreamBot]]


@dataclass
class Env:
    """The fake Discord, its small world and the bot's settings."""

    fake: FakeDiscord
    world: World
    settings: Settings
    run_bot: BotRunner


@pytest.fixture
async def env(tmp_path: Path, shared_engine: Any) -> AsyncIterator[Env]:
    """A started, patched fake with guild ``g``, ``#cats``, alice and a moderator."""
    async with FakeDiscord(token="test-token") as fake:
        fake.patch_discord()  # undone by stop()
        world = build_world(fake)
        settings = settings_from_dict(
            {"model": {"steps": 3, "width": 512, "height": 512},
             "storage": {"database": "ns.db", "output_dir": "outputs"},
             "discord": {"dev_guild_ids": [world.guild.id]},
             "queue": {"max_batch": 1}},
            base_dir=tmp_path)

        @contextlib.asynccontextmanager
        async def run_bot(**overrides: Any) -> AsyncIterator[NeurostreamBot]:
            used = settings_from_dict(overrides, base_dir=tmp_path) if overrides else settings
            app: App
            async with open_app(used, sources=("discord", "stream"), recover=True,
                                factory=lambda: shared_engine) as app:
                bot = NeurostreamBot(app, used, guild_ready_timeout=0.05)
                async with run_client(fake, bot):
                    yield bot

        yield Env(fake, world, settings, run_bot)
