"""Texts that show the queue: `/queue` for members, `/queue all` and the CLI for admins."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.jobs import QueueEntry
from bot.render.texts import (
    DISCORD_MESSAGE_LIMIT,
    clip,
    clip_escaped,
    join_lines,
    position_text,
)


def _where(entry: QueueEntry) -> str:
    return "generating now" if entry.position == 0 else position_text(entry.position, entry.eta)


def member_view(entries: Sequence[QueueEntry], total: int) -> str:
    """A member's own jobs (``/queue``)."""
    if not entries:
        return f"You have nothing in the queue. Jobs waiting or running: {total}."
    # Prompts are user text: escaped (a prompt is shown as typed, never as markdown).
    lines = [f"`#{e.job.id}` {clip_escaped(e.job.recipe.prompt, 80)} — {_where(e)}"
             for e in entries]
    tail = f"\nJobs waiting or running in total: {total}."
    return join_lines(lines, DISCORD_MESSAGE_LIMIT - len(tail)) + tail


def moderator_view(entries: Sequence[QueueEntry]) -> str:
    """Every waiting job with user, channel, place and attempts (``/queue all``)."""
    if not entries:
        return "The queue is empty."
    lines = []
    for entry in entries:
        requester = entry.job.requester
        who = (f"<@{requester.user_id}>" if requester.user_id
               else clip_escaped(requester.user_name, 40))
        where = f" in <#{requester.channel_id}>" if requester.channel_id else ""
        lines.append(f"`#{entry.job.id}` {who}{where} — {_where(entry)}, attempts "
                     f"{entry.job.attempts} — {clip_escaped(entry.job.recipe.prompt, 60)}")
    # The count line stays: the jobs that do not fit are counted instead of cut mid-line.
    tail = f"\n{len(entries)} job(s). Cancel any with `/cancel job:<number>`."
    return join_lines(lines, DISCORD_MESSAGE_LIMIT - len(tail)) + tail


def table_view(entries: Sequence[QueueEntry]) -> str:
    """A plain-text table for the ``neurostream queue`` command."""
    header = ("job", "state", "place", "source", "user", "channel", "attempts", "prompt")
    rows = [header]
    for entry in entries:
        job = entry.job
        rows.append((str(job.id), job.state.value, "now" if entry.position == 0
                     else str(entry.position), job.requester.source,
                     str(job.requester.user_id or job.requester.user_name),
                     str(job.requester.channel_id or "-"), str(job.attempts),
                     clip(job.recipe.prompt, 50)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
             + "  " + row[-1] for row in rows]
    return "\n".join(lines) if entries else "The queue is empty."
