"""The fake JSON gateway: HELLO/IDENTIFY/READY, heartbeats, RESUME with replay, dispatches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .payloads import bot_self_payload, guild_create_payload, member_payload
from .state import FakeState

log = logging.getLogger(__name__)

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME = 0, 1, 2, 6
OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 7, 8, 9, 10, 11
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_MESSAGE_CONTENT = 1 << 15
MESSAGE_EVENTS = ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK")
BUFFER_LIMIT = 5000


class _ZlibStream:
    """zlib-stream transport compression: one deflate context, Z_SYNC_FLUSH per message."""

    def __init__(self) -> None:
        """Start a fresh compression context for a connection."""
        self._c = zlib.compressobj()

    def encode(self, text: str) -> bytes:
        """Compress one gateway message."""
        return self._c.compress(text.encode()) + self._c.flush(zlib.Z_SYNC_FLUSH)


class _ZstdStream:
    """zstd-stream transport compression (only if a zstd module is importable)."""

    def __init__(self) -> None:
        """Start a streaming zstd frame for a connection."""
        try:
            import zstandard  # type: ignore[import-not-found,unused-ignore]

            self._obj: Any = zstandard.ZstdCompressor().compressobj()
            self._flush: Any = zstandard.COMPRESSOBJ_FLUSH_BLOCK
            self._stdlib = False
        except ImportError:
            from compression import zstd  # type: ignore[import-not-found,unused-ignore]

            self._obj = zstd.ZstdCompressor()
            self._flush = zstd.ZstdCompressor.FLUSH_BLOCK
            self._stdlib = True

    def encode(self, text: str) -> bytes:
        """Compress one gateway message and flush the block."""
        if self._stdlib:
            return bytes(self._obj.compress(text.encode(), mode=self._flush))
        return bytes(self._obj.compress(text.encode()) + self._obj.flush(self._flush))


@dataclass
class Connection:
    """One websocket connection (transport level)."""

    ws: web.WebSocketResponse
    path: str
    query: dict[str, str]
    encoder: _ZlibStream | _ZstdStream | None
    transport: asyncio.BaseTransport | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    kind: str = "new"

    async def send(self, payload: dict[str, Any]) -> None:
        """Serialize, compress if negotiated, and send a payload."""
        text = json.dumps(payload, separators=(",", ":"))
        async with self.lock:
            if self.ws.closed:
                raise ConnectionResetError("websocket closed")
            if self.encoder is None:
                await self.ws.send_str(text)
            else:
                await self.ws.send_bytes(self.encoder.encode(text))


@dataclass
class GatewaySession:
    """A resumable gateway session with its own sequence and replay buffer."""

    session_id: str
    intents: int
    seq: int = 0
    buffer: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=BUFFER_LIMIT))
    conn: Connection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    invalid: bool = False

    async def push(self, event: str, data: dict[str, Any]) -> None:
        """Assign the next sequence number, buffer for resume, and send if connected."""
        async with self.lock:
            self.seq += 1
            payload = {"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data}
            self.buffer.append(payload)
            await self._send(payload)

    async def _send(self, payload: dict[str, Any]) -> None:
        """Send on the bound connection; a dead connection just unbinds."""
        if self.conn is None:
            return
        try:
            await self.conn.send(payload)
        except (ConnectionError, RuntimeError):
            self.conn = None


class Gateway:
    """Websocket endpoint plus the session registry that dispatches reach."""

    def __init__(self, state: FakeState, heartbeat_interval_ms: int = 41250) -> None:
        """Attach to the shared state and register as its dispatch target."""
        self.state = state
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[Connection] = []
        self.resume_url = ""
        self.identify_count = 0
        self.resume_count = 0
        self.ready_count = 0
        state.emit = self.dispatch

    @property
    def connected_sessions(self) -> list[GatewaySession]:
        """Sessions that currently have a live socket."""
        return [s for s in self.sessions.values() if s.conn is not None and not s.invalid]

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a dispatch to every valid session (buffered while a session is disconnected)."""
        for session in list(self.sessions.values()):
            if session.invalid:
                continue
            if event in MESSAGE_EVENTS and not session.intents & INTENT_GUILD_MESSAGES:
                continue
            await session.push(event, self._filter(session, event, data))

    def _filter(self, session: GatewaySession, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Strip message content for sessions without the MESSAGE_CONTENT intent."""
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            return data
        if session.intents & INTENT_MESSAGE_CONTENT:
            return data
        bot_id = str(self.state.bot_user.id)
        author = (data.get("author") or {}).get("id")
        mentioned = any(m.get("id") == bot_id for m in data.get("mentions", []))
        if author == bot_id or mentioned:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Websocket handler for both the gateway URL and the resume URL."""
        ws = web.WebSocketResponse(compress=False, max_msg_size=0)
        await ws.prepare(request)
        query = dict(request.query)
        mode = query.get("compress", "")
        encoder: _ZlibStream | _ZstdStream | None = None
        if mode == "zlib-stream":
            encoder = _ZlibStream()
        elif mode == "zstd-stream":
            try:
                encoder = _ZstdStream()
            except ImportError:
                encoder = None  # no zstd here: plain text frames are still understood
        conn = Connection(
            ws=ws, path=request.path, query=query, encoder=encoder, transport=request.transport
        )
        self.connections.append(conn)
        if query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"Only encoding=json is supported by the fake")
            return ws
        await conn.send({"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms,
                                               "_trace": ["fake-gateway"]}, "s": None, "t": None})
        session: GatewaySession | None = None
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    raw = msg.data if msg.type is WSMsgType.TEXT else msg.data.decode()
                    payload = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                try:
                    session = await self._handle_op(conn, session, payload)
                except (ConnectionError, RuntimeError):
                    break  # the socket went away while we were answering
        finally:
            if session is not None and session.conn is conn:
                session.conn = None
                if ws.close_code in (1000, 1001):
                    session.invalid = True
        return ws

    async def _handle_op(
        self, conn: Connection, session: GatewaySession | None, payload: dict[str, Any]
    ) -> GatewaySession | None:
        """React to one client opcode; returns the session bound to the connection."""
        op, data = payload.get("op"), payload.get("d")
        if op == OP_HEARTBEAT:
            await conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            return session
        if op in (OP_IDENTIFY, OP_RESUME) and session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return session
        if op in (OP_IDENTIFY, OP_RESUME) and not self._token_ok((data or {}).get("token")):
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return None
        if op == OP_IDENTIFY:
            return await self._identify(conn, data or {})
        if op == OP_RESUME:
            return await self._resume(conn, data or {})
        if session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
            return None
        if op == OP_REQUEST_MEMBERS:
            await self._members_chunk(session, data or {})
        return session

    def _token_ok(self, token: Any) -> bool:
        """Whether an IDENTIFY/RESUME token is the fake's bot token."""
        if not isinstance(token, str):
            return False
        return token.removeprefix("Bot ").strip() == self.state.token

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> GatewaySession:
        """Create a session, send READY and one GUILD_CREATE per guild."""
        conn.kind = "identify"
        intents = int(data.get("intents", 0))
        session = GatewaySession(session_id=secrets.token_hex(16), intents=intents)
        self.identify_count += 1
        async with session.lock:
            session.conn = conn
            self.sessions[session.session_id] = session
            ready = {
                "v": 10,
                "user": bot_self_payload(self.state.bot_user),
                "guilds": [{"id": str(g), "unavailable": True} for g in self.state.guilds],
                "session_id": session.session_id,
                "session_type": "normal",
                "resume_gateway_url": self.resume_url,
                "application": {"id": str(self.state.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "auth": {},
                "_trace": ["fake-gateway"],
            }
            if "shard" in data:
                ready["shard"] = data["shard"]
            events = [("READY", ready)]
            guilds = self.state.guilds.values()
            events += [("GUILD_CREATE", guild_create_payload(g)) for g in guilds]
            for event, body in events:
                session.seq += 1
                payload = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": body}
                session.buffer.append(payload)
                await session._send(payload)
        self.ready_count += 1
        return session

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> GatewaySession | None:
        """Rebind a session, replay dispatches after the client's seq, then RESUMED."""
        conn.kind = "resume"
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or session.invalid:
            await conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return None
        last = int(data.get("seq") or 0)
        async with session.lock:
            if session.conn is not None and session.conn is not conn:
                await session.conn.ws.close(code=4000)
            session.conn = conn
            for payload in list(session.buffer):
                if payload["s"] > last:
                    await session._send(payload)
            session.seq += 1
            await session._send({"op": OP_DISPATCH, "t": "RESUMED", "s": session.seq,
                                 "d": {"_trace": ["fake-gateway"]}})
        self.resume_count += 1
        return session

    async def _members_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        """Answer REQUEST_GUILD_MEMBERS with one chunk holding every member."""
        guild = self.state.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        members = [member_payload(m) for m in guild.members.values()]
        body: dict[str, Any] = {"guild_id": str(guild.id), "members": members,
                                "chunk_index": 0, "chunk_count": 1, "not_found": []}
        if data.get("nonce"):
            body["nonce"] = data["nonce"]
        await session.push("GUILD_MEMBERS_CHUNK", body)

    async def disconnect(self, code: int | None = None) -> int:
        """Drop every live socket (abruptly, or with a close code); sessions stay resumable."""
        dropped = 0
        for session in self.connected_sessions:
            conn = session.conn
            session.conn = None
            if conn is None:
                continue
            dropped += 1
            if code is None and conn.transport is not None:
                conn.transport.abort()  # type: ignore[attr-defined]
            else:
                await conn.ws.close(code=code or 4000)
        return dropped

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT to every live connection."""
        for session in self.connected_sessions:
            if session.conn is not None:
                try:
                    await session.conn.send({"op": OP_RECONNECT, "d": None, "s": None, "t": None})
                except (ConnectionError, RuntimeError):
                    session.conn = None

    async def invalidate_sessions(self) -> None:
        """Mark every session non-resumable and tell live clients (op 9, d=false)."""
        for session in list(self.sessions.values()):
            session.invalid = True
            if session.conn is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await session.conn.send({"op": OP_INVALID_SESSION, "d": False,
                                             "s": None, "t": None})

    async def close_all(self) -> None:
        """Close every socket (fake shutdown)."""
        for conn in self.connections:
            if not conn.ws.closed:
                await conn.ws.close(code=1001)
