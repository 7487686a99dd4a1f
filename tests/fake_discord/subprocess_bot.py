"""A minimal bot for subprocess tests: ``python -m tests.fake_discord.subprocess_bot GUILD_ID``.

Reads DISCORD_TOKEN and the NEUROSTREAM_DISCORD_* variables, syncs ``/ping`` to the guild,
prints ``READY`` once connected, and answers ``/ping`` with ``pong from <pid>``.
"""

from __future__ import annotations

import asyncio
import os
import sys

import discord
from discord.ext import commands

from tests.fake_discord.client_env import apply_env


async def main(guild_id: int) -> None:
    """Run until killed."""
    if not apply_env():
        raise SystemExit("NEUROSTREAM_DISCORD_API_BASE / _GATEWAY are not set")
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none(),
                       guild_ready_timeout=0.05)
    guild = discord.Object(guild_id)

    @bot.tree.command(name="ping", description="Ping", guild=guild)
    async def ping(inter: discord.Interaction) -> None:
        await inter.response.send_message(f"pong from {os.getpid()}")

    @bot.event
    async def on_ready() -> None:
        await bot.tree.sync(guild=guild)
        print("READY", flush=True)

    await bot.start(os.environ["DISCORD_TOKEN"])


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
