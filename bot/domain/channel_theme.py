"""A channel's theme with who set it, and the audit trail of changes. Pure value objects."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.themes import Theme


@dataclass(frozen=True, slots=True)
class ChannelTheme:
    """A channel's theme, who set it and when."""

    guild_id: int
    channel_id: int
    theme: Theme
    set_by: int | None
    set_by_name: str
    set_at: float


@dataclass(frozen=True, slots=True)
class ThemeChange:
    """One row of a channel's theme history (None = no theme)."""

    id: int
    guild_id: int
    channel_id: int
    user_id: int | None
    user_name: str
    changed_at: float
    old: Theme | None
    new: Theme | None
