"""Persistent world state of the fake Discord (survives client reconnects and restarts)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from .models import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
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
    iso_now,
)
from .payloads import (
    channel_payload,
    compute_permissions,
    guess_content_type,
    image_size,
    message_payload,
)

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
NONCE_WINDOW_S = 300.0
USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EDITABLE_FIELDS = ("content", "embeds", "components", "flags")


class FakeState:
    """Guilds, channels, members, messages, attachments, commands and interactions."""

    def __init__(self, token: str, attachment_limit: int, bot_name: str = "neurostream") -> None:
        """Create the world with a bot user, an application and an application owner."""
        self.snowflakes = SnowflakeGenerator()
        self.clock = Clock()
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
        self.emit: Emit | None = None

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

    # ----------------------------------------------------------------- attachments
    def store_attachment(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> StoredAttachment:
        """Keep uploaded bytes and give them a URL on the fake's CDN route."""
        aid = self.snowflakes.next()
        ctype = content_type
        if not ctype or ctype == "application/octet-stream":
            ctype = guess_content_type(filename, data)
        size = image_size(data)
        ex = secrets.token_hex(4)
        att = StoredAttachment(
            id=aid, filename=filename, data=data, content_type=ctype,
            url=f"{self.cdn_base}/attachments/{channel_id}/{aid}/{filename}?ex={ex}&is={ex}&hm=0",
            description=description, width=size[0] if size else None,
            height=size[1] if size else None, ephemeral=ephemeral,
        )
        self.attachments[aid] = att
        return att

    def _resolve_attachments(
        self,
        msg: StoredMessage,
        spec: list[dict[str, Any]] | None,
        uploads: dict[int, tuple[str, bytes]],
    ) -> list[StoredAttachment]:
        """Compute a message's attachment list from the `attachments` field and file parts."""
        existing = {str(a.id): a for a in msg.attachments}
        result: list[StoredAttachment] = []
        used: set[int] = set()
        if spec is None:
            result = list(msg.attachments)
        else:
            for item in spec:
                key = str(item.get("id"))
                if key in existing:
                    result.append(existing[key])
                elif key.isdigit() and int(key) in uploads:
                    fname, data = uploads[int(key)]
                    used.add(int(key))
                    result.append(self.store_attachment(
                        msg.channel_id, item.get("filename") or fname, data,
                        description=item.get("description"), ephemeral=msg.is_ephemeral,
                    ))
        for index in sorted(set(uploads) - used):
            fname, data = uploads[index]
            result.append(
                self.store_attachment(msg.channel_id, fname, data, ephemeral=msg.is_ephemeral)
            )
        return result

    # ----------------------------------------------------------------- messages
    def create_message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        body: dict[str, Any],
        uploads: dict[int, tuple[str, bytes]] | None = None,
        *,
        allow_ephemeral: bool = False,
        msg_type: int = 0,
        webhook_id: int | None = None,
        interaction: InteractionRecord | None = None,
    ) -> tuple[StoredMessage, bool]:
        """Create a message (or return the earlier one for a repeated enforced nonce)."""
        nonce = body.get("nonce")
        nonce = str(nonce) if nonce is not None else None
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get((author.id, nonce))
            if seen and self.clock.now() - seen[1] < NONCE_WINDOW_S and seen[0] in self.messages:
                return self.messages[seen[0]], False
        flags = int(body.get("flags") or 0)
        if not allow_ephemeral:
            flags &= ~FLAG_EPHEMERAL
        msg = StoredMessage(
            id=self.snowflakes.next(), channel_id=channel.id, guild_id=channel.guild_id,
            author=author, flags=flags, type=msg_type, tts=bool(body.get("tts")), nonce=nonce,
            webhook_id=webhook_id, message_reference=body.get("message_reference"),
        )
        if interaction is not None:
            msg.application_id = self.application_id
            msg.interaction_id = interaction.id
            msg.interaction_meta = _interaction_meta(interaction)
        self._apply_body(msg, body, uploads or {})
        self.messages[msg.id] = msg
        if not msg.is_ephemeral:
            channel.last_message_id = msg.id
        if nonce is not None:
            self._nonces[(author.id, nonce)] = (msg.id, self.clock.now())
        return msg, True

    def edit_message(
        self,
        msg: StoredMessage,
        body: dict[str, Any],
        uploads: dict[int, tuple[str, bytes]] | None = None,
        *,
        keep_ephemeral: bool = True,
    ) -> StoredMessage:
        """Apply a PATCH body to a message, remembering its previous state."""
        msg.history.append(self.message_payload(msg))
        if "flags" in body and keep_ephemeral:
            body = dict(body)
            body["flags"] = int(body["flags"] or 0) | (msg.flags & FLAG_EPHEMERAL)
        self._apply_body(msg, body, uploads or {})
        msg.edited_timestamp = iso_now()
        return msg

    def _apply_body(
        self, msg: StoredMessage, body: dict[str, Any], uploads: dict[int, tuple[str, bytes]]
    ) -> None:
        """Copy content/embeds/components/attachments/mentions from a request body."""
        for key in EDITABLE_FIELDS:
            if key in body:
                value = body[key]
                if key == "content":
                    value = value or ""
                elif key == "flags":
                    value = int(value or 0)
                else:
                    value = list(value or [])
                setattr(msg, key, value)
        if "attachments" in body or uploads:
            msg.attachments = self._resolve_attachments(msg, body.get("attachments"), uploads)
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        self._apply_mentions(msg)

    def _apply_mentions(self, msg: StoredMessage) -> None:
        """Record the mentions that allowed_mentions lets through."""
        allowed = msg.allowed_mentions
        parse = set(allowed.get("parse", [])) if allowed else {"users", "roles", "everyone"}
        allowed_users = {int(u) for u in (allowed or {}).get("users", [])}
        allowed_roles = {int(r) for r in (allowed or {}).get("roles", [])}
        users = [int(u) for u in USER_MENTION.findall(msg.content)]
        roles = [int(r) for r in ROLE_MENTION.findall(msg.content)]
        msg.mentions = [u for u in dict.fromkeys(users) if "users" in parse or u in allowed_users]
        msg.mention_roles = [r for r in dict.fromkeys(roles) if "roles" in parse or r in allowed_roles]
        msg.mention_everyone = "everyone" in parse and bool(
            re.search(r"@(everyone|here)", msg.content)
        )
        ref = msg.message_reference
        replied = (allowed or {}).get("replied_user", True)
        if ref and replied and ref.get("message_id"):
            target = self.messages.get(int(ref["message_id"]))
            if target is not None and target.author.id not in msg.mentions:
                msg.mentions.append(target.author.id)

    def delete_message(self, msg: StoredMessage) -> None:
        """Mark a message deleted (kept for assertions)."""
        msg.deleted = True

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


def _interaction_meta(rec: InteractionRecord) -> dict[str, Any]:
    """interaction_metadata for messages created in response to an interaction."""
    meta: dict[str, Any] = {
        "id": str(rec.id),
        "type": rec.type,
        "user": {"id": str(rec.user.id), "username": rec.user.username, "discriminator": "0",
                 "global_name": rec.user.global_name, "avatar": None, "public_flags": 0},
        "authorizing_integration_owners": {"0": str(rec.guild_id)} if rec.guild_id else {},
        "name": (rec.payload.get("data") or {}).get("name", ""),
    }
    if rec.original_message_id is not None:
        meta["original_response_message_id"] = str(rec.original_message_id)
    if rec.source_message_id is not None:
        meta["interacted_message_id"] = str(rec.source_message_id)
    return meta
