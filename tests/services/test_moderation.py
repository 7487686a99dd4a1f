"""The moderation service on a real database: every change audited, the snapshot the rules read
kept current, quotas counted from the jobs table (a restart resets nothing), slow regexes refused
by a timed probe in a child process."""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_app
from bot.config import settings_from_dict
from bot.domain.blocklist import parse_rule
from bot.domain.errors import ConfigError, UserError, ValidationError
from bot.domain.jobs import Requester
from bot.domain.moderation import Actor
from bot.domain.quotas import QuotaLimits
from bot.domain.recipe import Recipe
from bot.domain.requests import DreamRequest, JobRequest
from bot.domain.rules import RuleContext, run_rules
from bot.services.moderation import ModerationService, probe_regex
from bot.storage.database import Database
from bot.storage.jobs import JobRepository
from bot.storage.moderation import ModerationRepository

GUILD, CHANNEL = 1, 10
MOD = Actor(9, "mod")
ALICE = Requester(user_id=7, user_name="alice", guild_id=GUILD, channel_id=CHANNEL,
                  source="discord")


def _service(database: Database, **kwargs: Any) -> ModerationService:
    kwargs.setdefault("default_quotas", QuotaLimits())
    return ModerationService(ModerationRepository(database), probe_time_limit=3.0, **kwargs)


def _check(service: ModerationService, prompt: str = "a cat", *,
           requester: Requester = ALICE, now: float | None = None) -> None:
    run_rules(service.rules(), RuleContext(
        recipes=(Recipe(prompt=prompt),), requester=requester, priority=0, origin="discord",
        waiting=(), now=time.time() if now is None else now))


async def _actions(service: ModerationService) -> list[str]:
    return [entry.action for entry in reversed(await service.log(GUILD))]


async def test_blocklist_changes_are_audited_and_apply_at_once(database: Database) -> None:
    service = _service(database)
    await service.load()
    _check(service, "a c.a.t")
    await service.add_rule(GUILD, "cat", MOD)
    with pytest.raises(UserError, match="matches the rule `cat`"):
        _check(service, "a c.a.t")
    with pytest.raises(UserError, match="already has `cat`"):
        await service.add_rule(GUILD, "C A T", MOD)
    await service.add_rule(GUILD, "re:\\bdogs?\\b", MOD)
    assert [rule.text for rule in service.blocklist(GUILD)] == ["cat", "re:\\bdogs?\\b"]
    removed = await service.remove_rule(GUILD, "CAT", MOD)  # any spelling of the same rule
    assert removed.text == "cat"
    _check(service, "a cat")
    with pytest.raises(UserError, match="has no rule `cat`"):
        await service.remove_rule(GUILD, "cat", MOD)
    assert await _actions(service) == ["blocklist add", "blocklist add", "blocklist remove"]
    # A restart loads the same list.
    again = _service(database)
    await again.load()
    with pytest.raises(UserError, match="re:"):
        _check(again, "two dogs")


async def test_a_catastrophic_regex_is_refused_when_added(database: Database) -> None:
    service = _service(database)
    await service.load()
    with pytest.raises(ValidationError, match="repetition inside a repetition"):
        await service.add_rule(GUILD, "re:(a+)+$", MOD)  # refused by its shape
    with pytest.raises(ValidationError, match="backtracks catastrophically"):
        await service.add_rule(GUILD, "re:(a|aa)*c", MOD)  # refused by the timed probe
    assert service.blocklist(GUILD) == ()
    assert await _actions(service) == []


async def test_the_probe_passes_ordinary_patterns_and_kills_a_slow_one() -> None:
    await probe_regex(parse_rule("re:\\bcat(s|z)?\\b"), 6000)
    started = time.monotonic()
    with pytest.raises(ValidationError, match="took more than 1 s on a 1000-character test"):
        await probe_regex(parse_rule("re:(x|xx)+y"), 1000, time_limit=1.0)
    assert time.monotonic() - started < 30  # killed, not waited for


async def test_quotas_are_counted_from_the_jobs_table_so_a_restart_resets_nothing(
        database: Database) -> None:
    jobs = JobRepository(database)
    service = _service(database)
    await service.load()
    await service.set_quotas(GUILD, MOD, per_hour=2)
    for prompt in ("one", "two"):
        service.note_job(await jobs.add(Recipe(prompt=prompt), ALICE))
    with pytest.raises(UserError, match=r"limit of 2 image\(s\) an hour; your next request "
                                        r"is allowed in (59 min [0-9]+ s|1 h)"):
        _check(service)
    restarted = _service(database)
    await restarted.load()
    assert restarted.quotas(GUILD) == QuotaLimits(per_hour=2)
    with pytest.raises(UserError, match="limit of 2 image"):
        _check(restarted)
    _check(restarted, now=time.time() + 3601)  # an hour later


async def test_an_exempt_role_is_not_limited(database: Database) -> None:
    service = _service(database, default_quotas=QuotaLimits(per_minute=1))
    await service.load()
    service.policies.ledger.note(GUILD, 7, time.time())
    artist = Requester(user_id=7, guild_id=GUILD, source="discord", role_ids=(55,))
    with pytest.raises(UserError, match="a minute"):
        _check(service, requester=artist)
    assert await service.set_exempt(GUILD, 55, "Artists", MOD)
    assert not await service.set_exempt(GUILD, 55, "Artists", MOD)  # already
    _check(service, requester=artist)
    with pytest.raises(UserError, match="a minute"):
        _check(service)  # alice without the role
    assert await service.set_exempt(GUILD, 55, "Artists", MOD, exempt=False)
    with pytest.raises(UserError, match="a minute"):
        _check(service, requester=artist)
    assert await _actions(service) == ["quota exempt", "quota unexempt"]


async def test_deny_and_allow_are_audited_and_survive_a_restart(database: Database) -> None:
    service = _service(database)
    await service.load()
    denial = await service.deny(GUILD, 7, "alice", MOD, reason="spam", duration="2h")
    assert denial.until is not None and denial.until - denial.at == 7200
    with pytest.raises(UserError, match="reason: `spam`"):
        _check(service)
    restarted = _service(database)
    await restarted.load()
    with pytest.raises(UserError, match="stopped you"):
        _check(restarted)
    assert await restarted.allow(GUILD, 7, "alice", MOD)
    assert not await restarted.allow(GUILD, 7, "alice", MOD)
    _check(restarted)
    with pytest.raises(UserError, match="cannot deny yourself"):
        await restarted.deny(GUILD, 9, "mod", MOD)
    log = await restarted.log(GUILD)
    assert [(e.action, e.target, e.detail) for e in reversed(log)] == [
        ("mod deny", "alice (7)", "for 2h; spam"), ("mod allow", "alice (7)", "")]


async def test_the_nsfw_setting_and_the_default_list_are_per_server(database: Database) -> None:
    service = _service(database, default_blocklist=["gore"])
    await service.load()
    assert not service.nsfw_allowed(GUILD)
    await service.set_nsfw(GUILD, True, MOD)
    with pytest.raises(UserError, match="`gore`"):
        _check(service, "g 0 r e")
    await service.set_default_blocklist(GUILD, False, MOD)
    _check(service, "gore")
    restarted = _service(database, default_blocklist=["gore"])
    await restarted.load()
    assert restarted.nsfw_allowed(GUILD) and not restarted.nsfw_allowed(2)
    _check(restarted, "gore")
    rules = restarted.server_rules(GUILD)
    assert (rules.default_rules, rules.nsfw_allowed) == (0, True)
    assert await _actions(restarted) == ["safety nsfw", "blocklist defaults"]


async def test_a_bad_default_rule_stops_start_up_naming_the_key(database: Database) -> None:
    with pytest.raises(ConfigError, match=r"moderation.default_blocklist: .*backtracks"):
        await _service(database, default_blocklist=["re:(b|bb)*c"]).load()


async def test_the_rules_see_the_final_prompt_after_the_channel_theme(
        tmp_path: Path, shared_engine: Any) -> None:
    settings = settings_from_dict({"storage": {"database": "m.db"}}, base_dir=tmp_path)
    async with open_app(settings, sources=("cli",), recover=False, wait_for_model=False,
                        start_model=False, factory=lambda: shared_engine) as app:
        await app.themes.set(GUILD, CHANNEL, app.themes.build("a photo of a c.a.t,"),
                             user_id=9, user_name="mod")
        await app.moderation.add_rule(GUILD, "cat", MOD)
        request = JobRequest(DreamRequest(prompt="in the snow"), ALICE)
        with pytest.raises(UserError, match="the prompt matches the rule `cat`"):
            await app.generation.submit(request)
        assert await app.moderation.recent(GUILD, 7) == []  # nothing recorded


def test_the_readmes_moderation_config_loads() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Safety and moderation", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"^```toml\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    settings = settings_from_dict(tomllib.loads(block))
    assert settings.quotas.per_hour == 30
    rule = parse_rule(settings.moderation.default_blocklist[1])
    assert rule.pattern is not None and rule.pattern.search("a bloody mess")
