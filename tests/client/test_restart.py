"""The bot as a real process (``python -m bot run``) over the fake: kill -9 mid-upload, restart,
every acknowledged job delivered exactly once; SIGTERM shuts down cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fake_discord import FakeDiscord, build_world

BOT_START_TIMEOUT = 180.0


class BotProcess:
    """``python -m bot run`` in its own process group, pointed at the fake."""

    def __init__(self, fake: FakeDiscord, config: Path, log: Path) -> None:
        environment = {**os.environ, **fake.env(), "DISCORD_TOKEN": fake.token,
                       "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(config)], cwd=config.parent,
            env=environment, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill_9(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def terminate(self) -> int:
        """SIGTERM and wait for a clean exit."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def close(self) -> None:
        """Make sure nothing is left running."""
        if self.process.poll() is None:
            self.kill_9()
        self.log.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord serving a bot in another process."""
    async with FakeDiscord(token="restart-token") as server:
        yield server


async def test_kill_9_mid_upload_then_restart_delivers_each_job_exactly_once(
        fake: FakeDiscord, tmp_path: Path) -> None:
    world = build_world(fake)
    members = [world.alice, world.mod, fake.add_member(world.guild, "carol")]
    config = tmp_path / "neurostream.toml"
    config.write_text(f'[storage]\ndatabase = "ns.db"\n[discord]\ndev_guild_ids = '
                      f'[{world.guild.id}]\n[worker]\ntorch_threads = 2\n')
    log = tmp_path / "bot.log"

    stalled = asyncio.Event()

    async def stall_first_upload(path: str, names: list[str]) -> None:
        if any(name.endswith(".png") for name in names) and not stalled.is_set():
            stalled.set()
            await asyncio.sleep(3600)  # the bot dies while this upload is in flight

    bot = BotProcess(fake, config, log)
    try:
        await fake.wait_for(lambda: fake.commands(world.guild), timeout=BOT_START_TIMEOUT,
                            what=f"the bot to sync its commands (log: {log})")
        await fake.wait_ready(timeout=60)
        fake.state.upload_hook = stall_first_upload
        handles = []
        for i in range(7):
            handle = await fake.send_command(
                world.guild, world.channel, members[i % 3], "dream",
                {"prompt": f"job {i}", "width": 128, "height": 128, "steps": 6, "seed": i})
            await handle.wait_acked(timeout=3)
            handles.append(handle)
        await asyncio.wait_for(stalled.wait(), 120)
        bot.kill_9()
    finally:
        bot.close()
    fake.state.upload_hook = None
    with sqlite3.connect(tmp_path / "ns.db") as db:
        states = [row[0] for row in db.execute("SELECT state FROM jobs ORDER BY id")]
    assert len(states) == 7 and states.count("done") >= 1  # the stalled one had finished

    bot = BotProcess(fake, config, log)
    try:
        await fake.wait_ready(timeout=BOT_START_TIMEOUT, count=2)
        for handle in handles:
            await handle.wait_original(lambda m: bool(m.attachments and m.embeds),
                                       timeout=BOT_START_TIMEOUT)
        assert bot.terminate() == 0, log.read_text()[-3000:]
    finally:
        bot.close()

    for i, handle in enumerate(handles):
        original = handle.original
        assert original is not None and not original.deleted
        assert original.embeds[0]["description"] == f"job {i}"
        assert not handle.followups  # delivered on its own interaction, once
    posted = [m for m in fake.channel_messages(world.channel) if m.interaction_id is None]
    assert posted == []  # nothing went to the channel a second time
    with sqlite3.connect(tmp_path / "ns.db") as db:
        rows = db.execute("SELECT state, message_id FROM jobs ORDER BY id").fetchall()
    assert [state for state, _ in rows] == ["done"] * 7
    assert [message_id for _, message_id in rows] == [h.original.id for h in handles
                                                        if h.original is not None]
