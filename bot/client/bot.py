"""The Discord bot: resources are built in ``run_bot`` and injected; cogs are extensions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import discord
import discord.asset
import discord.gateway
import discord.http
import yarl
from discord.ext import commands

from bot.app import App, open_app
from bot.client.delivery import GENERATING, Delivery
from bot.client.errors import on_app_command_error
from bot.client.tree import CleanInputTree
from bot.config import Settings
from bot.domain.errors import NeurostreamError
from bot.domain.jobs import Job
from bot.render.texts import escape, position_text
from bot.services import Services
from bot.storage.lineage import LineageRepository

log = logging.getLogger(__name__)

# The bot never joins voice, so discord.py's warnings that voice's optional libraries (PyNaCl,
# davey) are missing are only noise.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

EXTENSIONS = ("cogs.dream", "cogs.queue", "cogs.theme", "cogs.stream", "cogs.iterate",
              "cogs.craft", "cogs.moderation", "cogs.about", "cogs.party", "cogs.models")

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
        # Nothing the bot sends pings anyone unless a call allows it (only the delivery's channel
        # post allows its requester): user text reaches message content, and without this
        # default Discord pings every @everyone, role and member that content names. Webhook
        # edits (interaction responses) take this default too: they share the client's state.
        super().__init__(command_prefix=commands.when_mentioned, intents=intents,
                         help_command=None, allowed_mentions=discord.AllowedMentions.none(),
                         tree_cls=CleanInputTree, **options)
        self.app = app
        self.settings = settings
        self.sync_global = sync_global
        self.delivery: Delivery | None = None
        if app is not None:
            self.delivery = Delivery(self, app.jobs, app.queue,
                                     lineage=LineageRepository(app.database), craft=app.craft)
            # /safety nsfw: whether flagged images may appear (as spoilers) in a server.
            self.delivery.nsfw_allowed = app.moderation.nsfw_allowed

    @property
    def services(self) -> Services:
        """The services cogs call (absent only while syncing commands)."""
        if self.app is None:
            raise RuntimeError("the bot was started without its services")
        return Services(self.app.generation, self.app.themes, self.app.streams,
                        intake=self.app.intake, craft=self.app.craft,
                        moderation=self.app.moderation, party=self.app.party,
                        wall=self.app.wall, tools=self.app.tools)

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
        if self.settings.discord.dev_guild_ids:
            log.info("commands synced to %d server(s)", len(self.settings.discord.dev_guild_ids))
        else:
            log.info("no [discord] dev_guild_ids: commands are not synced at start-up "
                     "(neurostream sync --global syncs them to every server)")
        if self.delivery is not None:
            assert self.app is not None  # a delivery exists only with the app
            self.delivery.place_text = place_text_while_loading(self.app)
            self.delivery.started_text = started_text(self.app)
            await self.delivery.start()

    async def close(self) -> None:
        """Stop delivering, then close the connection."""
        if self.delivery is not None:
            await self.delivery.close()
        await super().close()


LOADING_NOTE = "⏳ the model is loading"
UNREACHABLE_NOTE = "⚠️ the renderers are unreachable, your job is kept"


def place_text_while_loading(app: App) -> Callable[[int, float | None], str]:
    """A waiting job's place, with a note while the model is still loading (no ETA then) or
    while the Ray Serve renderers are unreachable."""
    def text(position: int, eta: float | None) -> str:
        shown = position_text(position, eta)
        if app.renderers_unreachable:
            return f"{shown} · {UNREACHABLE_NOTE}"
        if app.loading:
            return f"{shown} · {LOADING_NOTE}"
        switching = app.models.loading if app.models is not None else None
        return f"{shown} · ⏳ loading model {escape(switching)}" if switching else shown
    return text


def started_text(app: App) -> Callable[[Job], str]:
    """A started job's status: generating, or its model being loaded first."""
    def text(job: Job) -> str:
        # A model that is not loaded when its job starts is loaded first (seconds to minutes).
        models = app.models
        if models is not None and (models.loading == job.recipe.model
                                   or job.recipe.model not in models.loaded):
            return f"⏳ loading model {escape(job.recipe.model)}…"
        return GENERATING
    return text


class DiscordUnreachable(NeurostreamError):
    """Discord could not be reached at start-up, after retrying for a while."""


# What "the network or Discord is down" looks like through aiohttp and discord.py.
_UNREACHABLE = (OSError, aiohttp.ClientError, asyncio.TimeoutError, discord.DiscordServerError,
                discord.GatewayNotFound)


def _why(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


async def wait_for_discord(retry_for: float, *, first_delay: float = 1.0,
                           max_delay: float = 30.0) -> None:
    """Return once Discord's API answers; retry with exponential backoff for ``retry_for`` s.

    Any answer but a server error counts (the token is checked by the login that follows).
    After the last attempt, raise DiscordUnreachable with one line naming the host and reason.
    """
    url = f"{discord.http.Route.BASE}/gateway"
    host = yarl.URL(url).host
    started = time.monotonic()
    delay = first_delay
    attempts = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            attempts += 1
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
                    why = f"HTTP {response.status} {response.reason or ''}".strip()
            except _UNREACHABLE as error:
                why = _why(error)
            left = retry_for - (time.monotonic() - started)
            if left <= 0:
                tried = (f"{attempts} attempts over {time.monotonic() - started:.0f} s"
                         if attempts > 1 else "1 attempt")
                raise DiscordUnreachable(f"cannot reach Discord at {host} ({why}); "
                                         f"gave up after {tried}")
            wait = min(delay, left)
            log.warning("cannot reach Discord at %s (%s); retrying in %.3g s", host, why, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, max_delay)


class _OneLineReconnects(logging.Filter):
    """discord.py logs each gateway reconnect with a full traceback: one line says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the traceback of "Attempting a reconnect" with the error's first line."""
        if record.exc_info and str(record.msg).startswith("Attempting a reconnect"):
            error = record.exc_info[1]
            record.msg = (f"lost the connection to Discord ({_why(error) if error else '?'}); "
                          f"{record.msg[0].lower()}{record.msg[1:]}")
            record.exc_info = record.exc_text = None
        return True


def one_line_reconnects() -> None:
    """Make discord.py's reconnect messages one line each (installed once)."""
    logger = logging.getLogger("discord.client")
    if not any(isinstance(f, _OneLineReconnects) for f in logger.filters):
        logger.addFilter(_OneLineReconnects())


async def _start(bot: NeurostreamBot, token: str) -> None:
    """Log in and connect; a network failure during the login is one line, not a traceback."""
    try:
        await bot.login(token)
    except _UNREACHABLE as error:
        raise DiscordUnreachable(f"lost Discord while logging in ({_why(error)})") from None
    # From here discord.py reconnects by itself, with backoff, for as long as it takes.
    await bot.connect(reconnect=True)


async def run_bot(settings: Settings, token: str) -> None:
    """Run until SIGINT/SIGTERM; the running job is re-queued and the database closed.

    Discord is reached first (``wait_for_discord``); then the bot logs in and syncs its commands
    while the model loads on the inference thread. A load failure stops the bot (raised here).
    """
    apply_endpoint_overrides()
    one_line_reconnects()
    await wait_for_discord(settings.discord.startup_retry_seconds)
    async with open_app(settings, sources=("discord", "stream"), recover=True,
                        wait_for_model=False) as app:
        bot = NeurostreamBot(app, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows
                loop.add_signal_handler(sig, stop.set)
        async with bot:
            runner = asyncio.create_task(_start(bot, token))
            stopper = asyncio.create_task(stop.wait())
            watched: set[asyncio.Future[Any]] = {runner, stopper, app.ready}
            while True:
                done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                if done == {app.ready} and app.ready.exception() is None:
                    watched.discard(app.ready)  # loaded: keep running
                    continue
                break
            if stopper in done:
                log.warning("shutting down")
            await bot.close()
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner  # re-raises a login failure
            if app.ready.done() and not app.ready.cancelled():
                app.ready.result()  # re-raises a load failure


async def sync_commands(settings: Settings, token: str) -> None:
    """Log in, sync the commands globally, log out."""
    apply_endpoint_overrides()
    await wait_for_discord(settings.discord.startup_retry_seconds)
    bot = NeurostreamBot(None, settings, sync_global=True)
    async with bot:
        try:
            await bot.login(token)  # login runs setup_hook, which syncs and returns
        except _UNREACHABLE as error:
            raise DiscordUnreachable(f"lost Discord while syncing ({_why(error)})") from None
