"""Wire-level fake of Discord (REST v10 + JSON gateway) for integration tests with discord.py."""

from .client_env import ENV_API_BASE, ENV_CDN_BASE, ENV_GATEWAY, apply_env, point_discord_at
from .driver import InteractionHandle
from .harness import World, build_world, run_client, start_client, stop_client
from .models import (
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    RecordedRequest,
    StoredAttachment,
    StoredMessage,
    Upload,
)
from .server import DiscordPatch, FakeDiscord

__all__ = [
    "ENV_API_BASE",
    "ENV_CDN_BASE",
    "ENV_GATEWAY",
    "DiscordPatch",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "InteractionHandle",
    "RecordedRequest",
    "StoredAttachment",
    "StoredMessage",
    "Upload",
    "World",
    "apply_env",
    "build_world",
    "point_discord_at",
    "run_client",
    "start_client",
    "stop_client",
]
