"""Start-up: online before the model is loaded, and one clear line when Discord is unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import discord
import pytest

import bot.app
from bot.app import ModelLoadError, open_app
from bot.client.bot import (
    API_BASE_ENV,
    GATEWAY_ENV,
    DiscordUnreachable,
    NeurostreamBot,
    one_line_reconnects,
    run_bot,
    wait_for_discord,
)
from tests.client.conftest import Env
from tests.fake_discord import run_client
from tests.fake_discord.models import StoredMessage

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    """A local port nothing listens on (bound once to find a free one, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _is_result(message: StoredMessage) -> bool:
    return bool(message.attachments and message.embeds)


async def test_a_dream_during_the_load_is_queued_and_says_the_model_is_loading(
        env: Env, shared_engine: Any) -> None:
    gate = threading.Event()

    def slow_load() -> Any:
        gate.wait()  # the model "loads" until the test opens the gate
        return shared_engine

    fake, world = env.fake, env.world
    try:
        async with open_app(env.settings, sources=("discord", "stream"), recover=True,
                            factory=slow_load, wait_for_model=False) as app:
            client = NeurostreamBot(app, env.settings, guild_ready_timeout=0.05)
            async with run_client(fake, client):
                # Online, with the commands synced, while the model is still loading.
                assert app.loading and not app.worker.loaded
                assert {c["name"] for c in fake.commands(world.guild)} >= {"dream", "queue"}
                handle = await fake.send_command(world.guild, world.channel, world.alice,
                                                 "dream", {"prompt": "a cat", "width": 64,
                                                           "height": 64, "steps": 2})
                await handle.wait_acked(timeout=3)
                waiting = await handle.wait_original(
                    lambda m: "the model is loading" in m.content, timeout=10)
                assert "next in queue" in waiting.content
                assert app.loading
                gate.set()
                await asyncio.wait_for(app.ready, 60)
                result = await handle.wait_original(_is_result, timeout=120)
        # The delivery edits the same message while the job waits: it keeps the note too.
        states = [state.get("content") or "" for state in result.history]
        queued = [text for text in states if "in queue" in text]
        assert queued and all("the model is loading" in text for text in queued), states
    finally:
        gate.set()


async def test_a_load_failure_after_going_online_stops_the_bot(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()

    def broken_load() -> Any:
        gate.wait()
        raise RuntimeError("the checkpoint is truncated\nmore lines nobody needs")

    monkeypatch.setattr(bot.app, "engine_factory", lambda settings: broken_load)
    runner = asyncio.create_task(run_bot(env.settings, env.fake.token))
    try:
        await env.fake.wait_for(lambda: env.fake.commands(env.world.guild) or runner.done(),
                                timeout=60, what="commands synced")
        assert not runner.done(), "the bot stopped before going online"
        gate.set()
        with pytest.raises(ModelLoadError) as caught:
            await asyncio.wait_for(runner, 60)
        assert str(caught.value) == ("model 'tiny' could not be loaded: RuntimeError: the "
                                     "checkpoint is truncated")
    finally:
        gate.set()
        runner.cancel()
        with contextlib.suppress(BaseException):
            await runner


def _neurostream(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
                   "XDG_DATA_HOME": str(cwd / "data"), **env}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [["run"], ["sync", "--global"]])
def test_unreachable_discord_is_one_line_and_status_69(tmp_path: Path,
                                                       command: list[str]) -> None:
    port = _closed_port()
    config = tmp_path / "c.toml"
    config.write_text("[discord]\nstartup_retry_seconds = 0\n")
    result = _neurostream([*command, "--config", str(config)], tmp_path,
                          DISCORD_TOKEN="test-token",
                          **{API_BASE_ENV: f"http://127.0.0.1:{port}/api/v10",
                             GATEWAY_ENV: f"ws://127.0.0.1:{port}/gateway"})
    assert result.returncode == 69, result.stderr
    # The only other line is the notice that the endpoints come from the environment.
    lines = [line for line in result.stderr.splitlines()
             if "using Discord endpoints from the environment" not in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"neurostream {command[0]}: error: cannot reach Discord at "
                               "127.0.0.1 (Cannot connect to host")
    assert lines[0].endswith("gave up after 1 attempt")


async def test_start_up_retries_with_backoff_then_gives_up(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{_closed_port()}/api/v10")
    with caplog.at_level(logging.WARNING, logger="bot.client.bot"), \
            pytest.raises(DiscordUnreachable) as caught:
        await wait_for_discord(0.3, first_delay=0.05)
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert retries and all(r.exc_info is None for r in retries)
    assert f"gave up after {len(retries) + 1} attempts" in str(caught.value)


def test_no_voice_warning(tmp_path: Path) -> None:
    script = ("import logging; logging.basicConfig(); "
              "from bot.client.bot import NeurostreamBot; from bot.config import Settings; "
              "NeurostreamBot(None, Settings())")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "PyNaCl" not in result.stderr and "voice" not in result.stderr


def test_a_lost_connection_is_one_line_per_reconnect(caplog: pytest.LogCaptureFixture) -> None:
    one_line_reconnects()
    try:
        raise ConnectionResetError("Connection lost")
    except ConnectionResetError:
        with caplog.at_level(logging.ERROR, logger="discord.client"):
            # What discord.py's connect() logs before each reconnect.
            logging.getLogger("discord.client").exception("Attempting a reconnect in %.2fs", 1.5)
    [record] = caplog.records
    assert record.exc_info is None and "Traceback" not in caplog.text
    assert record.getMessage() == ("lost the connection to Discord (Connection lost); "
                                   "attempting a reconnect in 1.50s")


async def test_start_up_waits_out_an_outage(monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp import web

    answers = [503, 503, 200]

    async def gateway(request: web.Request) -> web.Response:
        return web.json_response({"url": "wss://example.invalid"}, status=answers.pop(0))

    app = web.Application()
    app.router.add_get("/api/v10/gateway", gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
        with caplog.at_level(logging.WARNING, logger="bot.client.bot"):
            await wait_for_discord(60, first_delay=0.01)
    finally:
        await runner.cleanup()
    assert answers == []
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [
        "cannot reach Discord at 127.0.0.1 (HTTP 503 Service Unavailable)"] * 2
