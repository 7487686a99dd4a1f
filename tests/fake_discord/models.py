"""Plain data records of the fake Discord: guilds, channels, members, messages, interactions."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
MANAGE_ROLES = 1 << 28
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

DEFAULT_EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE | ADD_REACTIONS | VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS
    | ATTACH_FILES | READ_MESSAGE_HISTORY | USE_EXTERNAL_EMOJIS | CONNECT | SPEAK
    | CHANGE_NICKNAME | USE_APPLICATION_COMMANDS | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS | SEND_MESSAGES_IN_THREADS
)
DEFAULT_BOT_PERMISSIONS = (
    DEFAULT_EVERYONE_PERMISSIONS | MANAGE_CHANNELS | MANAGE_MESSAGES | MANAGE_THREADS
)

# Channel types.
GUILD_TEXT = 0
GUILD_VOICE = 2
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
GUILD_FORUM = 15
THREAD_TYPES = (10, PUBLIC_THREAD, PRIVATE_THREAD)

# Message flags.
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7


class SnowflakeGenerator:
    """Produces strictly increasing Discord snowflakes based on wall-clock time."""

    def __init__(self, worker: int = 1) -> None:
        """Create a generator with the given worker id."""
        self._worker = worker & 0x1F
        self._counter = itertools.count()
        self._last = 0

    def next(self) -> int:
        """Return a new snowflake, greater than every one returned before."""
        value = self.at(time.time())
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value

    def at(self, unix_seconds: float) -> int:
        """A new snowflake whose timestamp is ``unix_seconds`` (unique, not ordered)."""
        ms = int(unix_seconds * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (self._worker << 17) | (next(self._counter) & 0xFFF)


class Clock:
    """Monotonic clock with a test-controlled offset, used for interaction deadlines."""

    def __init__(self) -> None:
        """Start with no offset."""
        self.offset = 0.0

    def now(self) -> float:
        """Current fake time in seconds."""
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        """Jump the fake clock forward."""
        self.offset += seconds


def iso_now() -> str:
    """Current UTC time in Discord's ISO-8601 format."""
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class FakeUser:
    """A Discord user (human or bot)."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    avatar: str | None = None


@dataclass
class FakeRole:
    """A guild role; the @everyone role shares the guild's id."""

    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False
    color: int = 0
    bot_id: int | None = None


@dataclass
class FakeMember:
    """A user's membership in a guild."""

    user: FakeUser
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)
    locale: str = "en-US"

    @property
    def id(self) -> int:
        """The member's user id."""
        return self.user.id


@dataclass
class FakeChannel:
    """A guild channel, category or thread."""

    id: int
    guild_id: int
    name: str
    type: int = GUILD_TEXT
    parent_id: int | None = None
    position: int = 0
    topic: str | None = None
    nsfw: bool = False
    overwrites: list[dict[str, Any]] = field(default_factory=list)
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    last_message_id: int | None = None

    @property
    def is_thread(self) -> bool:
        """Whether this channel is a thread."""
        return self.type in THREAD_TYPES


@dataclass
class FakeGuild:
    """A guild with its roles, channels and members."""

    id: int
    name: str
    owner_id: int
    bot_role_id: int
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    locale: str = "en-US"

    @property
    def everyone(self) -> FakeRole:
        """The @everyone role."""
        return self.roles[self.id]


@dataclass
class StoredAttachment:
    """An uploaded file the fake serves back from its own CDN route."""

    id: int
    filename: str
    data: bytes
    content_type: str
    url: str
    description: str | None = None
    width: int | None = None
    height: int | None = None
    ephemeral: bool = False
    # What Discord says the file's size is, when a test makes it differ from the bytes (a
    # declared 50 MB upload that is never downloaded need not be 50 MB in memory).
    declared_size: int | None = None

    @property
    def size(self) -> int:
        """Size of the file in bytes (as declared)."""
        return len(self.data) if self.declared_size is None else self.declared_size


@dataclass
class StoredMessage:
    """A message as the fake stores it, with the history of its previous states."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    tts: bool = False
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    nonce: str | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    interaction_meta: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    allowed_mentions: dict[str, Any] | None = None
    mentions: list[int] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = field(default_factory=time.monotonic)

    @property
    def is_ephemeral(self) -> bool:
        """Whether the message carries the EPHEMERAL flag."""
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def is_loading(self) -> bool:
        """Whether this is a deferred "thinking" response not yet filled in."""
        return bool(self.flags & FLAG_LOADING)

    def custom_ids(self) -> list[str]:
        """All component custom_ids on the message, depth first."""
        found: list[str] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if "custom_id" in item:
                    found.append(item["custom_id"])
                walk(item.get("components") or [])
                if isinstance(item.get("component"), dict):
                    walk([item["component"]])
                if isinstance(item.get("accessory"), dict):
                    walk([item["accessory"]])

        walk(self.components)
        return found

    def find_component(self, custom_id: str) -> dict[str, Any] | None:
        """Return the component dict with this custom_id, if any."""
        stack = list(self.components)
        while stack:
            item = stack.pop(0)
            if item.get("custom_id") == custom_id:
                return item
            stack.extend(item.get("components") or [])
            for key in ("component", "accessory"):
                if isinstance(item.get(key), dict):
                    stack.append(item[key])
        return None


@dataclass
class InteractionRecord:
    """Server-side state of one dispatched interaction."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    channel_id: int
    guild_id: int | None
    user: FakeUser
    dispatched_at: float
    source_message_id: int | None = None
    response_type: int | None = None
    response_data: dict[str, Any] | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False
    acked_at: float | None = None


@dataclass
class RecordedRequest:
    """One REST call as received by the fake (path is relative to /api/v10)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any = None
    files: list[dict[str, Any]] = field(default_factory=list)
    status: int = 0
    response: Any = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Upload:
    """A file a fake *user* attaches (slash-command attachment option or a message)."""

    filename: str
    data: bytes
    content_type: str | None = None
    description: str | None = None
    declared_size: int | None = None  # the size Discord declares, if not len(data)
