"""FakeDiscord: the aiohttp server (REST + gateway + CDN) and its world-building/inspection API."""

from __future__ import annotations

import re
from types import TracebackType
from typing import Any

from aiohttp import web

from . import rest_app, rest_interactions, rest_messages
from .client_env import ENV_API_BASE, ENV_CDN_BASE, ENV_GATEWAY
from .driver import DriverMixin, InteractionHandle
from .gateway import Gateway, GatewaySession
from .models import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    GUILD_CATEGORY,
    GUILD_TEXT,
    PUBLIC_THREAD,
    Clock,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    RecordedRequest,
    StoredMessage,
)
from .rest_base import API_PREFIX, GATEWAY_KEY, STATE_KEY, api_middleware
from .state import FakeState

GATEWAY_PATH = "/gateway"
RESUME_PATH = "/gateway-resume"


class DiscordPatch:
    """Points discord.py (Route.BASE, gateway URL, CDN base) at a fake; restorable."""

    def __init__(self, api_base: str, gateway_url: str, cdn_base: str) -> None:
        """Apply the patch immediately, remembering the previous values."""
        import discord.asset
        import discord.gateway
        import discord.http
        import yarl

        self._route = discord.http.Route
        self._ws = discord.gateway.DiscordWebSocket
        self._asset = discord.asset.Asset
        self._saved = (self._route.BASE, self._ws.DEFAULT_GATEWAY, self._asset.BASE)
        self._route.BASE = api_base
        self._ws.DEFAULT_GATEWAY = yarl.URL(gateway_url)
        self._asset.BASE = cdn_base
        self.active = True

    def restore(self) -> None:
        """Undo the patch (idempotent)."""
        if self.active:
            self._route.BASE, self._ws.DEFAULT_GATEWAY, self._asset.BASE = self._saved
            self.active = False

    def __enter__(self) -> DiscordPatch:
        """Context-manager form; the patch is already applied."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Restore on exit."""
        self.restore()


class FakeDiscord(DriverMixin):
    """A wire-level fake of Discord's REST API v10 and JSON gateway on 127.0.0.1."""

    def __init__(
        self,
        token: str = "test-token",
        *,
        attachment_limit: int = 10 * 1024 * 1024,
        heartbeat_interval_ms: int = 41250,
        bot_name: str = "neurostream",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the fake; call ``start()`` (or use ``async with``) to serve."""
        self.state = FakeState(token, attachment_limit, bot_name)
        self.gateway = Gateway(self.state, heartbeat_interval_ms)
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None
        self._patches: list[DiscordPatch] = []

    # ----------------------------------------------------------------- lifecycle
    def _build_app(self) -> web.Application:
        """The aiohttp application with every route."""
        app = web.Application(middlewares=[api_middleware], client_max_size=1 << 30)
        app[STATE_KEY] = self.state
        app[GATEWAY_KEY] = self.gateway
        for module in (rest_app, rest_messages, rest_interactions):
            app.router.add_routes(module.routes)
        app.router.add_get(GATEWAY_PATH, self.gateway.handle)
        app.router.add_get(RESUME_PATH, self.gateway.handle)
        rest_messages.add_cdn_routes(app)
        return app

    async def start(self) -> FakeDiscord:
        """Bind a free port and start serving."""
        self._runner = web.AppRunner(self._build_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        base = f"http://{self.host}:{self.port}"
        self.state.cdn_base = base
        self.state.gateway_url = f"ws://{self.host}:{self.port}{GATEWAY_PATH}"
        self.gateway.resume_url = f"ws://{self.host}:{self.port}{RESUME_PATH}"
        return self

    async def stop(self) -> None:
        """Close sockets, stop serving and undo any discord.py patches."""
        for patch in self._patches:
            patch.restore()
        if self._runner is not None:
            await self.gateway.close_all()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        """Start on entry."""
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on exit."""
        await self.stop()

    # ----------------------------------------------------------------- endpoints
    @property
    def token(self) -> str:
        """The bot token REST and IDENTIFY must carry."""
        return self.state.token

    @property
    def api_base(self) -> str:
        """Value for discord.http.Route.BASE (``http://127.0.0.1:PORT/api/v10``)."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Value for DiscordWebSocket.DEFAULT_GATEWAY (``ws://127.0.0.1:PORT/gateway``)."""
        return self.state.gateway_url

    @property
    def resume_gateway_url(self) -> str:
        """The resume_gateway_url sent in READY."""
        return self.gateway.resume_url

    @property
    def cdn_base(self) -> str:
        """Value for discord.Asset.BASE; attachment URLs live under it too."""
        return self.state.cdn_base

    def env(self) -> dict[str, str]:
        """Environment variables that point a bot subprocess at this fake."""
        return {ENV_API_BASE: self.api_base, ENV_GATEWAY: self.gateway_url,
                ENV_CDN_BASE: self.cdn_base}

    def patch_discord(self) -> DiscordPatch:
        """Point this process's discord.py at the fake (restored by stop() or the returned CM)."""
        patch = DiscordPatch(self.api_base, self.gateway_url, self.cdn_base)
        self._patches.append(patch)
        return patch

    # ----------------------------------------------------------------- world building
    @property
    def application_id(self) -> int:
        """Application id (equal to the bot user's id)."""
        return self.state.application_id

    @property
    def bot_user(self) -> FakeUser:
        """The bot's user."""
        return self.state.bot_user

    @property
    def owner(self) -> FakeUser:
        """The application owner (also owner of every guild)."""
        return self.state.owner_user

    @property
    def clock(self) -> Clock:
        """Clock used for the 3 s acknowledgement and 15 min token deadlines."""
        return self.state.clock

    @property
    def attachment_limit(self) -> int:
        """Upload size limit in bytes (also sent as attachment_size_limit)."""
        return self.state.attachment_limit

    @attachment_limit.setter
    def attachment_limit(self, value: int) -> None:
        """Change the upload size limit."""
        self.state.attachment_limit = value

    def add_guild(
        self, name: str = "guild", *, bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS, locale: str = "en-US",
    ) -> FakeGuild:
        """Create a guild (with @everyone, the bot as member, owner = application owner)."""
        return self.state.add_guild(name, bot_permissions=bot_permissions,
                                    everyone_permissions=everyone_permissions, locale=locale)

    def add_role(self, guild: FakeGuild, name: str, permissions: int = 0) -> FakeRole:
        """Create a role."""
        return self.state.add_role(guild, name, permissions)

    def add_user(self, name: str, *, bot: bool = False) -> FakeUser:
        """Create a user that is in no guild yet."""
        return self.state.add_user(name, bot=bot)

    def add_member(
        self, guild: FakeGuild, name: str = "user", *, permissions: int | None = None,
        roles: list[FakeRole] | None = None, user: FakeUser | None = None,
        nick: str | None = None, locale: str = "en-US",
    ) -> FakeMember:
        """Add a member; ``permissions`` grants extra bits through a personal role."""
        return self.state.add_member(guild, name, permissions=permissions, roles=roles,
                                     user=user, nick=nick, locale=locale)

    def add_channel(
        self, guild: FakeGuild, name: str = "general", *, type: int = GUILD_TEXT,
        parent: FakeChannel | None = None, topic: str | None = None,
        overwrites: list[dict[str, Any]] | None = None, nsfw: bool = False,
    ) -> FakeChannel:
        """Create a channel; pass a category as ``parent`` (or a text channel for threads)."""
        return self.state.add_channel(guild, name, type=type,
                                      parent_id=parent.id if parent else None, topic=topic,
                                      overwrites=overwrites, nsfw=nsfw)

    def add_category(self, guild: FakeGuild, name: str) -> FakeChannel:
        """Create a category channel."""
        return self.add_channel(guild, name, type=GUILD_CATEGORY)

    def add_thread(
        self, parent: FakeChannel, name: str, *, type: int = PUBLIC_THREAD
    ) -> FakeChannel:
        """Create a thread under a text channel."""
        guild = self.state.guilds[parent.guild_id]
        return self.state.add_channel(guild, name, type=type, parent_id=parent.id,
                                      owner_id=self.owner.id)

    def set_overwrites(self, channel: FakeChannel, overwrites: list[dict[str, Any]]) -> None:
        """Replace a channel's permission overwrites ({id, type 0=role/1=member, allow, deny})."""
        from .state import _normalize_overwrite

        channel.overwrites = [_normalize_overwrite(o) for o in overwrites]

    # ----------------------------------------------------------------- inspection
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST call received (path relative to /api/v10)."""
        return self.state.requests

    def requests_matching(self, method: str | None = None, path: str = "") -> list[RecordedRequest]:
        """REST calls filtered by method and a regex searched in the path."""
        rx = re.compile(path)
        return [r for r in self.state.requests
                if (method is None or r.method == method.upper()) and rx.search(r.path)]

    def channel_messages(
        self, channel: FakeChannel, *, include_ephemeral: bool = False,
        include_deleted: bool = False,
    ) -> list[StoredMessage]:
        """Messages in a channel, oldest first."""
        return sorted(
            (m for m in self.state.messages.values() if m.channel_id == channel.id
             and (include_ephemeral or not m.is_ephemeral) and (include_deleted or not m.deleted)),
            key=lambda m: m.id,
        )

    def get_message(self, message_id: int) -> StoredMessage:
        """A stored message by id."""
        return self.state.messages[message_id]

    def get_channel(self, channel_id: int) -> FakeChannel | None:
        """A channel by id (including ones the bot created)."""
        return self.state.channels.get(channel_id)

    def channels_named(self, guild: FakeGuild, name: str) -> list[FakeChannel]:
        """Channels of a guild with this name."""
        return [c for c in guild.channels.values() if c.name == name]

    def commands(self, guild: FakeGuild | None = None) -> list[dict[str, Any]]:
        """Synced commands for a guild (or the global ones)."""
        return self.state.commands_for(guild.id if guild else None)

    def interaction(self, handle_or_id: InteractionHandle | int) -> InteractionHandle:
        """A handle for an interaction id."""
        iid = handle_or_id.id if isinstance(handle_or_id, InteractionHandle) else handle_or_id
        return InteractionHandle(self.state, self.state.interactions[iid])

    # ----------------------------------------------------------------- gateway control
    @property
    def sessions(self) -> list[GatewaySession]:
        """Every gateway session ever identified."""
        return list(self.gateway.sessions.values())

    @property
    def connected(self) -> bool:
        """Whether some client currently holds a live, identified gateway connection."""
        return bool(self.gateway.connected_sessions)

    async def wait_ready(self, timeout: float = 10.0, *, count: int = 1) -> None:
        """Wait until ``count`` IDENTIFYs got READY and a session is connected."""
        await self.wait_for(lambda: self.gateway.ready_count >= count and self.connected,
                            timeout, f"{count} READY(s)")

    async def wait_resumed(self, timeout: float = 10.0, *, count: int = 1) -> None:
        """Wait until ``count`` RESUMEs succeeded and a session is connected."""
        await self.wait_for(lambda: self.gateway.resume_count >= count and self.connected,
                            timeout, f"{count} RESUME(s)")

    async def disconnect(self, code: int | None = None) -> int:
        """Drop live gateway sockets (abort, or close with ``code``); returns how many."""
        return await self.gateway.disconnect(code)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; the client should RESUME."""
        await self.gateway.request_reconnect()

    async def invalidate_sessions(self) -> None:
        """Send op 9 (not resumable); the client should IDENTIFY again."""
        await self.gateway.invalidate_sessions()

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an arbitrary gateway dispatch to every session."""
        await self.state.dispatch(event, data)

    # ----------------------------------------------------------------- time
    def expire_token(self, token: str | InteractionHandle) -> None:
        """Make an interaction token expire now (webhook calls then get 401/50027)."""
        value = token.token if isinstance(token, InteractionHandle) else token
        self.state.tokens[value].expired = True

    def advance(self, seconds: float) -> None:
        """Move the fake clock forward (affects the 3 s and 15 min deadlines, nonce window)."""
        self.state.clock.advance(seconds)

    def skew_clock(self, seconds: float) -> None:
        """Set Discord's clock ``seconds`` ahead of the host's (negative: behind), as seen in
        new interactions' ``created_at``; the fake's own deadlines are unaffected."""
        self.state.clock_skew = seconds
