"""What moderators read: the blocklist, the audit log, a member's recent requests, quotas."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.blocklist import BlockRule
from bot.domain.jobs import Job
from bot.domain.moderation import AuditEntry, Denial, quoted
from bot.domain.quotas import QuotaLimits, wait_text
from bot.render.texts import DISCORD_MESSAGE_LIMIT, clip_escaped, join_lines

LIST_PREVIEW = 1500  # room left for the heading and the "… and N more" line


def blocklist_text(rules: Sequence[BlockRule], defaults: Sequence[BlockRule] | None) -> str:
    """The server's rules (whole lines while they fit) and whether the default list applies."""
    if defaults is None:
        tail = "The operator's default list is off here."
    elif defaults:
        tail = f"The operator's default list ({len(defaults)} rules) applies too."
    else:
        tail = ""
    if not rules:
        head = "This server's blocklist is empty. /blocklist add rule:… adds a word, a phrase " \
               "or re:pattern."
        return "\n".join(part for part in (head, tail) if part)
    lines = [f"{quoted(rule.text)}" for rule in rules]
    body = join_lines(lines, LIST_PREVIEW, more="… and {count} more (all in the file)")
    return "\n".join(part for part in (f"**Blocklist** ({len(rules)} rules):", body, tail)
                     if part)


def blocklist_file(rules: Sequence[BlockRule]) -> str:
    """Every rule, one a line, as typed (the attachment sent when the list is long)."""
    return "\n".join(rule.text for rule in rules) + "\n"


def quota_text(limits: QuotaLimits, changed: bool = True) -> str:
    """A server's limits."""
    lead = "Quotas here are now" if changed else "Quotas here are"
    return f"{lead}: {limits.describe()} per person."


def denial_text(name: str, denial: Denial, now: float) -> str:
    """Confirmation of a denial."""
    span = ("until a moderator allows them again" if denial.until is None
            else f"for {wait_text(denial.until - now)}")
    reason = f" Reason: {quoted(denial.reason, 300)}." if denial.reason else ""
    return f"⛔ {clip_escaped(name, 100)} may not make images here {span}.{reason}"


def _jump(job: Job) -> str:
    requester = job.requester
    message = job.message_id or job.status_message_id
    if requester.guild_id is None or requester.channel_id is None or message is None:
        return ""
    return (f" · [jump](https://discord.com/channels/{requester.guild_id}/"
            f"{requester.channel_id}/{message})")


def recent_text(name: str, jobs: Sequence[Job]) -> str:
    """A member's latest requests with links to their messages."""
    if not jobs:
        return f"{clip_escaped(name, 100)} has made no requests here."
    lines = [f"`#{job.id}` <t:{int(job.created_at)}:R> · {job.state.value} · "
             f"{clip_escaped(job.recipe.user_prompt or job.recipe.prompt, 120)}{_jump(job)}"
             for job in jobs]
    head = f"**Latest requests of {clip_escaped(name, 100)}:**"
    return f"{head}\n{join_lines(lines, DISCORD_MESSAGE_LIMIT - len(head) - 1)}"


def log_text(entries: Sequence[AuditEntry]) -> str:
    """The latest moderator actions, newest first."""
    if not entries:
        return "No moderator actions are recorded for this server yet."
    lines = []
    for entry in entries:
        target = f" {clip_escaped(entry.target, 120)}" if entry.target else ""
        detail = f" — {quoted(entry.detail, 200)}" if entry.detail else ""
        lines.append(f"<t:{int(entry.at)}:f> **{clip_escaped(entry.actor.name, 80)}** "
                     f"{entry.action}{target}{detail}")
    head = "**Moderator log** (newest first):"
    return f"{head}\n{join_lines(lines, DISCORD_MESSAGE_LIMIT - len(head) - 1)}"
