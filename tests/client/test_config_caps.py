"""``[queue] max_per_user`` and ``max_total`` from a config file hold over the wire-level fake."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from bot.app import open_app
from bot.client.bot import NeurostreamBot
from bot.config import load_settings
from tests.client.conftest import Env
from tests.fake_discord import InteractionHandle, run_client

CONFIG = """
[storage]
database = "caps.db"
output_dir = "outputs"
[model]
width = 64
height = 64
steps = 2
[queue]
max_per_user = 2
max_total = 3
"""


def _replies(handle: InteractionHandle) -> str:
    """Everything the bot answered on an interaction (its response and follow-ups)."""
    messages = [handle.original, *handle.followups]
    return "\n".join(m.content for m in messages if m is not None and not m.deleted)


async def test_the_configs_caps_refuse_past_each_limit(env: Env, shared_engine: Any,
                                                       tmp_path: Path) -> None:
    config = tmp_path / "neurostream.toml"
    config.write_text(CONFIG + f"[discord]\ndev_guild_ids = [{env.world.guild.id}]\n")
    settings = load_settings(config)
    fake, world = env.fake, env.world
    bob = fake.add_member(world.guild, "bob")
    carol = fake.add_member(world.guild, "carol")
    loaded = threading.Event()

    def loading() -> Any:
        loaded.wait()  # the model loads all along: every admitted job waits in line
        return shared_engine

    async def dream(member: Any, expect: str) -> str:
        handle = await fake.send_command(world.guild, world.channel, member, "dream",
                                         {"prompt": "a cat"})
        return await fake.wait_for(
            lambda: _replies(handle) if expect in _replies(handle) else None,
            timeout=10, what=f"a reply saying {expect!r}")

    try:
        async with open_app(settings, sources=("discord",), recover=True, factory=loading,
                            wait_for_model=False) as app:
            client = NeurostreamBot(app, settings, guild_ready_timeout=0.05)
            async with run_client(fake, client):
                await dream(world.alice, "in queue")
                await dream(world.alice, "in queue")
                refused = await dream(world.alice, "limit is 2")  # max_per_user
                await dream(bob, "in queue")
                full = await dream(carol, "limit is 3")  # max_total
    finally:
        loaded.set()
    assert "per person" in refused and "full" in full
    with sqlite3.connect(settings.database_path) as db:
        users = [row[0] for row in db.execute("SELECT user_id FROM jobs ORDER BY id")]
    assert users == [world.alice.id, world.alice.id, bob.id]  # nothing recorded when refused
