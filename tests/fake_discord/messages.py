"""Message and attachment storage: creation, edits, nonces, attachments and mentions."""

from __future__ import annotations

import re
import secrets
from typing import Any

from .models import (
    FLAG_EPHEMERAL,
    Clock,
    FakeChannel,
    FakeUser,
    InteractionRecord,
    SnowflakeGenerator,
    StoredAttachment,
    StoredMessage,
    iso_now,
)
from .payloads import guess_content_type, image_size

NONCE_WINDOW_S = 300.0
USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EDITABLE_FIELDS = ("content", "embeds", "components", "flags")


class MessageStore:
    """Mixin of FakeState holding messages and uploaded files."""

    snowflakes: SnowflakeGenerator
    clock: Clock
    application_id: int
    cdn_base: str
    messages: dict[int, StoredMessage]
    attachments: dict[int, StoredAttachment]
    _nonces: dict[tuple[int, str], tuple[int, float]]

    def message_payload(self, msg: StoredMessage, *, gateway: bool = False) -> dict[str, Any]:
        """Message JSON (implemented by FakeState)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- attachments
    def store_attachment(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        description: str | None = None,
        ephemeral: bool = False,
        url_prefix: str | None = None,
    ) -> StoredAttachment:
        """Keep uploaded bytes and give them a URL on the fake's CDN route."""
        aid = self.snowflakes.next()
        filename = re.sub(r"[^\w.\-]", "_", filename) or "unknown"
        ctype = content_type
        if not ctype or ctype == "application/octet-stream":
            ctype = guess_content_type(filename, data)
        size = image_size(data)
        ex = secrets.token_hex(4)
        att = StoredAttachment(
            id=aid, filename=filename, data=data, content_type=ctype,
            url=f"{self.cdn_base}/{url_prefix or f'attachments/{channel_id}'}/{aid}/{filename}"
            f"?ex={ex}&is={ex}&hm=0",
            description=description, width=size[0] if size else None,
            height=size[1] if size else None, ephemeral=ephemeral,
        )
        self.attachments[aid] = att
        return att

    def _resolve_attachments(
        self,
        msg: StoredMessage,
        spec: list[dict[str, Any]] | None,
        uploads: dict[int, tuple[str, bytes]],
    ) -> list[StoredAttachment]:
        """Compute a message's attachment list from the `attachments` field and file parts."""
        existing = {str(a.id): a for a in msg.attachments}
        result: list[StoredAttachment] = []
        used: set[int] = set()
        if spec is None:
            result = list(msg.attachments)
        else:
            for item in spec:
                key = str(item.get("id"))
                if key in existing:
                    result.append(existing[key])
                elif key.isdigit() and int(key) in uploads:
                    fname, data = uploads[int(key)]
                    used.add(int(key))
                    result.append(self.store_attachment(
                        msg.channel_id, item.get("filename") or fname, data,
                        description=item.get("description"), ephemeral=msg.is_ephemeral,
                    ))
        for index in sorted(set(uploads) - used):
            fname, data = uploads[index]
            result.append(
                self.store_attachment(msg.channel_id, fname, data, ephemeral=msg.is_ephemeral)
            )
        return result

    # ----------------------------------------------------------------- messages
    def create_message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        body: dict[str, Any],
        uploads: dict[int, tuple[str, bytes]] | None = None,
        *,
        allow_ephemeral: bool = False,
        msg_type: int = 0,
        webhook_id: int | None = None,
        interaction: InteractionRecord | None = None,
    ) -> tuple[StoredMessage, bool]:
        """Create a message (or return the earlier one for a repeated enforced nonce)."""
        nonce = body.get("nonce")
        nonce = str(nonce) if nonce is not None else None
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get((author.id, nonce))
            if seen and self.clock.now() - seen[1] < NONCE_WINDOW_S and seen[0] in self.messages:
                return self.messages[seen[0]], False
        flags = int(body.get("flags") or 0)
        if not allow_ephemeral:
            flags &= ~FLAG_EPHEMERAL
        msg = StoredMessage(
            id=self.snowflakes.next(), channel_id=channel.id, guild_id=channel.guild_id,
            author=author, flags=flags, type=msg_type, tts=bool(body.get("tts")), nonce=nonce,
            webhook_id=webhook_id, message_reference=body.get("message_reference"),
        )
        if interaction is not None:
            msg.application_id = self.application_id
            msg.interaction_id = interaction.id
            msg.interaction_meta = _interaction_meta(interaction)
        self._apply_body(msg, body, uploads or {})
        self.messages[msg.id] = msg
        if not msg.is_ephemeral:
            channel.last_message_id = msg.id
        if nonce is not None:
            self._nonces[(author.id, nonce)] = (msg.id, self.clock.now())
        return msg, True

    def edit_message(
        self,
        msg: StoredMessage,
        body: dict[str, Any],
        uploads: dict[int, tuple[str, bytes]] | None = None,
        *,
        keep_ephemeral: bool = True,
    ) -> StoredMessage:
        """Apply a PATCH body to a message, remembering its previous state."""
        msg.history.append(self.message_payload(msg))
        if "flags" in body and keep_ephemeral:
            body = dict(body)
            body["flags"] = int(body["flags"] or 0) | (msg.flags & FLAG_EPHEMERAL)
        self._apply_body(msg, body, uploads or {})
        msg.edited_timestamp = iso_now()
        return msg

    def _apply_body(
        self, msg: StoredMessage, body: dict[str, Any], uploads: dict[int, tuple[str, bytes]]
    ) -> None:
        """Copy content/embeds/components/attachments/mentions from a request body."""
        for key in EDITABLE_FIELDS:
            if key in body:
                value = body[key]
                if key == "content":
                    value = value or ""
                elif key == "flags":
                    value = int(value or 0)
                else:
                    value = list(value or [])
                setattr(msg, key, value)
        if "attachments" in body or uploads:
            msg.attachments = self._resolve_attachments(msg, body.get("attachments"), uploads)
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        self._apply_mentions(msg)

    def _apply_mentions(self, msg: StoredMessage) -> None:
        """Record the mentions that allowed_mentions lets through."""
        allowed = msg.allowed_mentions
        parse = set(allowed.get("parse", [])) if allowed else {"users", "roles", "everyone"}
        allowed_users = {int(u) for u in (allowed or {}).get("users", [])}
        allowed_roles = {int(r) for r in (allowed or {}).get("roles", [])}
        users = [int(u) for u in USER_MENTION.findall(msg.content)]
        roles = [int(r) for r in ROLE_MENTION.findall(msg.content)]
        msg.mentions = [u for u in dict.fromkeys(users) if "users" in parse or u in allowed_users]
        msg.mention_roles = [
            r for r in dict.fromkeys(roles) if "roles" in parse or r in allowed_roles
        ]
        msg.mention_everyone = "everyone" in parse and bool(
            re.search(r"@(everyone|here)", msg.content)
        )
        ref = msg.message_reference
        replied = (allowed or {}).get("replied_user", True)
        if ref and replied and ref.get("message_id"):
            target = self.messages.get(int(ref["message_id"]))
            if target is not None and target.author.id not in msg.mentions:
                msg.mentions.append(target.author.id)

    def delete_message(self, msg: StoredMessage) -> None:
        """Mark a message deleted (kept for assertions)."""
        msg.deleted = True


def _interaction_meta(rec: InteractionRecord) -> dict[str, Any]:
    """interaction_metadata for messages created in response to an interaction."""
    meta: dict[str, Any] = {
        "id": str(rec.id),
        "type": rec.type,
        "user": {"id": str(rec.user.id), "username": rec.user.username, "discriminator": "0",
                 "global_name": rec.user.global_name, "avatar": None, "public_flags": 0},
        "authorizing_integration_owners": {"0": str(rec.guild_id)} if rec.guild_id else {},
        "name": (rec.payload.get("data") or {}).get("name", ""),
    }
    if rec.original_message_id is not None:
        meta["original_response_message_id"] = str(rec.original_message_id)
    if rec.source_message_id is not None:
        meta["interacted_message_id"] = str(rec.source_message_id)
    return meta
