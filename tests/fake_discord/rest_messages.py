"""REST routes for channels, messages, threads and the attachment CDN."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from .models import (
    ATTACH_FILES,
    GUILD_CATEGORY,
    GUILD_TEXT,
    MANAGE_CHANNELS,
    MANAGE_MESSAGES,
    MANAGE_THREADS,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    FakeChannel,
)
from .rest_base import (
    API_PREFIX,
    MISSING_PERMISSIONS,
    STATE_KEY,
    ApiError,
    Body,
    get_channel,
    get_guild,
    get_message,
    invalid_form,
    json_ok,
    no_content,
    read_body,
    unknown,
)
from .state import FakeState

routes = web.RouteTableDef()
TEXT_LIKE = (0, 2, 5, 10, PUBLIC_THREAD, PRIVATE_THREAD)
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _too_long(field: str, limit: int) -> ApiError:
    """A 50035 error for an over-long field."""
    return invalid_form(errors={field: {"_errors": [
        {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}]}})


def validate_message_body(body: Body, *, creating: bool, existing_attachments: int = 0) -> None:
    """Discord's basic message checks: length limits and no empty messages."""
    data = body.json
    if len(data.get("content") or "") > 2000:
        raise _too_long("content", 2000)
    if len(data.get("embeds") or []) > 10:
        raise _too_long("embeds", 10)
    if len(data.get("components") or []) > 40:
        raise _too_long("components", 40)
    _validate_embeds(data.get("embeds") or [])
    if creating and not (
        data.get("content") or data.get("embeds") or data.get("components") or body.uploads
        or data.get("sticker_ids") or data.get("poll") or existing_attachments
    ):
        raise ApiError(400, 50006, "Cannot send an empty message")


# Discord's embed limits: per part, 25 fields, and 6000 characters over all a message's embeds.
EMBED_LIMITS = {"title": 256, "description": 4096, "footer.text": 2048, "author.name": 256}
EMBED_TOTAL = 6000


def _validate_embeds(embeds: list[dict[str, Any]]) -> None:
    """400/50035 for an embed over one of Discord's limits, as Discord answers."""
    total = 0
    for index, embed in enumerate(embeds):
        for key, limit in EMBED_LIMITS.items():
            outer, _, inner = key.partition(".")
            value = embed.get(outer)
            text = (value or {}).get(inner) if inner else value
            total += len(text or "")
            if len(text or "") > limit:
                raise _too_long(f"embeds.{index}.{key}", limit)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise _too_long(f"embeds.{index}.fields", 25)
        for number, field in enumerate(fields):
            name, value = field.get("name") or "", field.get("value") or ""
            if not name or not value:
                raise invalid_form(errors={f"embeds.{index}.fields.{number}": {"_errors": [
                    {"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}})
            if len(name) > 256:
                raise _too_long(f"embeds.{index}.fields.{number}.name", 256)
            if len(value) > 1024:
                raise _too_long(f"embeds.{index}.fields.{number}.value", 1024)
            total += len(name) + len(value)
    if total > EMBED_TOTAL:
        raise invalid_form(errors={"embeds": {"_errors": [
            {"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size "
                                                          f"of {EMBED_TOTAL}"}]}})


def _check_send(state: FakeState, channel: FakeChannel, body: Body) -> None:
    """Bot permission checks for posting in a channel."""
    if channel.type not in TEXT_LIKE:
        raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
    perms = state.bot_permissions(channel)
    needed = SEND_MESSAGES_IN_THREADS if channel.is_thread else SEND_MESSAGES
    if not perms & needed or (body.uploads and not perms & ATTACH_FILES):
        raise MISSING_PERMISSIONS
    if channel.is_thread and channel.locked:
        raise ApiError(400, 50083, "Thread is archived")


@routes.post(API_PREFIX + "/channels/{channel_id}/messages")
async def create_message(request: web.Request) -> web.Response:
    """POST /channels/{id}/messages (JSON or multipart; honours nonce + enforce_nonce)."""
    state = request.app[STATE_KEY]
    channel = get_channel(request)
    body = await read_body(request)
    _check_send(state, channel, body)
    validate_message_body(body, creating=True)
    msg, created = state.create_message(channel, state.bot_user, body.json, body.uploads)
    if created:
        await state.dispatch("MESSAGE_CREATE", state.message_payload(msg, gateway=True))
    return json_ok(state.message_payload(msg))


@routes.get(API_PREFIX + "/channels/{channel_id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    """GET /channels/{id}/messages with limit/before/after/around (newest first)."""
    state = request.app[STATE_KEY]
    channel = get_channel(request)
    if not state.bot_permissions(channel) & READ_MESSAGE_HISTORY:
        return json_ok([])
    try:
        limit = max(1, min(100, int(request.query.get("limit", 50))))
    except ValueError as exc:
        raise invalid_form() from exc
    msgs = state.history(channel.id)
    q = request.query
    if "before" in q:
        msgs = [m for m in msgs if m.id < int(q["before"])][-limit:]
    elif "after" in q:
        msgs = [m for m in msgs if m.id > int(q["after"])][:limit]
    elif "around" in q:
        pivot = int(q["around"])
        older = [m for m in msgs if m.id <= pivot]
        newer = [m for m in msgs if m.id > pivot]
        half = limit // 2
        msgs = older[-(limit - min(half, len(newer))):] + newer[:half]
    else:
        msgs = msgs[-limit:]
    return json_ok([state.message_payload(m) for m in reversed(msgs)])


@routes.get(API_PREFIX + "/channels/{channel_id}/messages/{message_id}")
async def fetch_message(request: web.Request) -> web.Response:
    """GET one message."""
    state = request.app[STATE_KEY]
    channel = get_channel(request)
    if not state.bot_permissions(channel) & READ_MESSAGE_HISTORY:
        raise ApiError(403, 50001, "Missing Access")
    return json_ok(state.message_payload(get_message(request, channel)))


@routes.patch(API_PREFIX + "/channels/{channel_id}/messages/{message_id}")
async def edit_message(request: web.Request) -> web.Response:
    """PATCH a message the bot wrote."""
    state = request.app[STATE_KEY]
    channel = get_channel(request)
    msg = get_message(request, channel)
    body = await read_body(request)
    if msg.author.id != state.bot_user.id:
        raise ApiError(403, 50005, "Cannot edit a message authored by another user")
    validate_message_body(body, creating=False)
    state.edit_message(msg, body.json, body.uploads)
    await state.dispatch("MESSAGE_UPDATE", state.message_payload(msg, gateway=True))
    return json_ok(state.message_payload(msg))


@routes.delete(API_PREFIX + "/channels/{channel_id}/messages/{message_id}")
async def delete_message(request: web.Request) -> web.Response:
    """DELETE a message (own, or anyone's with Manage Messages)."""
    state = request.app[STATE_KEY]
    channel = get_channel(request)
    msg = get_message(request, channel)
    if msg.author.id != state.bot_user.id and not state.bot_permissions(channel) & MANAGE_MESSAGES:
        raise MISSING_PERMISSIONS
    state.delete_message(msg)
    await state.dispatch("MESSAGE_DELETE", {"id": str(msg.id), "channel_id": str(channel.id),
                                            "guild_id": str(channel.guild_id)})
    return no_content()


@routes.post(API_PREFIX + "/channels/{channel_id}/messages/bulk-delete")
async def bulk_delete(request: web.Request) -> web.Response:
    """POST bulk-delete (Manage Messages)."""
    state = request.app[STATE_KEY]
    channel = get_channel(request)
    if not state.bot_permissions(channel) & MANAGE_MESSAGES:
        raise MISSING_PERMISSIONS
    ids = [int(i) for i in (await read_body(request)).json.get("messages", [])]
    if not 2 <= len(ids) <= 100:
        raise invalid_form()
    for mid in ids:
        msg = state.messages.get(mid)
        if msg is not None and msg.channel_id == channel.id:
            state.delete_message(msg)
    await state.dispatch("MESSAGE_DELETE_BULK", {"ids": [str(i) for i in ids],
                                                 "channel_id": str(channel.id),
                                                 "guild_id": str(channel.guild_id)})
    return no_content()


@routes.put(API_PREFIX + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
@routes.delete(API_PREFIX + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
@routes.post(API_PREFIX + "/channels/{channel_id}/typing")
async def accept_noop(request: web.Request) -> web.Response:
    """Reactions and typing: recorded in the request log, otherwise no-ops."""
    get_channel(request)
    return no_content()


@routes.get(API_PREFIX + "/channels/{channel_id}")
async def fetch_channel(request: web.Request) -> web.Response:
    """GET /channels/{id}."""
    return json_ok(request.app[STATE_KEY].channel_payload(get_channel(request)))


def _channel_event(channel: FakeChannel, action: str) -> str:
    """CHANNEL_* or THREAD_* event name."""
    return f"{'THREAD' if channel.is_thread else 'CHANNEL'}_{action}"


@routes.patch(API_PREFIX + "/channels/{channel_id}")
async def modify_channel(request: web.Request) -> web.Response:
    """PATCH /channels/{id} (Manage Channels, or Manage Threads for threads)."""
    state = request.app[STATE_KEY]
    channel = get_channel(request)
    needed = MANAGE_THREADS if channel.is_thread else MANAGE_CHANNELS
    if not state.bot_permissions(channel) & needed:
        raise MISSING_PERMISSIONS
    data = (await read_body(request)).json
    for key in ("name", "topic", "position", "nsfw", "archived", "locked"):
        if key in data:
            setattr(channel, key, data[key])
    if "parent_id" in data:
        channel.parent_id = int(data["parent_id"]) if data["parent_id"] else None
    if "permission_overwrites" in data:
        from .state import _normalize_overwrite

        channel.overwrites = [_normalize_overwrite(o) for o in data["permission_overwrites"]]
    payload = state.channel_payload(channel)
    await state.dispatch(_channel_event(channel, "UPDATE"), payload)
    return json_ok(payload)


@routes.delete(API_PREFIX + "/channels/{channel_id}")
async def delete_channel(request: web.Request) -> web.Response:
    """DELETE /channels/{id}; children of a deleted category become uncategorized."""
    state = request.app[STATE_KEY]
    channel = get_channel(request)
    needed = MANAGE_THREADS if channel.is_thread else MANAGE_CHANNELS
    if not state.bot_permissions(channel) & needed:
        raise MISSING_PERMISSIONS
    payload = state.channel_payload(channel)
    orphans = state.remove_channel(channel)
    await state.dispatch(_channel_event(channel, "DELETE"), payload)
    for child in orphans:
        await state.dispatch("CHANNEL_UPDATE", state.channel_payload(child))
    return json_ok(payload)


@routes.get(API_PREFIX + "/guilds/{guild_id}/channels")
async def list_guild_channels(request: web.Request) -> web.Response:
    """GET /guilds/{id}/channels (threads excluded, like Discord)."""
    state = request.app[STATE_KEY]
    guild = get_guild(request)
    chans = [c for c in guild.channels.values() if not c.is_thread]
    chans.sort(key=lambda c: c.position)
    return json_ok([state.channel_payload(c) for c in chans])


def normalize_channel_name(name: str, ctype: int) -> str:
    """Discord lower-cases text channel names and turns spaces into dashes."""
    if ctype in (GUILD_TEXT, 5, 15):
        return "-".join(name.lower().split())
    return name


@routes.post(API_PREFIX + "/guilds/{guild_id}/channels")
async def create_guild_channel(request: web.Request) -> web.Response:
    """POST /guilds/{id}/channels: text/voice channels and categories (Manage Channels)."""
    state = request.app[STATE_KEY]
    guild = get_guild(request)
    data = (await read_body(request)).json
    bot = guild.members[state.bot_user.id]
    from .payloads import compute_permissions

    if not compute_permissions(guild, bot, None) & MANAGE_CHANNELS:
        raise MISSING_PERMISSIONS
    name, ctype = data.get("name"), int(data.get("type") or 0)
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise invalid_form(errors={"name": {"_errors": [{"code": "BASE_TYPE_REQUIRED"}]}})
    parent_id = int(data["parent_id"]) if data.get("parent_id") else None
    if parent_id is not None:
        parent = guild.channels.get(parent_id)
        if parent is None or parent.type != GUILD_CATEGORY or ctype == GUILD_CATEGORY:
            problem = {"_errors": [{"code": "CHANNEL_PARENT_INVALID"}]}
            raise invalid_form(errors={"parent_id": problem})
    channel = state.add_channel(
        guild, normalize_channel_name(name, ctype), type=ctype, parent_id=parent_id,
        topic=data.get("topic"), overwrites=data.get("permission_overwrites"),
        nsfw=bool(data.get("nsfw")),
    )
    if "position" in data and data["position"] is not None:
        channel.position = int(data["position"])
    payload = state.channel_payload(channel)
    await state.dispatch("CHANNEL_CREATE", payload)
    return json_ok(payload, status=201)


async def _create_thread(
    request: web.Request, parent: FakeChannel, name: str, ctype: int, thread_id: int | None
) -> web.Response:
    """Create a thread under a text channel and dispatch THREAD_CREATE."""
    state = request.app[STATE_KEY]
    perms = state.bot_permissions(parent)
    needed = 1 << (35 if ctype == PUBLIC_THREAD else 36)
    if not perms & needed:
        raise MISSING_PERMISSIONS
    guild = state.guilds[parent.guild_id]
    thread = state.add_channel(guild, name, type=ctype, parent_id=parent.id,
                               owner_id=state.bot_user.id)
    if thread_id is not None:
        guild.channels.pop(thread.id)
        state.channels.pop(thread.id)
        thread.id = thread_id
        guild.channels[thread.id] = thread
        state.channels[thread.id] = thread
    payload = {**state.channel_payload(thread), "newly_created": True}
    await state.dispatch("THREAD_CREATE", payload)
    return json_ok(state.channel_payload(thread), status=201)


@routes.post(API_PREFIX + "/channels/{channel_id}/threads")
async def start_thread(request: web.Request) -> web.Response:
    """POST /channels/{id}/threads (thread without a starter message)."""
    parent = get_channel(request)
    data: dict[str, Any] = (await read_body(request)).json
    return await _create_thread(request, parent, str(data.get("name", "thread")),
                                int(data.get("type") or PRIVATE_THREAD), None)


@routes.post(API_PREFIX + "/channels/{channel_id}/messages/{message_id}/threads")
async def start_thread_from_message(request: web.Request) -> web.Response:
    """POST a thread from a message (the thread id equals the message id)."""
    parent = get_channel(request)
    msg = get_message(request, parent)
    data: dict[str, Any] = (await read_body(request)).json
    return await _create_thread(request, parent, str(data.get("name", "thread")), PUBLIC_THREAD,
                                msg.id)


async def serve_attachment(request: web.Request) -> web.Response:
    """GET /attachments/{channel}/{id}/{filename}: the stored bytes (no auth, like the CDN)."""
    state = request.app[STATE_KEY]
    att = state.attachments.get(int(request.match_info["attachment_id"]))
    if att is None or att.filename != request.match_info["filename"]:
        raise web.HTTPNotFound()
    state.downloads.append(att.id)
    if state.download_gate is not None:
        await state.download_gate.wait()
    return web.Response(body=att.data, content_type=att.content_type)


async def serve_avatar(request: web.Request) -> web.Response:
    """Any avatar/icon CDN path: a 1x1 PNG."""
    return web.Response(body=PIXEL_PNG, content_type="image/png")


def add_cdn_routes(app: web.Application) -> None:
    """Register the CDN-like routes (attachments and avatars)."""
    app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", serve_attachment)
    app.router.add_get("/ephemeral-attachments/{app_id}/{attachment_id}/{filename}",
                       serve_attachment)
    app.router.add_get("/embed/avatars/{name}", serve_avatar)
    app.router.add_get("/avatars/{user_id}/{name}", serve_avatar)
    app.router.add_get("/icons/{guild_id}/{name}", serve_avatar)


def message_or_404(state: FakeState, message_id: int) -> Any:
    """Look a message up by id or raise 404 10008."""
    msg = state.messages.get(message_id)
    if msg is None or msg.deleted:
        raise unknown("Message", 10008)
    return msg
