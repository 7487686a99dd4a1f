"""Request rules: run in order, the first refusal stops; the queue caps as a rule."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.domain.errors import UserError
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.recipe import Recipe
from bot.domain.rules import QueueCaps, RuleContext, run_rules
from bot.domain.scheduling import PRIORITY_PERSON, PRIORITY_STREAM, Caps

ALICE = Requester(user_id=1, user_name="alice", source="discord")


def _waiting(count: int, requester: Requester = ALICE) -> list[Job]:
    return [Job(id=i, recipe=Recipe(prompt="x"), requester=requester, state=JobState.QUEUED,
                created_at=0.0) for i in range(1, count + 1)]


def _context(waiting: list[Job], *, priority: int = PRIORITY_PERSON, count: int = 1,
             in_flight: int = 0) -> RuleContext:
    return RuleContext(recipes=(Recipe(prompt="x"),) * count, requester=ALICE,
                       priority=priority, origin="discord", waiting=waiting,
                       in_flight=in_flight, in_flight_total=in_flight)


@dataclass
class Recorder:
    """A rule that notes it ran and refuses if told to."""

    name: str
    log: list[str] = field(default_factory=list)
    refuse: bool = False

    def check(self, context: RuleContext) -> None:
        self.log.append(self.name)
        if self.refuse:
            raise UserError(f"{self.name} says no")


def test_rules_run_in_order_and_the_first_refusal_stops() -> None:
    log: list[str] = []
    rules = [Recorder("a", log), Recorder("b", log, refuse=True), Recorder("c", log)]
    with pytest.raises(UserError, match="b says no"):
        run_rules(rules, _context([]))
    assert log == ["a", "b"]
    run_rules(rules[:1] + rules[2:], _context([]))
    assert log == ["a", "b", "a", "c"]


def test_queue_caps_count_waiting_and_in_flight_jobs_of_people_only() -> None:
    caps = QueueCaps(Caps(per_user=2, total=3))
    caps.check(_context(_waiting(1)))
    with pytest.raises(UserError, match="limit is 2 per person"):
        caps.check(_context(_waiting(1), in_flight=1))
    with pytest.raises(UserError, match="limit is 2 per person"):
        caps.check(_context(_waiting(1), count=2))
    with pytest.raises(UserError, match="the queue is full"):
        caps.check(_context(_waiting(3, Requester(user_id=9))))
    # A stream image is not a person's request: no cap applies to it.
    caps.check(_context(_waiting(5), priority=PRIORITY_STREAM))
    assert _context([], priority=PRIORITY_STREAM).by_person is False
    assert _context([]).by_person is True
