"""Helpers to run a real discord.py client against a FakeDiscord inside the test process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

import discord

from .models import MANAGE_CHANNELS, MANAGE_MESSAGES, FakeChannel, FakeGuild, FakeMember
from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)


async def start_client(
    fake: FakeDiscord, client: discord.Client, *, timeout: float = 10.0, wait_ready: bool = True
) -> asyncio.Task[None]:
    """Log in, connect in a background task and wait for READY (and on_ready if asked)."""
    target = fake.gateway.ready_count + 1
    await client.login(fake.token)
    task = asyncio.create_task(client.connect(reconnect=True), name="fake-discord-client")
    await fake.wait_for(lambda: fake.gateway.ready_count >= target or task.done(), timeout,
                        "client READY")
    if task.done():
        task.result()  # surfaces the connection error
    if wait_ready:
        await asyncio.wait_for(client.wait_until_ready(), timeout)
    return task


async def stop_client(client: discord.Client, task: asyncio.Task[None] | None) -> None:
    """Close the client and reap its connect() task (the fake keeps running)."""
    await client.close()
    if task is not None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 5)


@contextlib.asynccontextmanager
async def run_client(
    fake: FakeDiscord, client: ClientT, *, timeout: float = 10.0, wait_ready: bool = True
) -> AsyncIterator[ClientT]:
    """``async with run_client(fake, bot) as bot:`` — connected on entry, closed on exit."""
    task = await start_client(fake, client, timeout=timeout, wait_ready=wait_ready)
    try:
        yield client
    finally:
        await stop_client(client, task)


@dataclass
class World:
    """A guild with a text channel, a regular member and a moderator."""

    guild: FakeGuild
    channel: FakeChannel
    alice: FakeMember
    mod: FakeMember


def build_world(fake: FakeDiscord, guild_name: str = "g", channel_name: str = "cats") -> World:
    """Create the standard small world: guild, #cats, alice, mod (Manage Channels/Messages)."""
    guild = fake.add_guild(guild_name)
    channel = fake.add_channel(guild, channel_name)
    alice = fake.add_member(guild, "alice")
    mod = fake.add_member(guild, "mod", permissions=MANAGE_CHANNELS | MANAGE_MESSAGES)
    return World(guild=guild, channel=channel, alice=alice, mod=mod)
