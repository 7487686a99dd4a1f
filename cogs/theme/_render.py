"""Texts of the /theme answers. Pure: no discord import."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.recipe import SCHEDULERS
from bot.domain.themes import Theme
from bot.render.texts import clip
from bot.storage.themes import ChannelTheme, ThemeChange


def theme_lines(theme: Theme) -> list[str]:
    """The theme's parts, one a line."""
    lines = [f"**Prefix:** {theme.prefix}"]
    if theme.suffix:
        lines.append(f"**Suffix:** {theme.suffix}")
    if theme.negative:
        lines.append(f"**Negative:** {theme.negative}")
    locked = theme.locked()
    if locked:
        shown = ", ".join(
            f"{key} {SCHEDULERS.get(str(value), value) if key == 'scheduler' else value}"
            for key, value in locked.items())
        lines.append(f"**Locked:** {shown}")
    return lines


def summary(theme: Theme | None) -> str:
    """One line: the preset's name or the prefix/suffix ("none" for no theme)."""
    if theme is None:
        return "none"
    words = " … ".join(part for part in (theme.prefix, theme.suffix) if part)
    return clip(f"{theme.name + ': ' if theme.name else ''}{words}", 300)


def when(timestamp: float) -> str:
    """A Discord timestamp every reader sees in their own time zone."""
    return f"<t:{int(timestamp)}:f> (<t:{int(timestamp)}:R>)"


def who(user_id: int | None, name: str) -> str:
    """A mention, or the name when there is no user."""
    return f"<@{user_id}>" if user_id else (name or "someone")


def show_text(row: ChannelTheme | None, *, inherited: bool, stream_running: bool) -> str:
    """The /theme show answer."""
    if row is None:
        return "This channel has no theme. Moderators can set one with /theme set or /theme preset."
    head = f"🎨 This channel's theme{' (inherited from its parent channel)' if inherited else ''}"
    if row.theme.name:
        head += f": preset **{row.theme.name}**"
    lines = [head, *theme_lines(row.theme),
             f"Set by {who(row.set_by, row.set_by_name)} on {when(row.set_at)}."]
    if stream_running:
        lines.append("🌊 A stream is running here (/stream status).")
    return clip("\n".join(lines))


def list_text(rows: Sequence[ChannelTheme]) -> str:
    """The /theme list answer: every themed channel with a jump link."""
    if not rows:
        return "No channel of this server has a theme yet."
    lines = [f"🎨 Themed channels ({len(rows)}):"]
    lines += [f"• <#{row.channel_id}> — {summary(row.theme)}" for row in rows]
    return clip("\n".join(lines))


def history_text(changes: Sequence[ThemeChange]) -> str:
    """The /theme history answer, newest first."""
    if not changes:
        return "This channel's theme was never changed."
    lines = ["🕘 Theme changes in this channel, newest first:"]
    for change in changes:
        lines.append(f"• {when(change.changed_at)} by {who(change.user_id, change.user_name)}: "
                     f"{summary(change.old)} → {summary(change.new)}")
    return clip("\n".join(lines))
