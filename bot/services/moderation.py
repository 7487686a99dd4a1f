"""Moderation: each server's blocklist, quotas, denied members and safety setting, the audit log
of every moderator action, and what ``/about`` says.

The request rules (``rules()``) read an in-memory snapshot (``Policies``) loaded at start and
replaced on every change, so they stay pure and cheap on the request path. Quota windows are
counted from the jobs table at start and kept current as each job is recorded
(``note_job``, called by the generation service), so a restart resets nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot import __version__
from bot.domain.blocklist import Blocklist, BlockRule, parse_rule, probe_texts
from bot.domain.errors import ConfigError, UserError, ValidationError
from bot.domain.jobs import Job
from bot.domain.moderation import (
    About,
    Action,
    Actor,
    AuditEntry,
    Blocklists,
    Denial,
    DeniedMembers,
    GuildPolicy,
    Policies,
    Quotas,
    ServerRules,
    check_reason,
    licence_for,
    parse_span,
    quoted,
)
from bot.domain.quotas import HORIZON, QuotaLimits
from bot.domain.rules import RequestRule
from bot.domain.scheduling import PRIORITY_PERSON
from bot.storage.database import Database
from bot.storage.moderation import GuildSettings, ModerationRepository

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.services.generation import GenerationService

log = logging.getLogger(__name__)

BLOCKLIST_MAX_RULES = 2000
# The timed check of a regex: each adversarial text must be searched within PROBE_BUDGET s
# (the best of three tries, so a busy machine does not refuse a good pattern), and the whole
# check must end within PROBE_TIMEOUT s, else the process is killed and the pattern refused.
PROBE_BUDGET = 0.05
PROBE_TIMEOUT = 5.0
_PROBE_SCRIPT = """
import json, re, sys, time
data = json.load(sys.stdin)
pattern = re.compile(data["pattern"])
slowest = 0.0
for text in data["texts"]:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        pattern.search(text)
        best = min(best, time.perf_counter() - start)
        if best <= data["budget"]:
            break
    slowest = max(slowest, best)
    if slowest > data["budget"]:
        break
print(json.dumps({"slowest": slowest}))
"""


async def probe_regex(rule: BlockRule, length: int, *, budget: float = PROBE_BUDGET,
                      time_limit: float = PROBE_TIMEOUT) -> None:
    """Refuse (ValidationError) a regex that is slow on adversarial texts of ``length`` chars.

    Python's ``re`` cannot be interrupted and holds the GIL, so the search runs in a child
    process that is killed when it passes ``time_limit`` seconds.
    """
    assert rule.pattern is not None
    source = rule.pattern.pattern
    payload = json.dumps({"pattern": source, "texts": probe_texts(source, length),
                          "budget": budget}).encode()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-S", "-c", _PROBE_SCRIPT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(payload), time_limit)
    except TimeoutError:
        slowest = None
    else:
        if process.returncode != 0:
            log.warning("regex probe failed for %r: %s", source, err.decode(errors="replace"))
            raise ValidationError(f"rule {quoted(rule.text)} could not be checked; try a "
                                  "simpler pattern")
        slowest = float(json.loads(out)["slowest"])
        if slowest <= budget:
            return
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    took = f"more than {time_limit:g} s" if slowest is None else f"{slowest * 1000:.0f} ms"
    raise ValidationError(f"rule {quoted(rule.text)} was refused: it took {took} on a "
                          f"{length}-character test prompt (it backtracks catastrophically); "
                          "write it with fewer nested or overlapping repetitions")


class ModerationService:
    """Server moderation state, its rules on the request path, and the audit log."""

    def __init__(self, repository: ModerationRepository, *, default_quotas: QuotaLimits,
                 default_blocklist: Sequence[str] = (), probe_length: int = 1000,
                 probe_time_limit: float = PROBE_TIMEOUT,
                 model_id: Callable[[], str] = lambda: "tiny", model_family: str = "",
                 model_licence: str = "", source_url: str = "") -> None:
        self._repo = repository
        self._default_texts = tuple(default_blocklist)
        self.policies = Policies(default_quotas=default_quotas)
        self._rules: dict[int, dict[str, BlockRule]] = {}
        self._settings: dict[int, GuildSettings] = {}
        self._probe_length = probe_length
        self._probe_time_limit = probe_time_limit
        self._model_id = model_id
        self._model_family = model_family
        self._model_licence = model_licence
        self._source_url = source_url

    # -- start-up --------------------------------------------------------------------------

    async def load(self, now: float | None = None) -> None:
        """Load every server's state and count recent requests from the jobs table."""
        now = time.time() if now is None else now
        defaults = []
        for text in self._default_texts:
            try:
                rule = parse_rule(text)
                if rule.is_regex:
                    await self._probe(rule)
            except UserError as error:
                raise ConfigError(f"config: moderation.default_blocklist: {error}") from None
            defaults.append(rule)
        self.policies.default_blocklist = Blocklist.of(defaults)
        for guild_id, records in (await self._repo.load()).items():
            rules: dict[str, BlockRule] = {}
            for stored in records.rules:
                try:
                    rules[stored.key] = parse_rule(stored.text)
                except UserError as error:  # a rule stricter checks refuse now: keep serving
                    log.warning("blocklist rule %r of server %s skipped: %s", stored.text,
                                guild_id, error)
            self._rules[guild_id] = rules
            if records.settings is not None:
                self._settings[guild_id] = records.settings
            self._publish(guild_id, exempt=frozenset(records.exempt_roles),
                          denied=records.denied)
        for server, user_id, at in await self._repo.recent_requests(now - HORIZON):
            self.policies.ledger.note(server, user_id, at)
        log.info("moderation: %d server(s) with settings, %d request(s) counted for quotas",
                 len(self.policies.guilds), len(self.policies.ledger))

    async def _probe(self, rule: BlockRule) -> None:
        await probe_regex(rule, self._probe_length, time_limit=self._probe_time_limit)

    def rules(self) -> list[RequestRule]:
        """The request rules, in order: denied members, blocklists, quotas."""
        return [DeniedMembers(self.policies), Blocklists(self.policies), Quotas(self.policies)]

    def note_job(self, job: Job) -> None:
        """Count a recorded job against its requester's quotas (people's requests only)."""
        if job.requester.user_id is not None and job.priority >= PRIORITY_PERSON:
            self.policies.ledger.note(job.requester.guild_id, job.requester.user_id,
                                      job.created_at)

    def _publish(self, guild_id: int, *, exempt: frozenset[int] | None = None,
                 denied: dict[int, Denial] | None = None) -> GuildPolicy:
        """Replace a server's snapshot (the rules read it whole, never half-updated)."""
        current = self.policies.policy(guild_id)
        settings = self._settings.get(guild_id) or GuildSettings(guild_id)
        policy = GuildPolicy(
            blocklist=Blocklist.of(list(self._rules.get(guild_id, {}).values())),
            quotas=settings.quotas,
            exempt_roles=current.exempt_roles if exempt is None else exempt,
            denied=dict(current.denied) if denied is None else dict(denied),
            nsfw_allowed=settings.nsfw_allowed, default_blocklist=settings.default_blocklist)
        self.policies.guilds[guild_id] = policy
        return policy

    async def _audit(self, guild_id: int, actor: Actor, action: Action, *, target: str = "",
                     detail: str = "") -> None:
        await self._repo.audit(guild_id, actor, action.value, target=target, detail=detail)

    # -- blocklists ------------------------------------------------------------------------

    async def add_rule(self, guild_id: int, text: str, actor: Actor) -> BlockRule:
        """Add a word, phrase or ``re:`` rule (a regex is checked against slow patterns)."""
        rule = parse_rule(text)
        rules = self._rules.setdefault(guild_id, {})
        if rule.key in rules:
            raise UserError(f"the blocklist already has {quoted(rules[rule.key].text)}, which "
                            f"matches the same")
        if len(rules) >= BLOCKLIST_MAX_RULES:
            raise UserError(f"the blocklist is full ({BLOCKLIST_MAX_RULES} rules); remove some "
                            "first")
        if rule.is_regex:
            await self._probe(rule)
        if not await self._repo.add_rule(guild_id, rule.key, rule.text, actor.user_id):
            raise UserError(f"the blocklist already has {quoted(rule.text)}")
        self._rules.setdefault(guild_id, {})[rule.key] = rule
        self._publish(guild_id)
        await self._audit(guild_id, actor, Action.BLOCKLIST_ADD, detail=rule.text)
        return rule

    async def remove_rule(self, guild_id: int, text: str, actor: Actor) -> BlockRule:
        """Remove the rule that ``text`` names (as typed, or any text with the same key)."""
        rule = parse_rule(text)
        existing = self._rules.get(guild_id, {}).get(rule.key)
        if existing is None:
            raise UserError(f"the blocklist has no rule {quoted(rule.text)} "
                            "(/blocklist list shows them)")
        await self._repo.remove_rule(guild_id, rule.key)
        self._rules[guild_id].pop(rule.key, None)
        self._publish(guild_id)
        await self._audit(guild_id, actor, Action.BLOCKLIST_REMOVE, detail=existing.text)
        return existing

    def blocklist(self, guild_id: int) -> tuple[BlockRule, ...]:
        """A server's own rules, oldest first."""
        return tuple(self._rules.get(guild_id, {}).values())

    def default_blocklist(self, guild_id: int) -> tuple[BlockRule, ...] | None:
        """The operator's default rules if they apply in this server (None: turned off)."""
        if not self.policies.policy(guild_id).default_blocklist:
            return None
        return self.policies.default_blocklist.rules

    async def set_default_blocklist(self, guild_id: int, enabled: bool, actor: Actor) -> None:
        """Turn the operator's default list on or off for a server."""
        await self._save(dataclasses.replace(self._guild_settings(guild_id),
                                             default_blocklist=enabled))
        await self._audit(guild_id, actor, Action.BLOCKLIST_DEFAULTS,
                          detail="on" if enabled else "off")

    # -- settings ------------------------------------------------------------------------------

    def _guild_settings(self, guild_id: int) -> GuildSettings:
        return self._settings.get(guild_id) or GuildSettings(guild_id)

    async def _save(self, settings: GuildSettings) -> None:
        await self._repo.save_settings(settings)
        self._settings[settings.guild_id] = settings
        self._publish(settings.guild_id)

    # -- quotas ------------------------------------------------------------------------------

    def quotas(self, guild_id: int | None) -> QuotaLimits:
        """The limits in force in a server."""
        return self.policies.quotas(guild_id)

    async def set_quotas(self, guild_id: int, actor: Actor, *, per_minute: int | None = None,
                         per_hour: int | None = None, per_day: int | None = None
                         ) -> QuotaLimits:
        """Override some of a server's limits (0: no limit); the others keep their value."""
        if per_minute is None and per_hour is None and per_day is None:
            raise UserError("give at least one of per_minute, per_hour, per_day (0 = no limit)")
        limits = self.quotas(guild_id).updated(per_minute, per_hour, per_day)
        await self._save(dataclasses.replace(self._guild_settings(guild_id), quotas=limits))
        await self._audit(guild_id, actor, Action.QUOTA_SET, detail=limits.describe())
        return limits

    async def set_exempt(self, guild_id: int, role_id: int, role_name: str, actor: Actor, *,
                         exempt: bool = True) -> bool:
        """Exempt a role from quotas (or end that); False if it already was (or was not)."""
        changed = await self._repo.set_exempt(guild_id, role_id, exempt, actor.user_id)
        roles = set(self.policies.policy(guild_id).exempt_roles) - {role_id}
        self._publish(guild_id, exempt=frozenset(roles | ({role_id} if exempt else set())))
        if changed:
            await self._audit(guild_id, actor,
                              Action.QUOTA_EXEMPT if exempt else Action.QUOTA_UNEXEMPT,
                              target=f"role {role_name} ({role_id})")
        return changed

    # -- members -----------------------------------------------------------------------------

    async def deny(self, guild_id: int, user_id: int, user_name: str, actor: Actor, *,
                   reason: str | None = None, duration: str | None = None) -> Denial:
        """Stop a member from making images here (for ``duration``, else until allowed)."""
        reason = check_reason(reason)
        seconds = parse_span(duration) if duration else None
        if actor.user_id == user_id:
            raise UserError("you cannot deny yourself")
        now = time.time()
        denial = Denial(guild_id, user_id, reason, None if seconds is None else now + seconds,
                        actor, now)
        await self._repo.deny(denial)
        denied = dict(self.policies.policy(guild_id).denied)
        denied[user_id] = denial
        self._publish(guild_id, denied=denied)
        span = "until allowed" if seconds is None else f"for {duration}"
        await self._audit(guild_id, actor, Action.DENY, target=f"{user_name} ({user_id})",
                          detail=f"{span}; {reason}" if reason else span)
        return denial

    async def allow(self, guild_id: int, user_id: int, user_name: str, actor: Actor) -> bool:
        """Let a denied member make images again; False if they were not denied."""
        removed = await self._repo.allow(guild_id, user_id)
        denied = dict(self.policies.policy(guild_id).denied)
        was = denied.pop(user_id, None)
        self._publish(guild_id, denied=denied)
        if removed or was is not None:
            await self._audit(guild_id, actor, Action.ALLOW, target=f"{user_name} ({user_id})")
        return removed or was is not None

    def denial(self, guild_id: int, user_id: int) -> Denial | None:
        """A member's active denial in a server, if any."""
        denial = self.policies.policy(guild_id).denied.get(user_id)
        return denial if denial is not None and denial.active(time.time()) else None

    async def recent(self, guild_id: int, user_id: int, limit: int = 10) -> list[Job]:
        """A member's latest requests in a server, newest first."""
        return await self._repo.recent_jobs(guild_id, user_id, limit)

    async def log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        """A server's latest moderator actions, newest first."""
        return await self._repo.audit_log(guild_id, limit)

    async def record(self, guild_id: int, actor: Actor, action: Action, *, target: str = "",
                     detail: str = "") -> None:
        """Record a moderator action taken elsewhere (e.g. deleting someone else's result)."""
        await self._audit(guild_id, actor, action, target=target, detail=detail)

    # -- safety ------------------------------------------------------------------------------

    def nsfw_allowed(self, guild_id: int | None) -> bool:
        """Whether a flagged image may be posted (as a spoiler) in this server's age-restricted
        channels."""
        return self.policies.policy(guild_id).nsfw_allowed

    async def set_nsfw(self, guild_id: int, allowed: bool, actor: Actor) -> None:
        """``/safety nsfw allow|deny``."""
        await self._save(dataclasses.replace(self._guild_settings(guild_id),
                                             nsfw_allowed=allowed))
        await self._audit(guild_id, actor, Action.NSFW, detail="allow" if allowed else "deny")

    # -- /about --------------------------------------------------------------------------------

    def server_rules(self, guild_id: int) -> ServerRules:
        """A server's rules in numbers."""
        policy = self.policies.policy(guild_id)
        defaults = self.default_blocklist(guild_id)
        now = time.time()
        return ServerRules(
            blocklist_rules=len(policy.blocklist), default_rules=len(defaults or ()),
            quotas=self.quotas(guild_id), exempt_roles=len(policy.exempt_roles),
            nsfw_allowed=policy.nsfw_allowed,
            denied_members=sum(d.active(now) for d in policy.denied.values()))

    def about(self, guild_id: int | None) -> About:
        """What ``/about`` shows in a server (or outside one)."""
        model_id = self._model_id()
        return About(version=__version__, model_id=model_id,
                     licence=licence_for(model_id, self._model_family, self._model_licence),
                     source_url=self._source_url,
                     rules=None if guild_id is None else self.server_rules(guild_id))


async def open_moderation(settings: Settings, database: Database,
                          generation: GenerationService) -> ModerationService:
    """The moderation service from the settings, loaded, its rules on the one door and its
    quota ledger fed by every recorded job."""
    quotas = settings.quotas
    moderation = ModerationService(
        ModerationRepository(database),
        default_quotas=QuotaLimits(quotas.per_minute, quotas.per_hour, quotas.per_day),
        default_blocklist=settings.moderation.default_blocklist,
        probe_length=settings.model.prompt_max_chars,
        model_id=lambda: generation.model_id, model_family=settings.model.family,
        model_licence=settings.about.model_licence, source_url=settings.about.source_url)
    await moderation.load()
    generation.rules.extend(moderation.rules())
    generation.on_recorded.append(moderation.note_job)
    return moderation
