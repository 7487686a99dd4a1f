"""Moderation: each server's policy (blocklist, quotas, denied members, safety setting), the
request rules that enforce it on the one path, moderators' audit entries, and what ``/about``
says about the model's licence.

The rules are pure and cheap: they read a ``Policies`` snapshot that the moderation service
keeps in memory (loaded at start, replaced on every change) and the quota ledger.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.blocklist import Blocklist, Folded, folded_views
from bot.domain.errors import UserError, ValidationError
from bot.domain.quotas import QuotaLedger, QuotaLimits, quota_refusal, wait_text
from bot.domain.rules import RuleContext

REASON_MAX_CHARS = 300
DENY_MAX_SECONDS = 366 * 86400.0


class Action(StrEnum):
    """What a moderator did (the audit log's ``action``)."""

    BLOCKLIST_ADD = "blocklist add"
    BLOCKLIST_REMOVE = "blocklist remove"
    BLOCKLIST_DEFAULTS = "blocklist defaults"
    QUOTA_SET = "quota set"
    QUOTA_EXEMPT = "quota exempt"
    QUOTA_UNEXEMPT = "quota unexempt"
    DENY = "mod deny"
    ALLOW = "mod allow"
    NSFW = "safety nsfw"
    DELETE_RESULT = "delete result"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something (a moderator), as the audit log shows them."""

    user_id: int | None
    name: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One moderator action."""

    id: int
    guild_id: int | None
    at: float
    actor: Actor
    action: str
    target: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Denial:
    """A member who may not make images in a server, why, and until when (None: until allowed)."""

    guild_id: int | None
    user_id: int
    reason: str = ""
    until: float | None = None
    by: Actor = Actor(None)
    at: float = 0.0

    def active(self, now: float) -> bool:
        """Whether the denial still holds at ``now``."""
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class GuildPolicy:
    """One server's rules as the request rules read them (replaced whole on each change)."""

    blocklist: Blocklist = field(default_factory=Blocklist)
    quotas: QuotaLimits | None = None  # None: the config's defaults
    exempt_roles: frozenset[int] = frozenset()
    denied: Mapping[int, Denial] = field(default_factory=dict)
    nsfw_allowed: bool = False
    default_blocklist: bool = True  # whether the operator's default list applies here


@dataclass
class Policies:
    """Every server's policy, the operator's defaults and the quota ledger."""

    default_quotas: QuotaLimits = field(default_factory=QuotaLimits)
    default_blocklist: Blocklist = field(default_factory=Blocklist)
    guilds: dict[int | None, GuildPolicy] = field(default_factory=dict)
    ledger: QuotaLedger = field(default_factory=QuotaLedger)

    def policy(self, guild_id: int | None) -> GuildPolicy:
        """The policy of a server (the defaults for one never configured, and for no server)."""
        return self.guilds.get(guild_id) or _EMPTY

    def quotas(self, guild_id: int | None) -> QuotaLimits:
        """The limits that hold in a server."""
        override = self.policy(guild_id).quotas
        return self.default_quotas if override is None else override

    def blocklists(self, guild_id: int | None) -> list[Blocklist]:
        """The lists a request in this server is matched against."""
        policy = self.policy(guild_id)
        lists = [policy.blocklist] if policy.blocklist.rules else []
        if policy.default_blocklist and self.default_blocklist.rules:
            lists.append(self.default_blocklist)
        return lists


_EMPTY = GuildPolicy()


def quoted(text: str, limit: int = 100) -> str:
    """User or moderator text as an inline code span: shown as typed (no markdown, no mention,
    no link), on one line, at most ``limit`` characters inside."""
    flat = " ".join(text.split()).replace("`", "ˋ") or " "
    return f"`{flat if len(flat) <= limit else flat[:limit - 1] + '…'}`"


# -- the request rules ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeniedMembers:
    """A member a moderator denied is refused, whatever the request comes from."""

    policies: Policies
    name: str = "denied members"

    def check(self, context: RuleContext) -> None:
        """Refuse a denied member's request while the denial holds."""
        user_id = context.requester.user_id
        if user_id is None:
            return
        denial = self.policies.policy(context.requester.guild_id).denied.get(user_id)
        if denial is None or not denial.active(context.now):
            return
        why = f" (reason: {quoted(denial.reason, REASON_MAX_CHARS)})" if denial.reason else ""
        until = ("until a moderator allows you again" if denial.until is None
                 else f"for {wait_text(denial.until - context.now)} more")
        raise UserError(f"a moderator of this server has stopped you from making images "
                        f"here{why}, {until}")


@dataclass(frozen=True, slots=True)
class Blocklists:
    """The server's blocklist (and the operator's default list) on the final prompt and negative,
    after the theme; the refusal names the one rule that matched."""

    policies: Policies
    name: str = "blocklist"

    def check(self, context: RuleContext) -> None:
        """Refuse a request whose prompt or negative matches a rule."""
        lists = self.policies.blocklists(context.requester.guild_id)
        if not lists:
            return
        seen: dict[str, Folded] = {}
        for recipe in context.recipes:
            for part, text in (("prompt", recipe.prompt), ("negative prompt", recipe.negative)):
                if not text or text in seen:
                    continue
                views = seen[text] = folded_views(text)
                for blocklist in lists:
                    rule = blocklist.match_folded(views)
                    if rule is not None:
                        raise UserError(f"this server's blocklist does not allow that: the "
                                        f"{part} matches the rule {quoted(rule.text)}")


@dataclass(frozen=True, slots=True)
class Quotas:
    """Images per person per minute, hour and day (a person's requests only; an exempt role is
    not limited)."""

    policies: Policies
    name: str = "quotas"

    def check(self, context: RuleContext) -> None:
        """Refuse a request that would pass a limit, saying when the next one is allowed."""
        requester = context.requester
        if not context.by_person or requester.user_id is None:
            return
        guild_id = requester.guild_id
        limits = self.policies.quotas(guild_id)
        if limits.unlimited:
            return
        exempt = self.policies.policy(guild_id).exempt_roles
        if exempt and not exempt.isdisjoint(requester.role_ids):
            return
        times = self.policies.ledger.times(guild_id, requester.user_id, context.now)
        refusal = quota_refusal(times, limits, context.now, asking=len(context.recipes),
                                in_flight=context.in_flight)
        if refusal is not None:
            raise UserError(refusal.message)


# -- option parsing -------------------------------------------------------------------------

_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*(min|w|d|h|m|s)?", re.IGNORECASE)
_SPAN_UNIT = {"w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0,
              "": 60.0}


def parse_span(text: str, option: str = "duration") -> float:
    """Seconds in "30m", "2h", "7d", "1w", "1d12h" (a bare number is minutes)."""
    compact = text.strip().replace(" ", "").lower()
    position, total = 0, 0.0
    for match in _SPAN.finditer(compact):
        if match.start() != position:
            break
        total += float(match[1]) * _SPAN_UNIT[match[2] or ""]
        position = match.end()
    if not compact or position != len(compact) or not math.isfinite(total) or total <= 0:
        raise ValidationError(f"{option} must be a duration like 30m, 2h, 7d or 1w, "
                              f"got {quoted(text, 50)}")
    if total > DENY_MAX_SECONDS:
        raise ValidationError(f"{option} must be at most a year, got {quoted(text, 50)}"
                              " (leave it out to deny until a moderator allows them again)")
    return total


def nsfw_setting(value: str) -> bool:
    """``/safety nsfw allow|deny`` → whether flagged images may be posted (Discord enforces the
    choices; a forged payload is checked here)."""
    if value not in ("allow", "deny"):
        raise ValidationError(f"setting must be allow or deny, got {quoted(value, 20)}")
    return value == "allow"


def check_reason(reason: str | None) -> str:
    """A moderator's reason, trimmed; ValidationError if too long."""
    reason = " ".join((reason or "").split())
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationError(f"reason must be at most {REASON_MAX_CHARS} characters, "
                              f"got {len(reason)}")
    return reason


# -- what /about shows ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerRules:
    """A server's rules in numbers, as ``/about`` shows them."""

    blocklist_rules: int
    default_rules: int  # the operator's default list, when it applies here (else 0)
    quotas: QuotaLimits
    exempt_roles: int
    nsfw_allowed: bool
    denied_members: int


@dataclass(frozen=True, slots=True)
class About:
    """What ``/about`` says: the version, the model and its licence, the rules, the source."""

    version: str
    model_id: str
    licence: Licence
    source_url: str
    rules: ServerRules | None  # None outside a server


# -- the licence ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Licence:
    """A model's licence: its name, where to read it, and the short summary ``/about`` shows."""

    name: str
    url: str
    summary: str


_OPENRAIL_SUMMARY = (
    "You may not use the model or its images to break the law; to exploit or harm minors; to "
    "generate or spread verifiably false information meant to harm others; to generate or "
    "spread personal information to harm someone; to defame, disparage or harass people; for "
    "fully automated decisions that harm someone's legal rights; to discriminate against "
    "people or groups; to exploit anyone's vulnerabilities (age, social, physical or mental "
    "traits); to give medical advice or interpret medical results; or to predict crimes or "
    "decide on justice, law enforcement or immigration. **The person who asks for an image "
    "owns it and answers for it and for how it is used.**")

LICENCES: dict[str, Licence] = {
    "sd1": Licence("CreativeML OpenRAIL-M",
                   "https://huggingface.co/spaces/CompVis/stable-diffusion-license",
                   _OPENRAIL_SUMMARY),
    "sd2": Licence("CreativeML OpenRAIL++-M",
                   "https://huggingface.co/stabilityai/stable-diffusion-2/blob/main/LICENSE-MODEL",
                   _OPENRAIL_SUMMARY),
    "sdxl": Licence("CreativeML OpenRAIL++-M",
                    "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/"
                    "LICENSE.md", _OPENRAIL_SUMMARY),
    "tiny": Licence("none (built-in random-weight test model)", "",
                    "The built-in tiny model has random weights and draws noise; it exists for "
                    "tests and demos. The person who asks for an image owns it and answers "
                    "for it."),
}


def licence_for(model_id: str, family: str = "", override: str = "") -> Licence:
    """The licence of a model: ``override`` (the operator's ``[about] model_licence``), else
    guessed from the family or the id (SD 1.x: OpenRAIL-M; SD 2.x and SDXL: OpenRAIL++-M)."""
    if override:
        return Licence(override, "", _OPENRAIL_SUMMARY)
    lowered = model_id.lower()
    if family in LICENCES:
        return LICENCES[family]
    if family == "sd2-v":
        return LICENCES["sd2"]
    if lowered == "tiny":
        return LICENCES["tiny"]
    if "xl" in lowered:
        return LICENCES["sdxl"]
    if "stable-diffusion-2" in lowered or "sd2" in lowered:
        return LICENCES["sd2"]
    return LICENCES["sd1"]  # most community checkpoints are SD 1.x fine-tunes under OpenRAIL-M
