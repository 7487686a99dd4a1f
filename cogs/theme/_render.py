"""Texts of the /theme answers. Pure: no discord import.

Theme words and user names are user text: escaped (shown as typed, never as markdown or a
mention) and, when a reply would pass Discord's 2000 characters, the longest trimmed first.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.channel_theme import ChannelTheme, ThemeChange
from bot.domain.recipe import SCHEDULERS
from bot.domain.themes import Theme
from bot.render.texts import Segment, UserText, clip_escaped, escape, fit, join_lines


def theme_segments(theme: Theme) -> list[Segment]:
    """The theme's parts, one a line, ready for ``fit``."""
    segments: list[Segment] = ["**Prefix:** ", UserText(theme.prefix)]
    if theme.suffix:
        segments += ["\n**Suffix:** ", UserText(theme.suffix)]
    if theme.negative:
        segments += ["\n**Negative:** ", UserText(theme.negative)]
    locked = theme.locked()
    if locked:
        shown = ", ".join(
            f"{key} {SCHEDULERS.get(str(value), value) if key == 'scheduler' else value}"
            for key, value in locked.items())
        segments.append(f"\n**Locked:** {shown}")
    if theme.model:
        segments += ["\n**Model:** ", UserText(theme.model, 100)]
    return segments


def theme_text(head: str, theme: Theme, *tail: str) -> str:
    """``head``, the theme's parts and ``tail`` lines, fitted to one message."""
    return fit([head, "\n", *theme_segments(theme), *(f"\n{line}" for line in tail)])


def summary(theme: Theme | None) -> str:
    """One line: the preset's name or the prefix/suffix ("none" for no theme), escaped."""
    if theme is None:
        return "none"
    words = " … ".join(part for part in (theme.prefix, theme.suffix) if part)
    return clip_escaped(f"{theme.name + ': ' if theme.name else ''}{words}", 300)


def when(timestamp: float) -> str:
    """A Discord timestamp every reader sees in their own time zone."""
    return f"<t:{int(timestamp)}:f> (<t:{int(timestamp)}:R>)"


def who(user_id: int | None, name: str) -> str:
    """A mention, or the (escaped) name when there is no user."""
    return f"<@{user_id}>" if user_id else (clip_escaped(name, 100) or "someone")


def show_text(row: ChannelTheme | None, *, inherited: bool, stream_running: bool) -> str:
    """The /theme show answer."""
    if row is None:
        return "This channel has no theme. Moderators can set one with /theme set or /theme preset."
    head = f"🎨 This channel's theme{' (inherited from its parent channel)' if inherited else ''}"
    if row.theme.name:
        head += f": preset **{escape(row.theme.name)}**"
    tail = [f"Set by {who(row.set_by, row.set_by_name)} on {when(row.set_at)}."]
    if stream_running:
        tail.append("🌊 A stream is running here (/stream status).")
    return theme_text(head, row.theme, *tail)


def list_text(rows: Sequence[ChannelTheme]) -> str:
    """The /theme list answer: every themed channel with a jump link."""
    if not rows:
        return "No channel of this server has a theme yet."
    lines = [f"🎨 Themed channels ({len(rows)}):"]
    lines += [f"• <#{row.channel_id}> — {summary(row.theme)}" for row in rows]
    return join_lines(lines)


def history_text(changes: Sequence[ThemeChange]) -> str:
    """The /theme history answer, newest first."""
    if not changes:
        return "This channel's theme was never changed."
    lines = ["🕘 Theme changes in this channel, newest first:"]
    for change in changes:
        lines.append(f"• {when(change.changed_at)} by {who(change.user_id, change.user_name)}: "
                     f"{summary(change.old)} → {summary(change.new)}")
    return join_lines(lines)
