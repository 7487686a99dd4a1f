"""Moderation's request rules read a policy snapshot: denied members, blocklists, quotas."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain.blocklist import Blocklist, parse_rule
from bot.domain.errors import UserError, ValidationError
from bot.domain.jobs import Requester
from bot.domain.moderation import (
    Actor,
    Blocklists,
    Denial,
    DeniedMembers,
    GuildPolicy,
    Policies,
    Quotas,
    licence_for,
    parse_span,
    quoted,
)
from bot.domain.quotas import QuotaLimits
from bot.domain.recipe import Recipe
from bot.domain.rules import RuleContext
from bot.domain.scheduling import PRIORITY_PERSON, PRIORITY_STREAM

GUILD, OTHER = 1, 2
ALICE = Requester(user_id=7, user_name="alice", guild_id=GUILD, source="discord",
                  role_ids=(100,))


def _context(prompt: str = "a cat", *, negative: str = "", requester: Requester = ALICE,
             now: float = 1000.0, priority: int = PRIORITY_PERSON, count: int = 1
             ) -> RuleContext:
    recipe = Recipe(prompt=prompt, negative=negative)
    return RuleContext(recipes=(recipe,) * count, requester=requester, priority=priority,
                       origin=requester.source, waiting=(), now=now)


def _policies(**policy: object) -> Policies:
    return Policies(guilds={GUILD: GuildPolicy(**policy)})  # type: ignore[arg-type]


def test_a_denied_member_is_refused_with_the_reason_until_the_denial_ends() -> None:
    denial = Denial(GUILD, 7, reason="spam `@everyone`", until=1200.0, by=Actor(9, "mod"))
    rule = DeniedMembers(_policies(denied={7: denial}))
    with pytest.raises(UserError) as refused:
        rule.check(_context(now=1000.0))
    assert str(refused.value) == ("a moderator of this server has stopped you from making "
                                  "images here (reason: `spam ˋ@everyoneˋ`), for 3 min 20 s "
                                  "more")
    rule.check(_context(now=1200.0))  # over
    rule.check(_context(requester=dataclasses.replace(ALICE, guild_id=OTHER)))  # other server
    rule.check(_context(requester=dataclasses.replace(ALICE, user_id=8)))


def test_a_denial_without_end_says_until_allowed() -> None:
    rule = DeniedMembers(_policies(denied={7: Denial(GUILD, 7)}))
    with pytest.raises(UserError, match=r"here, until a moderator allows you again$"):
        rule.check(_context(now=1e12))


def test_the_blocklist_matches_the_final_prompt_and_the_negative_and_names_the_rule() -> None:
    rules = Blocklist.of([parse_rule("cat"), parse_rule("re:clothe[sd]")])
    rule = Blocklists(_policies(blocklist=rules))
    with pytest.raises(UserError) as refused:
        rule.check(_context("a photo of a C.A.T"))
    assert str(refused.value) == ("this server's blocklist does not allow that: the prompt "
                                  "matches the rule `cat`")
    with pytest.raises(UserError, match="the negative prompt matches the rule `re:clothe"):
        rule.check(_context("a dog", negative="lowres, clothed"))
    rule.check(_context("a dog", negative="lowres"))
    rule.check(_context("a cat", requester=dataclasses.replace(ALICE, guild_id=OTHER)))


def test_the_operators_default_list_applies_unless_the_server_turned_it_off() -> None:
    policies = Policies(default_blocklist=Blocklist.of([parse_rule("gore")]))
    policies.guilds[OTHER] = GuildPolicy(default_blocklist=False)
    rule = Blocklists(policies)
    with pytest.raises(UserError, match="`gore`"):
        rule.check(_context("g0re"))
    with pytest.raises(UserError, match="`gore`"):  # the CLI (no server) too
        rule.check(_context("gore", requester=Requester()))
    rule.check(_context("gore", requester=dataclasses.replace(ALICE, guild_id=OTHER)))


def test_quotas_count_a_persons_images_and_spare_exempt_roles_and_streams() -> None:
    policies = Policies(default_quotas=QuotaLimits(per_minute=2))
    for at in (950.0, 990.0):
        policies.ledger.note(GUILD, 7, at)
    rule = Quotas(policies)
    with pytest.raises(UserError, match="limit of 2 image\\(s\\) a minute; your next request "
                                        "is allowed in 10 s"):
        rule.check(_context(now=1000.0))
    rule.check(_context(now=1010.0))
    rule.check(_context(priority=PRIORITY_STREAM))  # not a person's request
    rule.check(_context(requester=dataclasses.replace(ALICE, guild_id=OTHER)))  # per server
    policies.guilds[GUILD] = GuildPolicy(exempt_roles=frozenset({100}))
    rule.check(_context(now=1000.0))  # alice has role 100
    policies.guilds[GUILD] = GuildPolicy(quotas=QuotaLimits(per_minute=5))  # the override
    rule.check(_context(now=1000.0))


@pytest.mark.parametrize(("text", "seconds"), [
    ("30m", 1800), ("30", 1800), ("2h", 7200), ("7d", 7 * 86400), ("1w", 7 * 86400),
    ("1d12h", 1.5 * 86400), ("90s", 90), ("1.5h", 5400), (" 2 H ", 7200), ("10min", 600),
])
def test_parse_span(text: str, seconds: float) -> None:
    assert parse_span(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0m", "-5m", "5x", "2y", "400d", "1e999h"])
def test_parse_span_refuses_with_the_option_named(text: str) -> None:
    with pytest.raises(ValidationError, match=r"^duration must be"):
        parse_span(text)


def test_quoted_text_cannot_break_out_of_its_code_span() -> None:
    assert quoted("a `b`\nc") == "`a ˋbˋ c`"
    assert quoted("x" * 10, 5) == "`xxxx…`"
    assert quoted("") == "` `"


@pytest.mark.parametrize(("model", "family", "name"), [
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "", "CreativeML OpenRAIL-M"),
    ("/models/dreamshaper_8.safetensors", "", "CreativeML OpenRAIL-M"),
    ("stabilityai/stable-diffusion-xl-base-1.0", "", "CreativeML OpenRAIL++-M"),
    ("/models/x.safetensors", "sd2-v", "CreativeML OpenRAIL++-M"),
    ("tiny", "", "none (built-in random-weight test model)"),
])
def test_licence_for_a_model(model: str, family: str, name: str) -> None:
    licence = licence_for(model, family)
    assert licence.name == name
    assert "answers for" in licence.summary
    assert licence_for(model, family, "My licence").name == "My licence"
