"""REST routes for interaction callbacks and the interaction webhook (original + follow-ups)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .models import FLAG_EPHEMERAL, FLAG_LOADING, InteractionRecord, StoredMessage
from .rest_base import (
    API_PREFIX,
    STATE_KEY,
    ApiError,
    invalid_form,
    json_ok,
    no_content,
    read_body,
    snowflake_arg,
    unknown,
)
from .rest_messages import validate_message_body
from .state import FakeState

routes = web.RouteTableDef()
ACK_DEADLINE_S = 3.0
TOKEN_LIFETIME_S = 15 * 60.0
PING, APP_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# Callback types allowed for each interaction type.
ALLOWED_CALLBACKS: dict[int, tuple[int, ...]] = {
    PING: (1,),
    APP_COMMAND: (4, 5, 9, 12),
    COMPONENT: (4, 5, 6, 7, 9, 12),
    AUTOCOMPLETE: (8,),
    MODAL_SUBMIT: (4, 5, 6, 7),
}
UNKNOWN_INTERACTION = ApiError(404, 10062, "Unknown interaction")
ALREADY_ACKED = ApiError(400, 40060, "Interaction has already been acknowledged.")
INVALID_TOKEN = ApiError(401, 50027, "Invalid Webhook Token")
UNKNOWN_WEBHOOK = ApiError(404, 10015, "Unknown Webhook")


def _response_message_type(rec: InteractionRecord) -> int:
    """Message type of an interaction's response: CHAT_INPUT_COMMAND/CONTEXT_MENU or DEFAULT."""
    if rec.type != APP_COMMAND:
        return 0
    return 20 if (rec.payload.get("data") or {}).get("type", 1) == 1 else 23


@routes.post(API_PREFIX + "/interactions/{interaction_id}/{token}/callback")
async def interaction_callback(request: web.Request) -> web.Response:
    """Initial response; late (>3 s) gives 10062, a second one gives 40060."""
    state = request.app[STATE_KEY]
    body = await read_body(request)
    rec = state.interactions.get(snowflake_arg(request, "interaction_id"))
    if rec is None or rec.token != request.match_info["token"]:
        raise UNKNOWN_INTERACTION
    if rec.response_type is not None:
        raise ALREADY_ACKED
    if rec.expired or state.clock.now() - rec.dispatched_at > ACK_DEADLINE_S:
        raise UNKNOWN_INTERACTION
    ctype = body.json.get("type")
    data: dict[str, Any] = body.json.get("data") or {}
    if ctype not in ALLOWED_CALLBACKS.get(rec.type, ()):
        raise invalid_form(errors={"type": {"_errors": [
            {"code": "INTERACTION_CALLBACK_TYPE_INVALID",
             "message": f"callback type {ctype} is invalid for interaction type {rec.type}"}]}})
    msg = await _apply_callback(state, rec, ctype, data, body)
    rec.response_type, rec.response_data = ctype, data
    rec.acked_at = state.clock.now()
    if request.query.get("with_response", "").lower() not in ("1", "true"):
        return no_content()
    inter: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
    result: dict[str, Any] = {"interaction": inter}
    if msg is not None:
        inter.update(response_message_id=str(msg.id), response_message_loading=msg.is_loading,
                     response_message_ephemeral=msg.is_ephemeral)
        if ctype in (4, 5, 7):
            result["resource"] = {"type": ctype, "message": state.message_payload(msg)}
    return json_ok(result)


async def _apply_callback(
    state: FakeState, rec: InteractionRecord, ctype: int, data: dict[str, Any], body: Any
) -> StoredMessage | None:
    """Create or edit the message a callback implies; returns it."""
    channel = state.channels.get(rec.channel_id)
    if ctype in (4, 5):
        if channel is None:
            raise unknown("Channel", 10003)
        flags = int(data.get("flags") or 0)
        if ctype == 5:
            payload = {"flags": FLAG_LOADING | (flags & FLAG_EPHEMERAL)}
            msg, _ = state.create_message(channel, state.bot_user, payload, allow_ephemeral=True,
                                          msg_type=_response_message_type(rec),
                                          webhook_id=state.application_id, interaction=rec)
        else:
            body.json = data
            validate_message_body(body, creating=True)
            msg, _ = state.create_message(channel, state.bot_user, data, body.uploads,
                                          allow_ephemeral=True,
                                          msg_type=_response_message_type(rec),
                                          webhook_id=state.application_id, interaction=rec)
        rec.original_message_id = msg.id
        if not msg.is_ephemeral:
            await state.dispatch("MESSAGE_CREATE", state.message_payload(msg, gateway=True))
        return msg
    if ctype in (6, 7) and rec.source_message_id is not None:
        rec.original_message_id = rec.source_message_id
        source = state.messages.get(rec.source_message_id)
        if ctype == 7 and source is not None:
            body.json = data
            validate_message_body(body, creating=False)
            state.edit_message(source, data, body.uploads)
            if not source.is_ephemeral:
                await state.dispatch("MESSAGE_UPDATE", state.message_payload(source, gateway=True))
        return source
    return None


def _webhook_interaction(request: web.Request) -> InteractionRecord:
    """The interaction behind /webhooks/{app}/{token}, enforcing the token's lifetime."""
    state = request.app[STATE_KEY]
    rec = state.tokens.get(request.match_info["token"])
    if rec is None or snowflake_arg(request, "app_id") != state.application_id:
        raise UNKNOWN_WEBHOOK
    age = state.clock.now() - rec.dispatched_at
    if rec.expired or age > TOKEN_LIFETIME_S:
        rec.expired = True
        raise INVALID_TOKEN
    if rec.response_type is None:
        # Not (yet) acknowledged: the webhook does not exist; after 3 s it never will.
        raise UNKNOWN_WEBHOOK
    return rec


def _target_message(request: web.Request, rec: InteractionRecord) -> StoredMessage:
    """The @original or follow-up message addressed by the path."""
    state = request.app[STATE_KEY]
    ref = request.match_info["message_id"]
    if ref == "@original":
        mid = rec.original_message_id
    elif ref.isdigit() and (int(ref) in rec.followup_ids or int(ref) == rec.original_message_id):
        mid = int(ref)
    else:
        mid = None
    msg = state.messages.get(mid) if mid is not None else None
    if msg is None or msg.deleted:
        raise unknown("Message", 10008)
    return msg


@routes.post(API_PREFIX + "/webhooks/{app_id}/{token}")
async def create_followup(request: web.Request) -> web.Response:
    """POST a follow-up; the first one after a deferred response fills the loading message."""
    state = request.app[STATE_KEY]
    body = await read_body(request)
    rec = _webhook_interaction(request)
    validate_message_body(body, creating=True)
    original = state.messages.get(rec.original_message_id or 0)
    if original is not None and original.is_loading and rec.response_type == 5:
        data = {**body.json, "flags": (original.flags & FLAG_EPHEMERAL)
                | (int(body.json.get("flags") or 0) & ~FLAG_EPHEMERAL & ~FLAG_LOADING)}
        msg = state.edit_message(original, data, body.uploads)
        event = "MESSAGE_UPDATE"
    else:
        channel = state.channels.get(rec.channel_id)
        if channel is None:
            raise unknown("Channel", 10003)
        msg, _ = state.create_message(channel, state.bot_user, body.json, body.uploads,
                                      allow_ephemeral=True, webhook_id=state.application_id,
                                      interaction=rec)
        rec.followup_ids.append(msg.id)
        event = "MESSAGE_CREATE"
    if not msg.is_ephemeral:
        await state.dispatch(event, state.message_payload(msg, gateway=True))
    if request.query.get("wait", "").lower() in ("1", "true"):
        return json_ok(state.message_payload(msg))
    return no_content()


@routes.get(API_PREFIX + "/webhooks/{app_id}/{token}/messages/{message_id}")
async def get_webhook_message(request: web.Request) -> web.Response:
    """GET @original or a follow-up."""
    state = request.app[STATE_KEY]
    rec = _webhook_interaction(request)
    return json_ok(state.message_payload(_target_message(request, rec)))


@routes.patch(API_PREFIX + "/webhooks/{app_id}/{token}/messages/{message_id}")
async def edit_webhook_message(request: web.Request) -> web.Response:
    """PATCH @original or a follow-up (clears the loading state of a deferred response)."""
    state = request.app[STATE_KEY]
    body = await read_body(request)
    rec = _webhook_interaction(request)
    msg = _target_message(request, rec)
    validate_message_body(body, creating=False)
    state.edit_message(msg, body.json, body.uploads)
    msg.flags &= ~FLAG_LOADING
    if not msg.is_ephemeral:
        await state.dispatch("MESSAGE_UPDATE", state.message_payload(msg, gateway=True))
    return json_ok(state.message_payload(msg))


@routes.delete(API_PREFIX + "/webhooks/{app_id}/{token}/messages/{message_id}")
async def delete_webhook_message(request: web.Request) -> web.Response:
    """DELETE @original or a follow-up."""
    state = request.app[STATE_KEY]
    rec = _webhook_interaction(request)
    msg = _target_message(request, rec)
    state.delete_message(msg)
    if not msg.is_ephemeral:
        event = {"id": str(msg.id), "channel_id": str(msg.channel_id),
                 "guild_id": str(msg.guild_id)}
        await state.dispatch("MESSAGE_DELETE", event)
    return no_content()
