"""Persistent world state of the fake Discord (survives client reconnects and restarts)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .messages import MessageStore
from .models import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    GUILD_TEXT,
    Clock,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    InteractionRecord,
    RecordedRequest,
    SnowflakeGenerator,
    StoredAttachment,
    StoredMessage,
)
from .payloads import channel_payload, compute_permissions, message_payload

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class FakeState(MessageStore):
    """Guilds, channels, members, messages, attachments, commands and interactions."""

    def __init__(self, token: str, attachment_limit: int, bot_name: str = "neurostream") -> None:
        """Create the world with a bot user, an application and an application owner."""
        self.snowflakes = SnowflakeGenerator()
        self.clock = Clock()
        # Seconds Discord's clock is ahead of the host's (negative: behind): it shows in the
        # timestamps of interaction ids, hence in discord.py's ``Interaction.created_at``.
        self.clock_skew = 0.0
        self.token = token
        self.attachment_limit = attachment_limit
        self.application_id = self.snowflakes.next()
        self.bot_user = FakeUser(id=self.application_id, username=bot_name, bot=True)
        self.owner_user = FakeUser(id=self.snowflakes.next(), username="owner")
        self.users: dict[int, FakeUser] = {u.id: u for u in (self.bot_user, self.owner_user)}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.attachments: dict[int, StoredAttachment] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.tokens: dict[str, InteractionRecord] = {}
        self.requests: list[RecordedRequest] = []
        self._nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self.cdn_base = ""
        self.gateway_url = ""
        self.emit: Emit | None = None
        # Awaited with (path, uploaded file names) once a multipart upload has been read,
        # before it is applied: a test can stall an upload there (e.g. to kill the bot mid-upload).
        self.upload_hook: Callable[[str, list[str]], Awaitable[None]] | None = None
        # Ids of the attachments fetched from the CDN routes, in order (a test can check that
        # a refused file was never downloaded); a download waits for ``download_gate`` if set.
        self.downloads: list[int] = []
        self.download_gate: asyncio.Event | None = None

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway dispatch through the attached gateway, if any."""
        if self.emit is not None:
            await self.emit(event, data)

    # ----------------------------------------------------------------- world building
    def add_user(self, name: str, *, bot: bool = False) -> FakeUser:
        """Create a user."""
        user = FakeUser(id=self.snowflakes.next(), username=name, bot=bot, global_name=name)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        locale: str = "en-US",
    ) -> FakeGuild:
        """Create a guild owned by the application owner, with @everyone and the bot's role."""
        gid = self.snowflakes.next()
        bot_role = FakeRole(
            id=self.snowflakes.next(), guild_id=gid, name=self.bot_user.username,
            permissions=bot_permissions, position=1, managed=True, bot_id=self.bot_user.id,
        )
        guild = FakeGuild(
            id=gid, name=name, owner_id=self.owner_user.id, bot_role_id=bot_role.id, locale=locale
        )
        guild.roles[gid] = FakeRole(
            id=gid, guild_id=gid, name="@everyone", permissions=everyone_permissions
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[self.owner_user.id] = FakeMember(user=self.owner_user, guild_id=gid)
        guild.members[self.bot_user.id] = FakeMember(
            user=self.bot_user, guild_id=gid, role_ids=[bot_role.id]
        )
        self.guilds[gid] = guild
        return guild

    def add_role(self, guild: FakeGuild, name: str, permissions: int = 0) -> FakeRole:
        """Create a role in a guild."""
        role = FakeRole(
            id=self.snowflakes.next(), guild_id=guild.id, name=name, permissions=permissions,
            position=len(guild.roles),
        )
        guild.roles[role.id] = role
        return role

    def add_member(
        self,
        guild: FakeGuild,
        name: str,
        *,
        permissions: int | None = None,
        roles: list[FakeRole] | None = None,
        user: FakeUser | None = None,
        nick: str | None = None,
        locale: str = "en-US",
    ) -> FakeMember:
        """Add a (new or existing) user to a guild; ``permissions`` creates a personal role."""
        user = user or self.add_user(name)
        role_ids = [r.id for r in roles or []]
        if permissions is not None:
            role_ids.append(self.add_role(guild, f"{name}-perms", permissions).id)
        member = FakeMember(
            user=user, guild_id=guild.id, role_ids=role_ids, nick=nick, locale=locale
        )
        guild.members[user.id] = member
        return member

    def add_channel(
        self,
        guild: FakeGuild,
        name: str,
        *,
        type: int = GUILD_TEXT,
        parent_id: int | None = None,
        topic: str | None = None,
        overwrites: list[dict[str, Any]] | None = None,
        nsfw: bool = False,
        owner_id: int | None = None,
    ) -> FakeChannel:
        """Create a channel, category or thread in a guild."""
        channel = FakeChannel(
            id=self.snowflakes.next(), guild_id=guild.id, name=name, type=type,
            parent_id=parent_id, position=len(guild.channels), topic=topic, nsfw=nsfw,
            overwrites=[_normalize_overwrite(o) for o in overwrites or []], owner_id=owner_id,
        )
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def remove_channel(self, channel: FakeChannel) -> list[FakeChannel]:
        """Delete a channel; returns children whose parent was cleared (category removal)."""
        guild = self.guilds[channel.guild_id]
        guild.channels.pop(channel.id, None)
        self.channels.pop(channel.id, None)
        orphans = [c for c in guild.channels.values() if c.parent_id == channel.id]
        for child in orphans:
            if child.is_thread:
                guild.channels.pop(child.id, None)
                self.channels.pop(child.id, None)
            else:
                child.parent_id = None
        return [c for c in orphans if not c.is_thread]

    # ----------------------------------------------------------------- lookups
    def member(self, guild_id: int | None, user_id: int) -> FakeMember | None:
        """The member record for a user in a guild."""
        guild = self.guilds.get(guild_id or 0)
        return guild.members.get(user_id) if guild else None

    def permissions(self, channel: FakeChannel, user_id: int) -> int:
        """Effective permissions of a user in a channel (0 when not a member)."""
        guild = self.guilds[channel.guild_id]
        member = guild.members.get(user_id)
        return compute_permissions(guild, member, channel) if member else 0

    def bot_permissions(self, channel: FakeChannel) -> int:
        """Effective permissions of the bot in a channel."""
        return self.permissions(channel, self.bot_user.id)

    def channel_payload(self, channel: FakeChannel) -> dict[str, Any]:
        """Channel JSON."""
        return channel_payload(channel)

    def message_payload(self, msg: StoredMessage, *, gateway: bool = False) -> dict[str, Any]:
        """Message JSON (REST shape, or gateway shape with guild_id and member)."""
        member = self.member(msg.guild_id, msg.author.id) if gateway else None
        return message_payload(msg, users=self.users, gateway_member=member)

    def history(self, channel_id: int) -> list[StoredMessage]:
        """Non-deleted, non-ephemeral messages in a channel, oldest first."""
        return sorted(
            (m for m in self.messages.values()
             if m.channel_id == channel_id and not m.deleted and not m.is_ephemeral),
            key=lambda m: m.id,
        )

    # ----------------------------------------------------------------- commands
    def commands_for(self, guild_id: int | None) -> list[dict[str, Any]]:
        """The stored command list for a guild (or global when None)."""
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.setdefault(guild_id, [])

    def put_commands(
        self, guild_id: int | None, schemas: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Bulk-overwrite commands, keeping ids for commands whose (name, type) survives."""
        old = {(c["name"], c.get("type", 1)): c for c in self.commands_for(guild_id)}
        stored: list[dict[str, Any]] = []
        for schema in schemas:
            cmd = dict(schema)
            cmd.setdefault("type", 1)
            prev = old.get((cmd["name"], cmd["type"]))
            cmd["id"] = prev["id"] if prev else str(self.snowflakes.next())
            cmd["application_id"] = str(self.application_id)
            cmd["version"] = str(self.snowflakes.next())
            cmd.setdefault("description", "")
            cmd.setdefault("options", [])
            cmd.setdefault("default_member_permissions", None)
            cmd.setdefault("nsfw", False)
            if guild_id is not None:
                cmd["guild_id"] = str(guild_id)
            stored.append(cmd)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        return stored

    def find_command(
        self, guild_id: int | None, name: str, type: int = 1
    ) -> dict[str, Any] | None:
        """A synced command by name: guild commands first, then global ones."""
        pools = [self.guild_commands.get(guild_id or 0, []), self.global_commands]
        for pool in pools:
            for cmd in pool:
                if cmd["name"] == name and cmd.get("type", 1) == type:
                    return cmd
        return None


def _normalize_overwrite(ow: dict[str, Any]) -> dict[str, Any]:
    """Permission overwrite with string allow/deny, as Discord returns them."""
    return {
        "id": str(ow["id"]),
        "type": int(ow.get("type", 0)),
        "allow": str(ow.get("allow", 0)),
        "deny": str(ow.get("deny", 0)),
    }
