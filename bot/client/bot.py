"""The Discord bot: resources are built in ``run_bot`` and injected; cogs are extensions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

import discord
import discord.asset
import discord.gateway
import discord.http
import yarl
from discord.ext import commands

from bot.app import App, open_app
from bot.client.delivery import Delivery
from bot.client.errors import on_app_command_error
from bot.config import Settings

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.dream", "cogs.queue", "cogs.theme", "cogs.stream")

# Test seams: point discord.py at a local fake of Discord (tests/fake_discord). Never needed
# in production. discord.py connects straight to DEFAULT_GATEWAY, so the REST base alone is not
# enough.
API_BASE_ENV = "NEUROSTREAM_DISCORD_API_BASE"
GATEWAY_ENV = "NEUROSTREAM_DISCORD_GATEWAY"
CDN_BASE_ENV = "NEUROSTREAM_DISCORD_CDN_BASE"


def apply_endpoint_overrides() -> None:
    """Honour the ``NEUROSTREAM_DISCORD_*`` variables (the fake Discord of the tests)."""
    base, gateway = os.environ.get(API_BASE_ENV), os.environ.get(GATEWAY_ENV)
    if not base or not gateway:
        return
    log.warning("using Discord endpoints from the environment: %s, %s", base, gateway)
    discord.http.Route.BASE = base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    if cdn := os.environ.get(CDN_BASE_ENV):
        discord.asset.Asset.BASE = cdn.rstrip("/")


class NeurostreamBot(commands.Bot):
    """A ``commands.Bot`` holding the application's services."""

    def __init__(self, app: App | None, settings: Settings, *, sync_global: bool = False,
                 **options: Any) -> None:
        # Slash commands and buttons need no privileged intents; guilds gives the channel cache.
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(command_prefix=commands.when_mentioned, intents=intents,
                         help_command=None, **options)
        self.app = app
        self.settings = settings
        self.sync_global = sync_global
        self.delivery: Delivery | None = None
        if app is not None:
            self.delivery = Delivery(self, app.jobs, app.queue)

    @property
    def services(self) -> App:
        """The application (absent only while syncing commands)."""
        if self.app is None:
            raise RuntimeError("the bot was started without its services")
        return self.app

    async def setup_hook(self) -> None:
        """Load the cogs, sync commands to the dev guilds, resume delivering recorded jobs."""
        self.tree.error(on_app_command_error)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.sync_global:
            synced = await self.tree.sync()
            log.warning("synced %d commands globally", len(synced))
            return
        for guild_id in self.settings.discord.dev_guild_ids:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        if self.delivery is not None:
            await self.delivery.start()

    async def close(self) -> None:
        """Stop delivering, then close the connection."""
        if self.delivery is not None:
            await self.delivery.close()
        await super().close()


async def run_bot(settings: Settings, token: str) -> None:
    """Run until SIGINT/SIGTERM; the running job is re-queued and the database closed."""
    apply_endpoint_overrides()
    async with open_app(settings, sources=("discord", "stream"), recover=True) as app:
        bot = NeurostreamBot(app, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows
                loop.add_signal_handler(sig, stop.set)
        async with bot:
            runner = asyncio.create_task(bot.start(token))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                log.warning("shutting down")
            await bot.close()
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner  # re-raises a login failure


async def sync_commands(settings: Settings, token: str) -> None:
    """Log in, sync the commands globally, log out."""
    apply_endpoint_overrides()
    bot = NeurostreamBot(None, settings, sync_global=True)
    async with bot:
        await bot.login(token)  # login runs setup_hook, which syncs and returns
