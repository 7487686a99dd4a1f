"""REST routes for login/startup: gateway discovery, users, the application and command sync."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .payloads import application_payload, bot_self_payload, member_payload, user_payload
from .rest_base import (
    API_PREFIX,
    STATE_KEY,
    ApiError,
    get_guild,
    invalid_form,
    json_ok,
    no_content,
    read_body,
    snowflake_arg,
    unknown,
)

routes = web.RouteTableDef()
CHAT_NAME = re.compile(r"^[-_\w]{1,32}$", re.UNICODE)


@routes.get(API_PREFIX + "/gateway")
async def get_gateway(request: web.Request) -> web.Response:
    """GET /gateway."""
    return json_ok({"url": request.app[STATE_KEY].gateway_url})


@routes.get(API_PREFIX + "/gateway/bot")
async def get_gateway_bot(request: web.Request) -> web.Response:
    """GET /gateway/bot."""
    return json_ok({
        "url": request.app[STATE_KEY].gateway_url,
        "shards": 1,
        "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000,
                                "max_concurrency": 1},
    })


@routes.get(API_PREFIX + "/users/@me")
async def get_me(request: web.Request) -> web.Response:
    """GET /users/@me: the bot user."""
    return json_ok(bot_self_payload(request.app[STATE_KEY].bot_user))


@routes.get(API_PREFIX + "/users/{user_id}")
async def get_user(request: web.Request) -> web.Response:
    """GET /users/{id}."""
    user = request.app[STATE_KEY].users.get(snowflake_arg(request, "user_id"))
    if user is None:
        raise unknown("User", 10013)
    return json_ok(user_payload(user))


@routes.get(API_PREFIX + "/oauth2/applications/@me")
@routes.get(API_PREFIX + "/applications/@me")
async def get_application(request: web.Request) -> web.Response:
    """GET /oauth2/applications/@me: application id and owner."""
    state = request.app[STATE_KEY]
    return json_ok(application_payload(state.application_id, state.bot_user, state.owner_user))


@routes.get(API_PREFIX + "/guilds/{guild_id}")
async def get_guild_route(request: web.Request) -> web.Response:
    """GET /guilds/{id} (the GUILD_CREATE body without members/channels)."""
    from .payloads import guild_create_payload

    data = guild_create_payload(get_guild(request))
    for key in ("channels", "threads", "members", "voice_states", "presences"):
        data.pop(key, None)
    return json_ok(data)


@routes.get(API_PREFIX + "/guilds/{guild_id}/members/{user_id}")
async def get_member(request: web.Request) -> web.Response:
    """GET /guilds/{id}/members/{user}."""
    member = get_guild(request).members.get(snowflake_arg(request, "user_id"))
    if member is None:
        raise unknown("Member", 10007)
    return json_ok(member_payload(member))


def _check_app(request: web.Request) -> None:
    """403 when the path's application id is not the fake's application."""
    if snowflake_arg(request, "app_id") != request.app[STATE_KEY].application_id:
        raise ApiError(403, 50001, "Missing Access")


def _scope(request: web.Request) -> int | None:
    """Guild id for guild-scoped command routes, None for global ones."""
    _check_app(request)
    return get_guild(request).id if "guild_id" in request.match_info else None


def validate_command(cmd: Any, where: str) -> dict[str, Any]:
    """Subset of Discord's schema validation; returns {path: message} problems."""
    problems: dict[str, Any] = {}
    if not isinstance(cmd, dict) or not isinstance(cmd.get("name"), str):
        return {where: "name is required"}
    ctype = cmd.get("type", 1)
    name = cmd["name"]
    if ctype == 1:
        if not CHAT_NAME.match(name) or name != name.lower():
            problems[f"{where}.name"] = "APPLICATION_COMMAND_INVALID_NAME"
        if not 1 <= len(cmd.get("description") or "") <= 100:
            problems[f"{where}.description"] = "BASE_TYPE_BAD_LENGTH (1-100)"
    elif cmd.get("description"):
        problems[f"{where}.description"] = "context menu commands cannot have a description"
    options = cmd.get("options") or []
    if len(options) > 25:
        problems[f"{where}.options"] = "BASE_TYPE_MAX_LENGTH (25)"
    seen_optional = False
    for i, opt in enumerate(options):
        path = f"{where}.options.{i}"
        if opt.get("type") in (1, 2):
            problems.update(validate_command({**opt, "type": 1}, path))
            continue
        if not CHAT_NAME.match(opt.get("name", "")) or opt["name"] != opt["name"].lower():
            problems[f"{path}.name"] = "APPLICATION_COMMAND_INVALID_NAME"
        if not 1 <= len(opt.get("description") or "") <= 100:
            problems[f"{path}.description"] = "BASE_TYPE_BAD_LENGTH (1-100)"
        if opt.get("required"):
            if seen_optional:
                problems[f"{path}.required"] = "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"
        else:
            seen_optional = True
        if len(opt.get("choices") or []) > 25:
            problems[f"{path}.choices"] = "BASE_TYPE_MAX_LENGTH (25)"
    return problems


@routes.get(API_PREFIX + "/applications/{app_id}/commands")
@routes.get(API_PREFIX + "/applications/{app_id}/guilds/{guild_id}/commands")
async def list_commands(request: web.Request) -> web.Response:
    """GET the stored command list."""
    return json_ok(request.app[STATE_KEY].commands_for(_scope(request)))


@routes.put(API_PREFIX + "/applications/{app_id}/commands")
@routes.put(API_PREFIX + "/applications/{app_id}/guilds/{guild_id}/commands")
async def put_commands(request: web.Request) -> web.Response:
    """Bulk overwrite (what CommandTree.sync does)."""
    scope = _scope(request)
    schemas = (await read_body(request)).json
    if not isinstance(schemas, list):
        raise invalid_form()
    problems: dict[str, Any] = {}
    for i, cmd in enumerate(schemas):
        problems.update(validate_command(cmd, str(i)))
    names = [(c.get("name"), c.get("type", 1)) for c in schemas]
    if len(set(names)) != len(names):
        problems["_errors"] = "APPLICATION_COMMANDS_DUPLICATE_NAME"
    if problems:
        raise invalid_form(errors=problems)
    return json_ok(request.app[STATE_KEY].put_commands(scope, schemas))


@routes.post(API_PREFIX + "/applications/{app_id}/commands")
@routes.post(API_PREFIX + "/applications/{app_id}/guilds/{guild_id}/commands")
async def upsert_command(request: web.Request) -> web.Response:
    """Create or replace one command (by name and type)."""
    state = request.app[STATE_KEY]
    scope = _scope(request)
    schema = (await read_body(request)).json
    problems = validate_command(schema, "0")
    if problems:
        raise invalid_form(errors=problems)
    key = (schema["name"], schema.get("type", 1))
    others = [c for c in state.commands_for(scope) if (c["name"], c.get("type", 1)) != key]
    existing = [c for c in state.commands_for(scope) if (c["name"], c.get("type", 1)) == key]
    stored = state.put_commands(scope, [*others, {**(existing[0] if existing else {}), **schema}])
    return json_ok(stored[-1], status=200 if existing else 201)


@routes.get(API_PREFIX + "/applications/{app_id}/commands/{command_id}")
@routes.get(API_PREFIX + "/applications/{app_id}/guilds/{guild_id}/commands/{command_id}")
async def get_command(request: web.Request) -> web.Response:
    """GET one command."""
    cid = request.match_info["command_id"]
    for cmd in request.app[STATE_KEY].commands_for(_scope(request)):
        if cmd["id"] == cid:
            return json_ok(cmd)
    raise unknown("application command", 10063)


@routes.delete(API_PREFIX + "/applications/{app_id}/commands/{command_id}")
@routes.delete(API_PREFIX + "/applications/{app_id}/guilds/{guild_id}/commands/{command_id}")
async def delete_command(request: web.Request) -> web.Response:
    """DELETE one command."""
    state = request.app[STATE_KEY]
    scope = _scope(request)
    cid = request.match_info["command_id"]
    cmds = state.commands_for(scope)
    if not any(c["id"] == cid for c in cmds):
        raise unknown("application command", 10063)
    cmds[:] = [c for c in cmds if c["id"] != cid]
    return no_content()
