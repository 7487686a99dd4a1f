"""Builders that turn fake records into Discord API v10 JSON objects."""

from __future__ import annotations

import mimetypes
import struct
from typing import Any

from .models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    FLAG_EPHEMERAL,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    StoredAttachment,
    StoredMessage,
    iso_now,
)


def user_payload(user: FakeUser) -> dict[str, Any]:
    """A user object."""
    data: dict[str, Any] = {
        "id": str(user.id),
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": user.avatar,
        "avatar_decoration_data": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
    }
    if user.bot:
        data["bot"] = True
    return data


def bot_self_payload(user: FakeUser) -> dict[str, Any]:
    """The private user object returned by GET /users/@me and READY."""
    data = user_payload(user)
    data.update(verified=True, mfa_enabled=False, email=None, locale="en-US", premium_type=0)
    return data


def role_payload(role: FakeRole) -> dict[str, Any]:
    """A role object."""
    data: dict[str, Any] = {
        "id": str(role.id),
        "name": role.name,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": role.managed,
        "mentionable": False,
        "flags": 0,
    }
    if role.bot_id is not None:
        data["tags"] = {"bot_id": str(role.bot_id)}
    return data


def member_payload(member: FakeMember, *, permissions: int | None = None) -> dict[str, Any]:
    """A guild member object; ``permissions`` is added for interaction payloads."""
    data: dict[str, Any] = {
        "user": user_payload(member.user),
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in member.role_ids],
        "joined_at": member.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def channel_payload(channel: FakeChannel) -> dict[str, Any]:
    """A channel (or thread) object."""
    data: dict[str, Any] = {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "parent_id": str(channel.parent_id) if channel.parent_id else None,
        "nsfw": channel.nsfw,
        "flags": 0,
        "permission_overwrites": [dict(o) for o in channel.overwrites],
    }
    if channel.type != 4:
        data["last_message_id"] = str(channel.last_message_id) if channel.last_message_id else None
        data["rate_limit_per_user"] = 0
        data["topic"] = channel.topic
    if channel.is_thread:
        del data["permission_overwrites"]
        data.update(
            owner_id=str(channel.owner_id) if channel.owner_id else None,
            member_count=1,
            message_count=0,
            total_message_sent=0,
            thread_metadata={
                "archived": channel.archived,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso_now(),
                "locked": channel.locked,
            },
        )
    return data


def guild_create_payload(guild: FakeGuild) -> dict[str, Any]:
    """The full GUILD_CREATE dispatch body for a guild."""
    channels = [c for c in guild.channels.values() if not c.is_thread]
    threads = [c for c in guild.channels.values() if c.is_thread]
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": guild.locale,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "vanity_url_code": None,
        "features": [],
        "roles": [role_payload(r) for r in guild.roles.values()],
        "emojis": [],
        "stickers": [],
        "soundboard_sounds": [],
        "channels": [channel_payload(c) for c in channels],
        "threads": [channel_payload(c) for c in threads],
        "members": [member_payload(m) for m in guild.members.values()],
        "member_count": len(guild.members),
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "large": False,
        "unavailable": False,
        "joined_at": iso_now(),
        "lazy": True,
        "application_id": None,
    }


def attachment_payload(att: StoredAttachment) -> dict[str, Any]:
    """An attachment object as embedded in messages and resolved data."""
    data: dict[str, Any] = {
        "id": str(att.id),
        "filename": att.filename,
        "size": att.size,
        "url": att.url,
        "proxy_url": att.url,
        "content_type": att.content_type,
    }
    if att.description is not None:
        data["description"] = att.description
    if att.width is not None:
        data.update(width=att.width, height=att.height)
    if att.ephemeral:
        data["ephemeral"] = True
    return data


def message_payload(
    msg: StoredMessage,
    *,
    users: dict[int, FakeUser],
    gateway_member: FakeMember | None = None,
) -> dict[str, Any]:
    """A message object; gateway events also carry guild_id and the author's member."""
    data: dict[str, Any] = {
        "id": str(msg.id),
        "type": msg.type,
        "channel_id": str(msg.channel_id),
        "author": user_payload(msg.author),
        "content": msg.content,
        "timestamp": msg.timestamp,
        "edited_timestamp": msg.edited_timestamp,
        "tts": msg.tts,
        "mention_everyone": msg.mention_everyone,
        "mentions": [user_payload(users[u]) for u in msg.mentions if u in users],
        "mention_roles": [str(r) for r in msg.mention_roles],
        "attachments": [attachment_payload(a) for a in msg.attachments],
        "embeds": [dict(e) for e in msg.embeds],
        "components": [dict(c) for c in msg.components],
        "pinned": False,
        "flags": msg.flags,
    }
    if msg.nonce is not None:
        data["nonce"] = msg.nonce
    if msg.webhook_id is not None:
        data["webhook_id"] = str(msg.webhook_id)
    if msg.application_id is not None:
        data["application_id"] = str(msg.application_id)
    if msg.message_reference is not None:
        data["message_reference"] = dict(msg.message_reference)
    if msg.interaction_meta is not None:
        data["interaction_metadata"] = dict(msg.interaction_meta)
        data["interaction"] = {
            "id": msg.interaction_meta["id"],
            "type": msg.interaction_meta["type"],
            "name": msg.interaction_meta.get("name", ""),
            "user": msg.interaction_meta["user"],
        }
    if gateway_member is not None and msg.guild_id is not None:
        data["guild_id"] = str(msg.guild_id)
        member = member_payload(gateway_member)
        member.pop("user")
        data["member"] = member
    return data


def application_payload(app_id: int, bot: FakeUser, owner: FakeUser) -> dict[str, Any]:
    """The application object for GET /oauth2/applications/@me."""
    return {
        "id": str(app_id),
        "name": bot.username,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": 0,
        "owner": user_payload(owner),
        "team": None,
        "bot": user_payload(bot),
        "rpc_origins": [],
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "approximate_guild_count": 1,
        "integration_types_config": {"0": {}},
    }


def compute_permissions(guild: FakeGuild, member: FakeMember, channel: FakeChannel | None) -> int:
    """Effective permissions of a member, applying channel overwrites like Discord does."""
    if member.id == guild.owner_id:
        return ALL_PERMISSIONS
    perms = guild.everyone.permissions
    for rid in member.role_ids:
        role = guild.roles.get(rid)
        if role is not None:
            perms |= role.permissions
    if perms & ADMINISTRATOR:
        return ALL_PERMISSIONS
    if channel is not None and channel.is_thread and channel.parent_id in guild.channels:
        channel = guild.channels[channel.parent_id]
    if channel is None:
        return perms
    by_id = {int(o["id"]): o for o in channel.overwrites}

    def apply(ow: dict[str, Any] | None, current: int) -> int:
        if ow is None:
            return current
        return (current & ~int(ow.get("deny", 0))) | int(ow.get("allow", 0))

    perms = apply(by_id.get(guild.id), perms)
    allow = deny = 0
    for rid in member.role_ids:
        ow = by_id.get(rid)
        if ow is not None and int(ow.get("type", 0)) == 0:
            allow |= int(ow.get("allow", 0))
            deny |= int(ow.get("deny", 0))
    perms = (perms & ~deny) | allow
    member_ow = by_id.get(member.id)
    if member_ow is not None and int(member_ow.get("type", 1)) == 1:
        perms = apply(member_ow, perms)
    return perms


def guess_content_type(filename: str, data: bytes) -> str:
    """Content type the way Discord derives it: from the bytes' magic, else the extension."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width/height for PNG and GIF data (other formats: None)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    return None


def is_ephemeral_flags(flags: int | None) -> bool:
    """Whether a flags value requests an ephemeral message."""
    return bool((flags or 0) & FLAG_EPHEMERAL)
