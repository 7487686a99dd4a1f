"""FakeDiscord gateway and REST behaviour, driven by a real discord.py client where possible."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests.fake_discord import FakeDiscord, Upload, run_client
from tests.fake_discord.harness import World
from tests.fake_discord.interaction_payloads import new_interaction

pytestmark = pytest.mark.asyncio
REPO_ROOT = Path(__file__).resolve().parents[2]


def new_bot(**intents: bool) -> commands.Bot:
    """A bare commands.Bot with fast on_ready."""
    flags = discord.Intents.default()
    for name, value in intents.items():
        setattr(flags, name, value)
    return commands.Bot(command_prefix="!", intents=flags, guild_ready_timeout=0.05)


async def test_wrong_token_refused(fake: FakeDiscord, world: World) -> None:
    """REST without the bot token → 401/0 (LoginFailure); IDENTIFY with a bad token → 4004."""
    refused = new_bot()
    with pytest.raises(discord.LoginFailure):
        await refused.login("not-the-token")
    await refused.close()
    async with aiohttp.ClientSession() as session:
        async with session.get(fake.api_base + "/users/@me") as resp:
            assert resp.status == 401
            assert json.loads(await resp.text()) == {"message": "401: Unauthorized", "code": 0}
        async with session.ws_connect(fake.gateway_url + "?v=10&encoding=json") as ws:
            hello = await ws.receive_json()
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
            await ws.send_json({"op": 2, "d": {"token": "bad", "intents": 0, "properties": {}}})
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4004
    assert fake.gateway.ready_count == 0


async def test_nonce_deduplicates_channel_messages(fake: FakeDiscord, world: World) -> None:
    """Two sends with the same nonce (enforce_nonce) create one message."""
    async with run_client(fake, new_bot()) as bot:
        channel = bot.get_channel(world.channel.id)
        assert isinstance(channel, discord.TextChannel)
        first = await channel.send("hello", nonce=12345)
        second = await channel.send("hello", nonce=12345)
        ping = f"hi <@{world.alice.id}> <@{world.mod.id}>"
        third = await channel.send(ping, nonce=999,
                                   allowed_mentions=discord.AllowedMentions(users=[discord.Object(world.mod.id)]))
    assert first.id == second.id != third.id
    assert [m.content for m in fake.channel_messages(world.channel)] == ["hello", ping]
    assert fake.get_message(third.id).mentions == [world.mod.id]  # allowed_mentions respected
    assert [u.id for u in third.mentions] == [world.mod.id]
    sent = fake.requests_matching("POST", rf"/channels/{world.channel.id}/messages$")
    assert [r.json["enforce_nonce"] for r in sent] == [True, True, True]


async def test_oversize_upload_413(fake: FakeDiscord, world: World) -> None:
    """A file over the per-instance limit → 413 / 40005; interactions carry the limit."""
    fake.attachment_limit = 200_000
    async with run_client(fake, new_bot()) as bot:
        channel = bot.get_channel(world.channel.id)
        assert isinstance(channel, discord.TextChannel)
        big = discord.File(io.BytesIO(os.urandom(300_000)), "big.bin")
        with pytest.raises(discord.HTTPException) as info:
            await channel.send(file=big)
        assert (info.value.status, info.value.code) == (413, 40005)
        ok = await channel.send(file=discord.File(io.BytesIO(b"x" * 1000), "small.txt"))
        assert ok.attachments[0].size == 1000
        assert (ok.attachments[0].content_type or "").startswith("text/plain")
        rec = new_interaction(fake.state, itype=2, guild=world.guild, channel=world.channel,
                              member=world.alice, data={})
        assert rec.payload["attachment_size_limit"] == 200_000
    assert [len(m.attachments) for m in fake.channel_messages(world.channel)] == [1]


async def test_resume_after_disconnect(fake: FakeDiscord, world: World) -> None:
    """Dropping the socket → client RESUMEs on resume_gateway_url; missed events are replayed."""
    bot = new_bot()
    seen: list[str] = []
    resumed = asyncio.Event()

    @bot.event
    async def on_message(message: discord.Message) -> None:
        seen.append(message.content)

    @bot.event
    async def on_resumed() -> None:
        resumed.set()

    async def no_identify_delay(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before a non-initial IDENTIFY; skip that here."""

    bot.before_identify_hook = no_identify_delay  # type: ignore[method-assign]
    async with run_client(fake, bot):
        assert await fake.disconnect() == 1
        await fake.post_message(world.channel, world.alice, f"hey <@{fake.bot_user.id}>")
        await fake.wait_resumed(timeout=5)
        await asyncio.wait_for(resumed.wait(), 5)
        await fake.wait_for(lambda: seen, timeout=3)
        assert seen == [f"hey <@{fake.bot_user.id}>"]
        last = fake.gateway.connections[-1]
        assert (last.kind, last.path) == ("resume", "/gateway-resume")
        assert fake.gateway.ready_count == 1

        await fake.request_reconnect()  # op 7
        await fake.wait_resumed(timeout=5, count=2)
        await fake.invalidate_sessions()  # op 9 → fresh IDENTIFY
        await fake.wait_ready(timeout=5, count=2)


async def test_message_content_intent_and_history(fake: FakeDiscord, world: World) -> None:
    """Without MESSAGE_CONTENT, other users' content is blanked; history paginates."""
    bot = new_bot()
    got: list[discord.Message] = []

    @bot.event
    async def on_message(message: discord.Message) -> None:
        got.append(message)

    async with run_client(fake, bot):
        await fake.post_message(world.channel, world.alice, "secret",
                                attachments=[Upload("a.txt", b"abc")])
        await fake.wait_for(lambda: got, timeout=3)
        assert got[0].content == "" and got[0].attachments == []
        channel = bot.get_channel(world.channel.id)
        assert isinstance(channel, discord.TextChannel)
        for i in range(5):
            await channel.send(f"m{i}")
        history = [m.content async for m in channel.history(limit=3)]
        assert history == ["m4", "m3", "m2"]
        oldest = [m.content async for m in channel.history(limit=10, oldest_first=True)]
        assert oldest == ["secret", "m0", "m1", "m2", "m3", "m4"]
        fetched = await channel.fetch_message(got[0].id)
        assert fetched.content == "secret" and fetched.attachments[0].filename == "a.txt"
        assert await fetched.attachments[0].read() == b"abc"


async def test_channels_and_permissions(fake: FakeDiscord, world: World) -> None:
    """Create/delete channels and categories via REST; missing permissions → 403/50013."""
    async with run_client(fake, new_bot()) as bot:
        guild = bot.get_guild(world.guild.id)
        assert guild is not None
        category = await guild.create_category("Dream Streams")
        text = await guild.create_text_channel("My Stream", category=category)
        assert text.name == "my-stream" and text.category_id == category.id
        await fake.wait_for(lambda: guild.get_channel(text.id), timeout=3)
        assert fake.get_channel(text.id) is not None
        await text.delete()
        await fake.wait_for(lambda: guild.get_channel(text.id) is None, timeout=3)
        assert fake.get_channel(text.id) is None

        world.guild.roles[world.guild.bot_role_id].permissions = 1 << 10  # view only
        with pytest.raises(discord.Forbidden) as info:
            await guild.create_text_channel("nope")
        assert info.value.code == 50013
        deny_send = {"id": world.guild.bot_role_id, "type": 0, "allow": 0, "deny": 1 << 11}
        fake.set_overwrites(world.channel, [deny_send])
        channel = guild.get_channel(world.channel.id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.Forbidden):
            await channel.send("no send permission")


async def test_subprocess_bot_kill9_and_restart(fake: FakeDiscord, world: World) -> None:
    """A bot subprocess configured by env vars; kill -9; a new process answers the next command."""
    env = {**os.environ, **fake.env(), "DISCORD_TOKEN": fake.token,
           "PYTHONPATH": str(REPO_ROOT)}
    replies: list[str] = []
    for attempt in range(2):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fake_discord.subprocess_bot", str(world.guild.id),
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line.strip() == b"READY"
            inter = await fake.send_command(world.guild, world.channel, world.alice, "ping")
            replies.append((await inter.wait_original(timeout=5)).content)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert fake.gateway.ready_count == attempt + 1
    assert replies[0] != replies[1] and all(r.startswith("pong from ") for r in replies)
