"""Hostile input on the pure request path, property-based: whatever a command's options hold,
the result is a valid request or a UserError with a message, never another exception.

``/dream`` goes through the one door itself (``GenerationService.submit`` with the channel's
theme, the queue caps and the moderation rules; a stub queue records nothing); ``/theme set``,
``/blocklist``, ``/quota``, ``/mod deny``, ``/safety`` and the buttons' custom_ids through the
pure checks their commands make before anything is stored. Options are drawn well past what
Discord's client allows (a forged payload is not held to the declared ranges).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.blocklist import Blocklist, parse_rule
from bot.domain.errors import UserError
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.moderation import (
    Denial,
    GuildPolicy,
    Policies,
    check_reason,
    nsfw_setting,
    parse_span,
)
from bot.domain.quotas import QuotaLimits
from bot.domain.recipe import Recipe
from bot.domain.requests import Defaults, DreamRequest, JobRequest
from bot.domain.text import normalise_text
from bot.domain.themes import Theme, check_theme
from bot.domain.validation import Limits, validate_recipe
from bot.services.generation import GenerationService

EXAMPLES = settings(max_examples=1000, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LIMITS = Limits()
GUILD, CHANNEL, DENIED = 1, 10, 66

HOSTILE = st.sampled_from([
    "@everyone", "@here", "<@1>", "<@&2>", "<#3>", "```", "`", "**", "||", "~~", "> ", "# ",
    "\u200b", "\u200d", "\u2060", "\u00ad", "\ufe0f", "\x00", "\x1b[2J", "\n", "\r\n", "\t",
    "\ud800", "\udfff", "\u202e", "ｃａｔ", "c.a.t", "k1ll", "(a+)+", "re:", "https://x.y/z",
    "🇨🇦🇹", "💥", "e\u0301", "ﷺ", "𒐫", " ", ",", "{a|b}", "__x__", "<lora:x:1>",
])
SHORT = st.lists(st.one_of(st.text(max_size=12), HOSTILE,
                           st.characters(categories=["Cs", "Cc", "Cf", "Zs", "Mn"])),
                 max_size=10).map("".join)
# Past every length limit (1000 for a prompt, less for a theme's parts), now and then.
TEXT = st.one_of(SHORT, SHORT, SHORT, st.integers(0, 1300).map(lambda n: ("word, " * n)[:n]))
MAYBE_TEXT = st.none() | TEXT
INTS = st.none() | st.integers(-(2**70), 2**70) | st.integers(-10, 5000)
FLOATS = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.floats(-5, 120)
SCHEDULERS = st.none() | st.sampled_from(["euler_a", "Euler a", "DPM++ 2M", "ddim"]) | TEXT


def _user_error(error: UserError) -> None:
    assert str(error).strip(), "a UserError must say what is wrong"


# -- /dream through the one door ---------------------------------------------------------------


class _Queue:
    """Records nothing: hands back a queued job for each recipe."""

    def __init__(self) -> None:
        self.count = 0

    def waiting(self) -> list[Job]:
        return []

    async def submit(self, recipe: Recipe, requester: Requester, *, parent_id: int | None = None,
                     priority: int = 0) -> Job:
        self.count += 1
        return Job(self.count, recipe, requester, JobState.QUEUED, time.time(),
                   parent_id=parent_id, priority=priority)


class _Jobs:
    """No job is recorded; an id is bound as SQLite binds it (64-bit integers only)."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)

    async def get(self, job_id: int) -> Job | None:
        self.db.execute("SELECT ?", (job_id,))
        return None


class _Themes:
    """The channel's theme, as the theme service hands it to the one door."""

    def __init__(self) -> None:
        self.theme: Theme | None = None

    def theme_for(self, channel_id: int | None, parent_id: int | None = None) -> Any:
        return SimpleNamespace(theme=self.theme) if self.theme is not None else None


def _door() -> tuple[GenerationService, _Themes]:
    themes = _Themes()
    generation = GenerationService(_Queue(), defaults=Defaults(), limits=LIMITS,  # type: ignore[arg-type]
                                   model_id="tiny", themes=themes,  # type: ignore[arg-type]
                                   jobs=_Jobs())  # type: ignore[arg-type]
    policies = Policies(default_quotas=QuotaLimits(per_minute=10_000))
    policies.guilds[GUILD] = GuildPolicy(
        blocklist=Blocklist.of([parse_rule(r) for r in ("cat", "big dog", "re:\\bk[i1]ll\\b")]),
        denied={DENIED: Denial(GUILD, DENIED, "spam")})
    from bot.domain.moderation import Blocklists, DeniedMembers, Quotas

    generation.rules += [DeniedMembers(policies), Blocklists(policies), Quotas(policies)]
    return generation, themes


DOOR, THEMES = _door()
THEME = st.none() | st.builds(
    Theme, prefix=st.text(max_size=40), suffix=st.text(max_size=40),
    negative=st.text(max_size=40), width=st.none() | st.sampled_from([64, 512, 1024]),
    steps=st.none() | st.integers(1, 150))
REQUESTERS = st.sampled_from([
    Requester(user_id=7, guild_id=GUILD, channel_id=CHANNEL, source="discord"),
    Requester(user_id=DENIED, guild_id=GUILD, channel_id=CHANNEL, source="discord"),
    Requester(user_id=8, guild_id=2, channel_id=20, source="discord"),
    Requester(),  # the CLI
])


@EXAMPLES
@given(prompt=TEXT, negative=MAYBE_TEXT, width=INTS, height=INTS, steps=INTS, guidance=FLOATS,
       seed=INTS, scheduler=SCHEDULERS, count=st.none() | st.integers(-3, 40),
       theme=THEME, requester=REQUESTERS)
def test_dream_options_make_a_valid_request_or_a_user_error(
        prompt: str, negative: str | None, width: int | None, height: int | None,
        steps: int | None, guidance: float | None, seed: int | None, scheduler: str | None,
        count: int | None, theme: Theme | None, requester: Requester) -> None:
    try:
        THEMES.theme = None if theme is None else check_theme(theme, LIMITS)
    except UserError as error:
        _user_error(error)
        THEMES.theme = None
    request = JobRequest(DreamRequest(prompt=prompt, negative=negative, width=width,
                                      height=height, steps=steps, guidance=guidance, seed=seed,
                                      scheduler=scheduler),
                         requester, count=1 if count is None else count)
    try:
        jobs = asyncio.run(DOOR.submit(request))
    except UserError as error:
        _user_error(error)
        return
    assert jobs and requester.user_id != DENIED
    for job in jobs:
        assert validate_recipe(job.recipe, LIMITS) == job.recipe  # valid, and stays so
        job.recipe.prompt.encode("utf-8")  # storable and writable into the PNG


# -- /theme set ---------------------------------------------------------------------------------


@EXAMPLES
@given(prefix=TEXT, suffix=MAYBE_TEXT, negative=MAYBE_TEXT, width=INTS, height=INTS,
       steps=INTS, guidance=FLOATS, scheduler=SCHEDULERS)
def test_theme_set_options_make_a_valid_theme_or_a_user_error(
        prefix: str, suffix: str | None, negative: str | None, width: int | None,
        height: int | None, steps: int | None, guidance: float | None,
        scheduler: str | None) -> None:
    theme = Theme(prefix=prefix, suffix=suffix or "", negative=negative or "", width=width,
                  height=height, steps=steps, guidance=guidance, scheduler=scheduler)
    try:
        checked = check_theme(theme, LIMITS)
    except UserError as error:
        _user_error(error)
        return
    assert check_theme(checked, LIMITS) == checked


# -- the moderators' commands ---------------------------------------------------------------


@EXAMPLES
@given(rule=TEXT | TEXT.map(lambda t: "re:" + t) | st.sampled_from(
    ["re:(a+)+", "re:(x)\\1", "re:[", "re:a{99999999999}", "re:(?", "re:\\", "re:" + "(" * 300]))
def test_blocklist_rules_parse_or_are_refused_and_match_their_own_text(rule: str) -> None:
    try:
        parsed = parse_rule(rule)
    except UserError as error:
        _user_error(error)
        return
    blocklist = Blocklist.of([parsed])
    if not parsed.is_regex:  # a word rule holds against its own text as the prompt carries it
        assert blocklist.match(rule) is not None
        assert blocklist.match(normalise_text(rule)) is not None


@EXAMPLES
@given(per_minute=INTS, per_hour=INTS, per_day=INTS)
def test_quota_options_make_limits_or_a_user_error(per_minute: int | None,
                                                   per_hour: int | None,
                                                   per_day: int | None) -> None:
    try:
        limits = QuotaLimits().updated(per_minute, per_hour, per_day)
    except UserError as error:
        _user_error(error)
        return
    assert all(0 <= value <= 10_000 for value in (limits.per_minute, limits.per_hour,
                                                   limits.per_day))


@EXAMPLES
@given(reason=MAYBE_TEXT,
       duration=MAYBE_TEXT | st.tuples(st.integers(0, 10**400), st.sampled_from("wdhms ")).map(
           lambda number_unit: f"{number_unit[0]}{number_unit[1]}".strip()),
       setting=st.sampled_from(["allow", "deny"]) | TEXT)
def test_mod_and_safety_options_are_checked(reason: str | None, duration: str | None,
                                            setting: str) -> None:
    for check, value in ((check_reason, reason), (parse_span, duration),
                         (nsfw_setting, setting)):
        if value is None and check is not check_reason:
            continue
        try:
            check(value)  # type: ignore[operator]
        except UserError as error:
            _user_error(error)


BUTTON = re.compile(r"ns:(?P<kind>reroll|delete|recipe):(?P<job>\d+)")


CUSTOM_IDS = st.builds("ns:{}:{}".format, st.sampled_from(["reroll", "delete", "recipe"]),
                       st.integers(0, 10) | st.integers(2**63 - 2, 10**95))


@EXAMPLES
@given(custom_id=CUSTOM_IDS | TEXT)
def test_a_forged_custom_id_is_a_user_error(custom_id: str) -> None:
    match = BUTTON.fullmatch(custom_id)
    if match is None:
        return  # no button claims it: discord.py leaves it unanswered
    try:
        asyncio.run(DOOR.job_for(int(match["job"]), GUILD))  # the check the buttons make
    except UserError as error:
        _user_error(error)
    else:
        raise AssertionError("no job is recorded, so every id is refused")
