"""Request rules: the checks every request passes on its one path, in order, before it is queued.

A rule sees the request's validated recipes, who asks, and the queue as it stands, and refuses
with a ``UserError`` whose message is shown to the user as is. Rules are pure and cheap (no
I/O): they run before Discord's 3 s acknowledgement, so a refusal is ephemeral from the start.
The queue caps are the first rule; blocklists, deny-lists and quotas plug in the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.domain.jobs import Job, Requester
from bot.domain.recipe import Recipe
from bot.domain.scheduling import PRIORITY_PERSON, Caps, check_admission


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule may look at: the request and the queue at this moment."""

    recipes: tuple[Recipe, ...]
    requester: Requester
    priority: int
    origin: str
    waiting: Sequence[Job]
    # Jobs admitted but not yet recorded (their insert is being awaited): they count too.
    in_flight: int = 0
    in_flight_total: int = 0
    # The time of the request: quotas and timed denials are judged against it (a test passes
    # its own clock).
    now: float = field(default_factory=time.time)
    # One request of several images shown together (a grid, a morph's frames, a style grid):
    # it counts as one request against a person's cap (the total cap counts every image).
    grouped: bool = False

    @property
    def by_person(self) -> bool:
        """Whether a person asked (stream images are not people's requests)."""
        return self.priority >= PRIORITY_PERSON


class RequestRule(Protocol):
    """One check on the request path."""

    @property
    def name(self) -> str:
        """What the rule is, for logs and the README."""

    def check(self, context: RuleContext) -> None:
        """Return if the request may go on; raise UserError naming the reason if not."""


@dataclass(frozen=True, slots=True)
class QueueCaps:
    """``[queue] max_per_user`` and ``max_total``: how much a person, and everyone, may queue."""

    caps: Caps
    name: str = "queue caps"

    def check(self, context: RuleContext) -> None:
        """Refuse a person's request that would pass a cap (stream images are not capped)."""
        if not context.by_person:
            return
        check_admission(context.waiting, context.requester.user_id, len(context.recipes),
                        self.caps, in_flight=context.in_flight,
                        in_flight_total=context.in_flight_total, grouped=context.grouped)


def run_rules(rules: Sequence[RequestRule], context: RuleContext) -> None:
    """Every rule in order; the first refusal stops the request."""
    for rule in rules:
        rule.check(context)
