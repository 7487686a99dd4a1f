"""Streams and their prompt pools, as the services and cogs see them. Pure value objects."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """One prompt (template) of a channel's stream pool."""

    id: int
    guild_id: int
    channel_id: int
    prompt: str
    added_by: int | None
    added_at: float


@dataclass(frozen=True, slots=True)
class Stream:
    """A channel that generates on its own; stopped streams keep their row and reason."""

    guild_id: int
    channel_id: int
    every: float
    running: bool
    started_by: int | None
    started_at: float
    last_image_at: float | None = None
    stopped_at: float | None = None
    stop_reason: str | None = None
