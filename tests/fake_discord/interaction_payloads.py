"""Builders for INTERACTION_CREATE payloads: typed command options, components, modals."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

from .models import (
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    InteractionRecord,
    StoredAttachment,
    StoredMessage,
    Upload,
)
from .payloads import (
    attachment_payload,
    channel_payload,
    compute_permissions,
    member_payload,
    role_payload,
    user_payload,
)
from .state import FakeState

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
SELECT_TYPES = (3, 5, 6, 7, 8)


class Resolved:
    """Accumulates the `resolved` map of an interaction."""

    def __init__(self, state: FakeState, guild: FakeGuild, channel: FakeChannel) -> None:
        """Bind to the guild/channel the interaction happens in."""
        self.state, self.guild, self.channel = state, guild, channel
        self.data: dict[str, dict[str, Any]] = {}

    def _put(self, kind: str, key: int, value: dict[str, Any]) -> str:
        """Add an entry and return its id as a string."""
        self.data.setdefault(kind, {})[str(key)] = value
        return str(key)

    def user(self, value: FakeMember | FakeUser | int) -> str:
        """Resolve a user (and member, when in the guild)."""
        if isinstance(value, int):
            value = self.state.users[value]
        user = value.user if isinstance(value, FakeMember) else value
        member = self.guild.members.get(user.id)
        if member is not None:
            data = member_payload(member, permissions=compute_permissions(
                self.guild, member, self.channel))
            data.pop("user")
            self._put("members", user.id, data)
        return self._put("users", user.id, user_payload(user))

    def role(self, role: FakeRole) -> str:
        """Resolve a role."""
        return self._put("roles", role.id, role_payload(role))

    def channel_(self, channel: FakeChannel) -> str:
        """Resolve a channel (partial object with permissions)."""
        data = channel_payload(channel)
        data["permissions"] = str(self.state.bot_permissions(channel))
        return self._put("channels", channel.id, data)

    def attachment(self, value: Upload | StoredAttachment | bytes | tuple[str, bytes]) -> str:
        """Store a user upload (ephemeral-attachments URL) and resolve it."""
        if isinstance(value, StoredAttachment):
            att = value
        else:
            if isinstance(value, bytes):
                value = Upload("upload.bin", value)
            elif isinstance(value, tuple):
                value = Upload(value[0], value[1])
            att = self.state.store_attachment(
                self.channel.id, value.filename, value.data, content_type=value.content_type,
                description=value.description, ephemeral=True,
                url_prefix=f"ephemeral-attachments/{self.state.application_id}",
            )
            att.declared_size = value.declared_size
        return self._put("attachments", att.id, attachment_payload(att))

    def message(self, msg: StoredMessage) -> str:
        """Resolve a message (message context-menu target)."""
        return self._put("messages", msg.id, self.state.message_payload(msg))


def _convert(opt: dict[str, Any], value: Any, res: Resolved, validate: bool) -> Any:
    """Turn a Python value into the option value Discord would send for this option type."""
    otype = opt["type"]
    if otype == STRING:
        value = str(value)
        if validate and not opt.get("min_length", 0) <= len(value) <= opt.get("max_length", 6000):
            raise ValueError(f"option {opt['name']!r}: length {len(value)} out of range")
    elif otype == INTEGER:
        if isinstance(value, bool) or int(value) != value:
            raise ValueError(f"option {opt['name']!r} needs an integer, got {value!r}")
        value = int(value)
    elif otype == NUMBER:
        value = float(value)
    elif otype == BOOLEAN:
        value = bool(value)
    elif otype == USER:
        value = res.user(value)
    elif otype == CHANNEL:
        value = res.channel_(value)
    elif otype == ROLE:
        value = res.role(value)
    elif otype == MENTIONABLE:
        value = res.role(value) if isinstance(value, FakeRole) else res.user(value)
    elif otype == ATTACHMENT:
        value = res.attachment(value)
    if validate and otype in (INTEGER, NUMBER):
        low, high = opt.get("min_value"), opt.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"option {opt['name']!r}: {value} outside [{low}, {high}]")
    choices = opt.get("choices")
    if validate and choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"option {opt['name']!r}: {value!r} is not one of the choices")
    return value


def build_options(
    schema_options: list[dict[str, Any]],
    values: dict[str, Any],
    res: Resolved,
    *,
    validate: bool = True,
    focused: str | None = None,
) -> list[dict[str, Any]]:
    """Typed option list for leaf options, checked against the synced schema."""
    by_name = {o["name"]: o for o in schema_options}
    out: list[dict[str, Any]] = []
    for name, value in values.items():
        opt = by_name.get(name)
        if opt is None:
            raise ValueError(f"unknown option {name!r}; the schema has {sorted(by_name)}")
        if name == focused:
            out.append({"name": name, "type": opt["type"], "value": str(value), "focused": True})
        else:
            out.append({"name": name, "type": opt["type"],
                        "value": _convert(opt, value, res, validate)})
    if validate and focused is None:
        required = [o["name"] for o in schema_options if o.get("required")]
        missing = [name for name in required if name not in values]
        if missing:
            raise ValueError(f"missing required options {missing}")
    return out


def command_data(
    cmd: dict[str, Any],
    path: list[str],
    values: dict[str, Any],
    res: Resolved,
    *,
    validate: bool = True,
    focused: str | None = None,
) -> dict[str, Any]:
    """The `data` of an APPLICATION_COMMAND (or autocomplete) for a command path."""
    schema = cmd.get("options") or []
    chain: list[dict[str, Any]] = []
    for part in path[1:]:
        sub = next((o for o in schema if o["name"] == part and o["type"] in (1, 2)), None)
        if sub is None:
            raise ValueError(f"{cmd['name']!r} has no subcommand/group {part!r}")
        chain.append(sub)
        schema = sub.get("options") or []
    if any(o["type"] in (1, 2) for o in schema):
        raise ValueError(f"{' '.join(path)!r} is a group: name a subcommand")
    options = build_options(schema, values, res, validate=validate, focused=focused)
    for sub in reversed(chain):
        options = [{"name": sub["name"], "type": sub["type"], "options": options}]
    data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": cmd.get("type", 1),
                            "options": options}
    if cmd.get("guild_id"):
        data["guild_id"] = cmd["guild_id"]
    return data


def modal_submit_components(
    components: list[dict[str, Any]], values: dict[str, Any]
) -> list[dict[str, Any]]:
    """MODAL_SUBMIT components mirroring the modal the bot opened, filled with values."""
    out: list[dict[str, Any]] = []
    for comp in components:
        ctype = comp.get("type")
        item: dict[str, Any] = {"type": ctype}
        if "id" in comp:
            item["id"] = comp["id"]
        if ctype == 1:
            item["components"] = modal_submit_components(comp.get("components", []), values)
        elif ctype == 18:
            item["component"] = modal_submit_components([comp["component"]], values)[0]
        elif ctype == 4:
            item["custom_id"] = comp["custom_id"]
            item["value"] = str(values.get(comp["custom_id"], comp.get("value") or ""))
        elif ctype in SELECT_TYPES:
            item["custom_id"] = comp["custom_id"]
            raw = values.get(comp["custom_id"], [])
            item["values"] = [str(v) for v in (raw if isinstance(raw, list) else [raw])]
        out.append(item)
    return out


def new_interaction(
    state: FakeState,
    *,
    itype: int,
    guild: FakeGuild,
    channel: FakeChannel,
    member: FakeMember,
    data: dict[str, Any],
    message: StoredMessage | None = None,
    locale: str | None = None,
) -> InteractionRecord:
    """Create and register an interaction record with a full payload (not dispatched yet)."""
    iid = (state.snowflakes.at(time.time() + state.clock_skew) if state.clock_skew
           else state.snowflakes.next())
    token = "aW50ZXJhY3Rpb246" + base64.urlsafe_b64encode(
        f"{iid}:{secrets.token_hex(24)}".encode()).decode().rstrip("=")
    perms = compute_permissions(guild, member, channel)
    chan = channel_payload(channel)
    chan["permissions"] = str(perms)
    payload: dict[str, Any] = {
        "id": str(iid),
        "application_id": str(state.application_id),
        "type": itype,
        "data": data,
        "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
        "guild_id": str(guild.id),
        "guild_locale": guild.locale,
        "channel": chan,
        "channel_id": str(channel.id),
        "member": member_payload(member, permissions=perms),
        "token": token,
        "version": 1,
        "app_permissions": str(state.bot_permissions(channel)),
        "locale": locale or member.locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": state.attachment_limit,
    }
    if message is not None:
        payload["message"] = state.message_payload(message)
    rec = InteractionRecord(
        id=iid, token=token, type=itype, payload=payload, channel_id=channel.id,
        guild_id=guild.id, user=member.user, dispatched_at=state.clock.now(),
        source_message_id=message.id if message is not None else None,
    )
    state.interactions[iid] = rec
    state.tokens[token] = rec
    return rec
