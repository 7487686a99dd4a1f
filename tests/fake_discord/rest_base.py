"""Shared REST plumbing: errors, body parsing (JSON/multipart), auth, rate-limit headers, log."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from .gateway import Gateway
from .models import FakeChannel, FakeGuild, RecordedRequest, StoredMessage
from .state import FakeState

API_PREFIX = "/api/v10"
STATE_KEY = web.AppKey("fake_state", FakeState)
GATEWAY_KEY = web.AppKey("fake_gateway", Gateway)
# Routes authenticated by the interaction/webhook token in the URL (discord.py sends no header).
TOKEN_ROUTES = re.compile(r"^/(interactions/\d+/[^/]+/callback|webhooks/\d+/[^/]+)(/.*)?$")
FILE_FIELD = re.compile(r"^files?\[(\d+)\]$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error Discord would answer with {"message", "code"} JSON."""

    def __init__(self, status: int, code: int, message: str, errors: Any = None) -> None:
        """Remember HTTP status, Discord error code and message."""
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def response(self) -> web.Response:
        """The JSON error response."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return json_ok(body, status=self.status)


def unknown(kind: str, code: int) -> ApiError:
    """A 404 "Unknown <kind>" error."""
    return ApiError(404, code, f"Unknown {kind}")


def invalid_form(message: str = "Invalid Form Body", errors: Any = None) -> ApiError:
    """A 400 50035 validation error."""
    return ApiError(400, 50035, message, errors)


MISSING_PERMISSIONS = ApiError(403, 50013, "Missing Permissions")
MISSING_ACCESS = ApiError(403, 50001, "Missing Access")


@dataclass
class Body:
    """A parsed request body: JSON payload and uploaded files keyed by their index."""

    json: dict[str, Any] = field(default_factory=dict)
    uploads: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)


BODY_KEY = web.RequestKey("fake_body", Body)


async def read_body(request: web.Request) -> Body:
    """Parse JSON or multipart (payload_json + files[n]), enforcing the upload size limit."""
    state = request.app[STATE_KEY]
    body = Body()
    if request.content_type.startswith("multipart/"):
        too_large = False
        reader = await request.multipart()
        next_index = 0
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if name == "payload_json":
                body.json = json.loads(await part.text())
                continue
            match = FILE_FIELD.match(name)
            index = int(match.group(1)) if match else next_index
            next_index = index + 1
            data = bytearray()
            while chunk := await part.read_chunk(1 << 16):
                if len(data) <= state.attachment_limit:
                    data.extend(chunk)
                else:
                    too_large = True  # keep draining so the client reads our 413
            filename = part.filename or f"file{index}"
            too_large = too_large or len(data) > state.attachment_limit
            body.uploads[index] = (filename, bytes(data))
            body.files.append({"field": name, "filename": filename, "size": len(data),
                               "content_type": part.headers.get("Content-Type")})
        request[BODY_KEY] = body
        if too_large:
            raise ApiError(413, 40005, "Request entity too large")
        if body.uploads and state.upload_hook is not None:
            await state.upload_hook(request.path, [name for name, _ in body.uploads.values()])
    elif request.can_read_body:
        raw = await request.read()
        if raw:
            try:
                body.json = json.loads(raw)
            except ValueError as exc:
                raise ApiError(400, 50109, "The request body contains invalid JSON.") from exc
    request[BODY_KEY] = body
    return body


def snowflake_arg(request: web.Request, name: str) -> int:
    """An integer path parameter (404 when it is not a snowflake)."""
    value = request.match_info[name]
    if not value.isdigit():
        raise ApiError(404, 0, "404: Not Found")
    return int(value)


def get_guild(request: web.Request, name: str = "guild_id") -> FakeGuild:
    """Path guild or 404 10004."""
    guild = request.app[STATE_KEY].guilds.get(snowflake_arg(request, name))
    if guild is None:
        raise unknown("Guild", 10004)
    return guild


def get_channel(request: web.Request, name: str = "channel_id") -> FakeChannel:
    """Path channel or 404 10003 (403 50001 when the bot cannot view it)."""
    state = request.app[STATE_KEY]
    channel = state.channels.get(snowflake_arg(request, name))
    if channel is None:
        raise unknown("Channel", 10003)
    if not state.bot_permissions(channel) & (1 << 10):
        raise MISSING_ACCESS
    return channel


def get_message(request: web.Request, channel: FakeChannel) -> StoredMessage:
    """Path message in the channel or 404 10008."""
    state = request.app[STATE_KEY]
    msg = state.messages.get(snowflake_arg(request, "message_id"))
    if msg is None or msg.deleted or msg.channel_id != channel.id or msg.is_ephemeral:
        raise unknown("Message", 10008)
    return msg


def _ratelimit_headers(request: web.Request) -> dict[str, str]:
    """Headers that tell discord.py a bucket has lots of room left."""
    route = request.match_info.route.resource
    canonical = route.canonical if route is not None else request.path
    bucket = hashlib.md5(canonical.encode()).hexdigest()[:16]
    return {
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Scope": "user",
        "Via": "1.1 google",
    }


def _authorized(request: web.Request, api_path: str) -> bool:
    """Bot-token check; token-in-URL routes only fail when a wrong header is present."""
    header = request.headers.get("Authorization")
    expected = f"Bot {request.app[STATE_KEY].token}"
    if TOKEN_ROUTES.match(api_path):
        return header is None or header == expected
    return header == expected


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth, JSON errors, rate-limit headers and the request log for /api/v10 routes."""
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    state = request.app[STATE_KEY]
    api_path = request.path[len(API_PREFIX):]
    entry = RecordedRequest(method=request.method, path=api_path, query=dict(request.query))
    state.requests.append(entry)
    response: web.StreamResponse
    try:
        if not _authorized(request, api_path):
            raise ApiError(401, 0, "401: Unauthorized")
        response = await handler(request)
    except ApiError as err:
        response = err.response()
    except web.HTTPNotFound:
        response = ApiError(404, 0, "404: Not Found").response()
    except web.HTTPMethodNotAllowed:
        response = ApiError(405, 0, "405: Method Not Allowed").response()
    if BODY_KEY not in request and request.can_read_body:
        # Drain (and log) bodies the handler never read, so the client gets our answer.
        with contextlib.suppress(ApiError, ValueError):
            await read_body(request)
    body = request.get(BODY_KEY)
    if body is not None:
        entry.json, entry.files = body.json, body.files
    entry.status = response.status
    if isinstance(response, web.Response) and response.body is not None:
        try:
            entry.response = json.loads(response.body)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            entry.response = None
    response.headers.update(_ratelimit_headers(request))
    return response


def json_ok(data: Any, status: int = 200) -> web.Response:
    """A JSON response with Content-Type exactly ``application/json`` (discord.py needs that)."""
    return web.Response(body=json.dumps(data).encode(), status=status,
                        content_type="application/json")


def no_content() -> web.Response:
    """A 204 response."""
    return web.Response(status=204)
