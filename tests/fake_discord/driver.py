"""Test-driver API: trigger interactions and user messages, and inspect what the bot answered."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .interaction_payloads import (
    SELECT_TYPES,
    Resolved,
    command_data,
    modal_submit_components,
    new_interaction,
)
from .models import (
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    InteractionRecord,
    StoredMessage,
    Upload,
)
from .state import FakeState

T = TypeVar("T")
APP_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5


async def poll(
    predicate: Callable[[], T | None], timeout: float, what: str = "condition"
) -> T:
    """Re-evaluate a predicate (may also return an awaitable) every 10 ms until truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


class InteractionHandle:
    """What a test holds after triggering an interaction: ack state and response messages."""

    def __init__(self, state: FakeState, record: InteractionRecord) -> None:
        """Wrap a server-side interaction record."""
        self._state = state
        self.record = record

    def __repr__(self) -> str:
        """Short description for assertion messages."""
        rec = self.record
        return f"<InteractionHandle id={rec.id} type={rec.type} acked={rec.response_type}>"

    @property
    def id(self) -> int:
        """Interaction id."""
        return self.record.id

    @property
    def token(self) -> str:
        """Interaction token."""
        return self.record.token

    @property
    def payload(self) -> dict[str, Any]:
        """The INTERACTION_CREATE body that was dispatched."""
        return self.record.payload

    @property
    def acked(self) -> bool:
        """Whether the bot sent an accepted initial response."""
        return self.record.response_type is not None

    @property
    def response_type(self) -> int | None:
        """Callback type of the initial response (4, 5, 6, 7, 8, 9) or None."""
        return self.record.response_type

    @property
    def is_deferred(self) -> bool:
        """Whether the initial response was a deferral (5 or 6)."""
        return self.record.response_type in (5, 6)

    @property
    def original(self) -> StoredMessage | None:
        """Current state of the original response (its ``history`` holds earlier states)."""
        mid = self.record.original_message_id
        return self._state.messages.get(mid) if mid is not None else None

    @property
    def followups(self) -> list[StoredMessage]:
        """Follow-up messages in creation order."""
        return [self._state.messages[m] for m in self.record.followup_ids]

    @property
    def is_ephemeral(self) -> bool:
        """Whether the original response is ephemeral."""
        original = self.original
        if original is not None:
            return original.is_ephemeral
        return bool(int((self.record.response_data or {}).get("flags") or 0) & 64)

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        """Autocomplete choices the bot answered with (callback type 8)."""
        if self.record.response_type != 8:
            return None
        return list((self.record.response_data or {}).get("choices") or [])

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot opened (callback type 9)."""
        return self.record.response_data if self.record.response_type == 9 else None

    async def wait_acked(self, timeout: float = 3.0) -> int:
        """Wait for the initial response; returns its callback type."""
        await poll(lambda: self.acked, timeout, f"ack of {self!r}")
        assert self.record.response_type is not None
        return self.record.response_type

    async def wait_original(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 10.0
    ) -> StoredMessage:
        """Wait until the original response exists and is not loading (or matches predicate)."""
        check = predicate or (lambda m: not m.is_loading)

        def ready() -> StoredMessage | None:
            msg = self.original
            return msg if msg is not None and check(msg) else None

        return await poll(ready, timeout, f"original response of {self!r}")

    async def wait_followups(self, count: int = 1, timeout: float = 10.0) -> list[StoredMessage]:
        """Wait until at least ``count`` follow-ups exist."""
        await poll(lambda: len(self.record.followup_ids) >= count, timeout, "follow-ups")
        return self.followups


class DriverMixin:
    """Driver methods of FakeDiscord (needs ``self.state``)."""

    state: FakeState

    async def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 5.0,
        what: str = "condition",
    ) -> T:
        """Wait until predicate() (sync or async) is truthy; returns its value."""
        return await poll(predicate, timeout, what)

    def _member(self, guild: FakeGuild, who: FakeMember | FakeUser) -> FakeMember:
        """Resolve a user to their membership in the guild."""
        member = guild.members.get(who.id)
        if member is None:
            raise LookupError(f"user {who.id} is not a member of guild {guild.name!r}")
        return member

    async def _dispatch(self, rec: InteractionRecord) -> InteractionHandle:
        """Send INTERACTION_CREATE and start the 3 s acknowledgement clock."""
        rec.dispatched_at = self.state.clock.now()
        await self.state.dispatch("INTERACTION_CREATE", rec.payload)
        return InteractionHandle(self.state, rec)

    def _command_request(
        self, guild: FakeGuild, channel: FakeChannel, name: str | Sequence[str],
        values: dict[str, Any], *, target: Any, validate: bool, focused: str | None,
    ) -> dict[str, Any]:
        """Build the `data` for a slash/context-menu command from the synced schema."""
        path = name.split() if isinstance(name, str) else list(name)
        ctype = 1
        if isinstance(target, (FakeMember, FakeUser)):
            ctype = 2
        elif isinstance(target, StoredMessage):
            ctype = 3
        cmd = self.state.find_command(guild.id, path[0], ctype)
        if cmd is None:
            pool = self.state.commands_for(guild.id) + self.state.global_commands
            known = [c["name"] for c in pool]
            raise LookupError(f"command {path[0]!r} (type {ctype}) is not synced; synced: {known}")
        res = Resolved(self.state, guild, channel)
        if ctype == 1:
            data = command_data(cmd, path, values, res, validate=validate, focused=focused)
        else:
            target_id = res.user(target) if ctype == 2 else res.message(target)
            data = {"id": cmd["id"], "name": cmd["name"], "type": ctype, "target_id": target_id}
            if cmd.get("guild_id"):
                data["guild_id"] = cmd["guild_id"]
        if res.data:
            data["resolved"] = res.data
        return data

    async def send_command(
        self,
        guild: FakeGuild,
        channel: FakeChannel,
        member: FakeMember | FakeUser,
        name: str | Sequence[str],
        options: dict[str, Any] | None = None,
        *,
        target: FakeMember | FakeUser | StoredMessage | None = None,
        locale: str | None = None,
        validate: bool = True,
    ) -> InteractionHandle:
        """Dispatch an APPLICATION_COMMAND ("theme set" or ("theme", "set") for subcommands)."""
        data = self._command_request(guild, channel, name, options or {}, target=target,
                                     validate=validate, focused=None)
        rec = new_interaction(self.state, itype=APP_COMMAND, guild=guild, channel=channel,
                              member=self._member(guild, member), data=data, locale=locale)
        return await self._dispatch(rec)

    async def autocomplete(
        self,
        guild: FakeGuild,
        channel: FakeChannel,
        member: FakeMember | FakeUser,
        name: str | Sequence[str],
        options: dict[str, Any],
        focused: str,
        *,
        timeout: float = 3.0,
    ) -> list[dict[str, Any]]:
        """Dispatch APPLICATION_COMMAND_AUTOCOMPLETE and return the choices the bot answered."""
        handle = await self.start_autocomplete(guild, channel, member, name, options, focused)
        await handle.wait_acked(timeout)
        return handle.choices or []

    async def start_autocomplete(
        self,
        guild: FakeGuild,
        channel: FakeChannel,
        member: FakeMember | FakeUser,
        name: str | Sequence[str],
        options: dict[str, Any],
        focused: str,
    ) -> InteractionHandle:
        """Dispatch an autocomplete interaction without waiting for the answer."""
        data = self._command_request(guild, channel, name, options, target=None,
                                     validate=False, focused=focused)
        rec = new_interaction(self.state, itype=AUTOCOMPLETE, guild=guild, channel=channel,
                              member=self._member(guild, member), data=data)
        return await self._dispatch(rec)

    async def click(
        self,
        message: StoredMessage | int,
        custom_id: str,
        member: FakeMember | FakeUser,
        *,
        values: Sequence[Any] | None = None,
        locale: str | None = None,
    ) -> InteractionHandle:
        """Dispatch a MESSAGE_COMPONENT interaction for a button/select on a stored message."""
        msg = message if isinstance(message, StoredMessage) else self.state.messages[message]
        channel = self.state.channels[msg.channel_id]
        guild = self.state.guilds[channel.guild_id]
        comp = msg.find_component(custom_id)
        if comp is None:
            raise LookupError(f"no component {custom_id!r} on message {msg.id}: {msg.custom_ids()}")
        if comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] in SELECT_TYPES:
            res = Resolved(self.state, guild, channel)
            picked: list[str] = []
            for value in values or []:
                if isinstance(value, (FakeMember, FakeUser)):
                    picked.append(res.user(value))
                elif isinstance(value, FakeRole):
                    picked.append(res.role(value))
                elif isinstance(value, FakeChannel):
                    picked.append(res.channel_(value))
                else:
                    picked.append(str(value))
            data["values"] = picked
            if res.data:
                data["resolved"] = res.data
        rec = new_interaction(self.state, itype=COMPONENT, guild=guild, channel=channel,
                              member=self._member(guild, member), data=data, message=msg,
                              locale=locale)
        return await self._dispatch(rec)

    async def submit_modal(
        self,
        opened_by: InteractionHandle,
        values: dict[str, Any],
        *,
        member: FakeMember | FakeUser | None = None,
    ) -> InteractionHandle:
        """Dispatch MODAL_SUBMIT for the modal the bot opened in response to ``opened_by``."""
        modal = opened_by.modal
        if modal is None:
            raise ValueError(f"{opened_by!r} did not respond with a modal")
        rec0 = opened_by.record
        channel = self.state.channels[rec0.channel_id]
        guild = self.state.guilds[channel.guild_id]
        data = {"custom_id": modal["custom_id"],
                "components": modal_submit_components(modal.get("components", []), values)}
        source = self.state.messages.get(rec0.source_message_id or 0)
        rec = new_interaction(self.state, itype=MODAL_SUBMIT, guild=guild, channel=channel,
                              member=self._member(guild, member or rec0.user), data=data,
                              message=source)
        return await self._dispatch(rec)

    async def post_message(
        self,
        channel: FakeChannel,
        author: FakeMember | FakeUser,
        content: str = "",
        *,
        attachments: Sequence[Upload | tuple[str, bytes]] = (),
        embeds: list[dict[str, Any]] | None = None,
        reply_to: StoredMessage | None = None,
    ) -> StoredMessage:
        """A user posts a message (dispatched as MESSAGE_CREATE)."""
        user = author.user if isinstance(author, FakeMember) else author
        uploads: dict[int, tuple[str, bytes]] = {}
        for i, up in enumerate(attachments):
            uploads[i] = (up.filename, up.data) if isinstance(up, Upload) else (up[0], up[1])
        body: dict[str, Any] = {"content": content, "embeds": embeds or []}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to.id),
                                         "channel_id": str(reply_to.channel_id),
                                         "guild_id": str(reply_to.guild_id), "type": 0}
        msg, _ = self.state.create_message(channel, user, body, uploads,
                                           msg_type=19 if reply_to else 0)
        await self.state.dispatch("MESSAGE_CREATE", self.state.message_payload(msg, gateway=True))
        return msg
