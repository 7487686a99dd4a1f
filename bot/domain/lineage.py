"""Where a job came from: links to its parents, the groups it belongs to, stored input images.

Pure value objects. A job may have several parents (a morph has two), each link with a kind;
a group (a 2×2 grid, a morph's frames, a style grid, later a party) orders its member jobs and
has a message of its own. Input images (an uploaded sketch, a mask, a parent's result used as
the start of a variation) live in the attachments store, named by the SHA-256 of their bytes, so
a recipe that refers to one can be re-run after a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain.errors import ValidationError


class LinkKind(StrEnum):
    """How a child job came from a parent job."""

    REROLL = "reroll"
    VARIATION = "variation"
    UPSCALE = "upscale"
    ZOOM = "zoom"
    REMIX = "remix"
    MORPH = "morph"
    CELL = "cell"
    REFINE = "refine"


class GroupKind(StrEnum):
    """What a group of jobs is."""

    GRID = "grid"
    MORPH = "morph"
    STYLES = "styles"
    XY = "xy"
    PARTY = "party"


@dataclass(frozen=True, slots=True)
class Link:
    """One parent of a job: which job, how the child came from it, and its place among the
    parents (a morph's ``from`` is 0, its ``to`` is 1)."""

    parent_id: int
    kind: LinkKind
    position: int = 0


@dataclass(frozen=True, slots=True)
class JobGroup:
    """Jobs that belong together, in order, with the group's own message."""

    id: int
    kind: GroupKind
    created_at: float
    guild_id: int | None = None
    channel_id: int | None = None
    created_by: int | None = None
    title: str = ""
    members: tuple[int, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    status_message_id: int | None = None
    message_id: int | None = None


# -- attachments ------------------------------------------------------------------------------

ATTACHMENT_PREFIX = "sha256:"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


@dataclass(frozen=True, slots=True)
class Attachment:
    """An input image kept by content: its digest, type, size in bytes and dimensions."""

    digest: str
    mime: str
    size: int
    width: int
    height: int
    path: str  # relative to the attachments folder

    @property
    def ref(self) -> str:
        """How a recipe refers to this image (``sha256:<hex>``)."""
        return f"{ATTACHMENT_PREFIX}{self.digest}"


def is_attachment_ref(value: str | None) -> bool:
    """Whether a recipe's image field names a stored attachment (not a file path)."""
    return bool(value) and str(value).startswith(ATTACHMENT_PREFIX)


def digest_of_ref(ref: str) -> str:
    """The hex digest in a ``sha256:<hex>`` reference; ValidationError for anything else."""
    digest = ref[len(ATTACHMENT_PREFIX):] if ref.startswith(ATTACHMENT_PREFIX) else ""
    if not _DIGEST.match(digest):
        raise ValidationError(f"an attachment reference must be sha256:<64 hex digits>, "
                              f"got {ref[:80]!r}")
    return digest
