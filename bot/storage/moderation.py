"""Moderation's tables: blocklists, server settings, quota exemptions, denied members, the audit
log, and the reads of the jobs table that quotas and ``/mod recent`` need."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiosqlite

from bot.domain.jobs import Job
from bot.domain.moderation import Actor, AuditEntry, Denial
from bot.domain.quotas import QuotaLimits
from bot.domain.scheduling import PRIORITY_PERSON
from bot.storage.database import Database
from bot.storage.jobs import _COLUMNS, _job_from_row


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A blocklist rule as stored: its key, its text as typed, who added it and when."""

    guild_id: int
    key: str
    text: str
    added_by: int | None
    added_at: float


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """A server's stored settings (None quotas: the config's defaults)."""

    guild_id: int
    quotas: QuotaLimits | None = None
    nsfw_allowed: bool = False
    default_blocklist: bool = True


@dataclass
class GuildRecords:
    """Everything stored about one server's moderation, as loaded at start."""

    rules: list[StoredRule] = field(default_factory=list)
    settings: GuildSettings | None = None
    exempt_roles: set[int] = field(default_factory=set)
    denied: dict[int, Denial] = field(default_factory=dict)


def _denial(row: aiosqlite.Row) -> Denial:
    return Denial(guild_id=row["guild_id"], user_id=row["user_id"], reason=row["reason"],
                  until=row["until"], by=Actor(row["by_id"], row["by_name"]),
                  at=row["denied_at"])


def _settings(row: aiosqlite.Row) -> GuildSettings:
    quotas = None
    if any(row[name] is not None for name in ("per_minute", "per_hour", "per_day")):
        quotas = QuotaLimits(per_minute=row["per_minute"] or 0, per_hour=row["per_hour"] or 0,
                             per_day=row["per_day"] or 0)
    return GuildSettings(row["guild_id"], quotas, bool(row["nsfw_allowed"]),
                         bool(row["default_blocklist"]))


class ModerationRepository:
    """Moderation state in SQLite, as domain objects."""

    def __init__(self, database: Database) -> None:
        self._db = database.connection

    # -- loading everything at start ---------------------------------------------------------

    async def load(self) -> dict[int, GuildRecords]:
        """Every server's rules, settings, exemptions and denials."""
        guilds: dict[int, GuildRecords] = {}

        def records(guild_id: int) -> GuildRecords:
            return guilds.setdefault(guild_id, GuildRecords())

        async with self._db.execute("SELECT * FROM blocklist_rules ORDER BY added_at, rowid"
                                    ) as cursor:
            async for row in cursor:
                records(row["guild_id"]).rules.append(
                    StoredRule(row["guild_id"], row["rule_key"], row["rule"], row["added_by"],
                               row["added_at"]))
        async with self._db.execute("SELECT * FROM guild_settings") as cursor:
            async for row in cursor:
                records(row["guild_id"]).settings = _settings(row)
        async with self._db.execute("SELECT guild_id, role_id FROM quota_exemptions") as cursor:
            async for row in cursor:
                records(row["guild_id"]).exempt_roles.add(row["role_id"])
        async with self._db.execute("SELECT * FROM denied_members") as cursor:
            async for row in cursor:
                records(row["guild_id"]).denied[row["user_id"]] = _denial(row)
        return guilds

    async def recent_requests(self, since: float) -> list[tuple[int | None, int, float]]:
        """(server, person, created_at) of every person's job since ``since``, oldest first."""
        async with self._db.execute(
                "SELECT guild_id, user_id, created_at FROM jobs WHERE created_at > ? "
                "AND user_id IS NOT NULL AND priority >= ? ORDER BY created_at",
                (since, PRIORITY_PERSON)) as cursor:
            return [(row[0], row[1], row[2]) async for row in cursor]

    # -- blocklists --------------------------------------------------------------------------

    async def add_rule(self, guild_id: int, key: str, text: str, added_by: int | None) -> bool:
        """Store a rule; False if a rule with this key is already there."""
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO blocklist_rules (guild_id, rule_key, rule, added_by, "
            "added_at) VALUES (?, ?, ?, ?, ?)", (guild_id, key, text, added_by, time.time()))
        await self._db.commit()
        return cursor.rowcount > 0

    async def remove_rule(self, guild_id: int, key: str) -> bool:
        """Remove a rule by its key; False if there was none."""
        cursor = await self._db.execute(
            "DELETE FROM blocklist_rules WHERE guild_id = ? AND rule_key = ?", (guild_id, key))
        await self._db.commit()
        return cursor.rowcount > 0

    # -- settings ------------------------------------------------------------------------------

    async def save_settings(self, settings: GuildSettings) -> None:
        """Store a server's settings (replacing what was there)."""
        quotas = settings.quotas
        await self._db.execute(
            "INSERT INTO guild_settings (guild_id, per_minute, per_hour, per_day, nsfw_allowed, "
            "default_blocklist, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(guild_id) DO UPDATE SET per_minute = excluded.per_minute, "
            "per_hour = excluded.per_hour, per_day = excluded.per_day, "
            "nsfw_allowed = excluded.nsfw_allowed, "
            "default_blocklist = excluded.default_blocklist, updated_at = excluded.updated_at",
            (settings.guild_id, quotas.per_minute if quotas else None,
             quotas.per_hour if quotas else None, quotas.per_day if quotas else None,
             int(settings.nsfw_allowed), int(settings.default_blocklist), time.time()))
        await self._db.commit()

    async def set_exempt(self, guild_id: int, role_id: int, exempt: bool,
                         added_by: int | None) -> bool:
        """Exempt a role from quotas (or not); False if nothing changed."""
        if exempt:
            cursor = await self._db.execute(
                "INSERT OR IGNORE INTO quota_exemptions (guild_id, role_id, added_by, added_at) "
                "VALUES (?, ?, ?, ?)", (guild_id, role_id, added_by, time.time()))
        else:
            cursor = await self._db.execute(
                "DELETE FROM quota_exemptions WHERE guild_id = ? AND role_id = ?",
                (guild_id, role_id))
        await self._db.commit()
        return cursor.rowcount > 0

    # -- denied members -------------------------------------------------------------------------

    async def deny(self, denial: Denial) -> None:
        """Store a denial (replacing an earlier one of the same member)."""
        await self._db.execute(
            "INSERT OR REPLACE INTO denied_members (guild_id, user_id, reason, until, by_id, "
            "by_name, denied_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (denial.guild_id, denial.user_id, denial.reason, denial.until, denial.by.user_id,
             denial.by.name, denial.at))
        await self._db.commit()

    async def allow(self, guild_id: int, user_id: int) -> bool:
        """Remove a member's denial; False if there was none."""
        cursor = await self._db.execute(
            "DELETE FROM denied_members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
        await self._db.commit()
        return cursor.rowcount > 0

    # -- the audit log --------------------------------------------------------------------------

    async def audit(self, guild_id: int | None, actor: Actor, action: str, *, target: str = "",
                    detail: str = "") -> AuditEntry:
        """Record one moderator action."""
        at = time.time()
        cursor = await self._db.execute(
            "INSERT INTO audit_log (guild_id, at, actor_id, actor_name, action, target, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (guild_id, at, actor.user_id, actor.name, action, target, detail))
        await self._db.commit()
        assert cursor.lastrowid is not None
        return AuditEntry(cursor.lastrowid, guild_id, at, actor, action, target, detail)

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        """A server's latest moderator actions, newest first."""
        async with self._db.execute(
                "SELECT * FROM audit_log WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
                (guild_id, limit)) as cursor:
            return [AuditEntry(row["id"], row["guild_id"], row["at"],
                               Actor(row["actor_id"], row["actor_name"]), row["action"],
                               row["target"], row["detail"]) async for row in cursor]

    # -- jobs ------------------------------------------------------------------------------------

    async def recent_jobs(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        """A person's latest requests in a server, newest first."""
        async with self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE guild_id = ? AND user_id = ? "
                "ORDER BY created_at DESC, id DESC LIMIT ?", (guild_id, user_id, limit)
        ) as cursor:
            return [_job_from_row(row) async for row in cursor]
