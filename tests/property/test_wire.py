"""Hostile input over the wire-level fake, property-based (a smaller run: each example is a few
real interactions): random commands with forged options and forged button custom_ids. Whatever
arrives, no exception goes unhandled, no payload permits a ping, every payload is within
Discord's limits (the fake answers 400 to one that is not), and the bot keeps serving."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import open_app
from bot.client.bot import NeurostreamBot
from bot.config import settings_from_dict
from tests.fake_discord import (
    FakeDiscord,
    InteractionHandle,
    RecordedRequest,
    World,
    build_world,
    run_client,
)
from tests.fake_discord.models import FakeMember, FakeRole
from tests.property.test_request_path import HOSTILE

MANAGE_GUILD = 1 << 5
WIRE = settings(max_examples=40, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass
class Running:
    """The fake, its world and the bot serving it for the whole run."""

    fake: FakeDiscord
    world: World
    admin: FakeMember
    role: FakeRole
    bob: FakeMember
    bot: NeurostreamBot


@pytest.fixture
async def running(tmp_path: Path, shared_engine: Any) -> AsyncIterator[Running]:
    """One bot over one fake for every example (a start per example would take minutes)."""
    async with FakeDiscord(token="test-token") as fake:
        fake.patch_discord()
        world = build_world(fake)
        role = fake.add_role(world.guild, "artists")
        admin = fake.add_member(world.guild, "admin", permissions=MANAGE_GUILD)
        bob = fake.add_member(world.guild, "bob", roles=[role])
        config = settings_from_dict(
            {"model": {"steps": 1, "width": 64, "height": 64},
             "storage": {"database": "ns.db", "output_dir": "outputs"},
             "discord": {"dev_guild_ids": [world.guild.id]}, "queue": {"max_batch": 1}},
            base_dir=tmp_path)
        async with open_app(config, sources=("discord",), recover=True,
                            factory=lambda: shared_engine) as app:
            bot = NeurostreamBot(app, config, guild_ready_timeout=0.05)
            async with run_client(fake, bot):
                yield Running(fake, world, admin, role, bob, bot)
                # Let what was queued finish before the bot closes.
                await fake.wait_for(lambda: not app.queue.waiting() and not app.queue.running(),
                                    timeout=120, what="the queue to drain")


TEXT = st.lists(st.one_of(st.text(max_size=10), HOSTILE), max_size=8).map("".join)
LONG = st.integers(0, 7000).map(lambda n: ("@everyone " * n)[:n])
ANY_TEXT = st.one_of(TEXT, TEXT, LONG)
BIG_INT = st.integers(-(2**64), 2**64) | st.integers(0, 200)


def _actions(run: Running) -> st.SearchStrategy[tuple[str, FakeMember, dict[str, Any]]]:
    """A command, who sends it and its options (drawn past the declared ranges)."""
    world = run.world
    members = st.sampled_from([world.alice, run.bob, world.mod])
    return st.one_of(
        st.tuples(st.just("dream"), members, st.fixed_dictionaries(
            {"prompt": ANY_TEXT}, optional={"negative": ANY_TEXT, "seed": BIG_INT,
                                            "steps": BIG_INT, "width": BIG_INT})),
        st.tuples(st.sampled_from(["blocklist add", "blocklist remove"]), st.just(world.mod),
                  st.fixed_dictionaries({"rule": ANY_TEXT | TEXT.map(lambda t: "re:" + t)})),
        st.tuples(st.just("mod deny"), st.just(world.mod), st.fixed_dictionaries(
            {"member": st.sampled_from([world.alice, run.bob])},
            optional={"reason": ANY_TEXT, "duration": TEXT | st.sampled_from(["5m", "1w"])})),
        st.tuples(st.just("mod allow"), st.just(world.mod),
                  st.fixed_dictionaries({"member": st.sampled_from([world.alice, run.bob])})),
        st.tuples(st.just("theme set"), st.just(world.mod), st.fixed_dictionaries(
            {"prefix": ANY_TEXT}, optional={"suffix": TEXT, "negative": TEXT})),
        st.tuples(st.just("quota set"), st.just(run.admin), st.fixed_dictionaries(
            {}, optional={"per_minute": BIG_INT, "per_hour": BIG_INT})),
        st.tuples(st.just("quota exempt"), st.just(run.admin),
                  st.fixed_dictionaries({"role": st.just(run.role)},
                                        optional={"exempt": st.booleans()})),
        st.tuples(st.just("safety nsfw"), st.just(run.admin),
                  st.fixed_dictionaries({"setting": st.sampled_from(["allow", "deny"]) | TEXT})),
        st.tuples(st.sampled_from(["blocklist list", "mod log", "about"]), members,
                  st.just({})),
        st.tuples(st.just("mod recent"), st.just(world.mod),
                  st.fixed_dictionaries({"member": st.sampled_from([world.alice, run.bob])})),
        st.tuples(st.just("click"), members, st.fixed_dictionaries(
            {"custom_id": st.tuples(st.sampled_from(["reroll", "delete", "recipe"]),
                                    # recorded ids, and ids past SQLite's 64-bit integers
                                    st.integers(0, 8) | st.integers(2**63 - 2, 10**89)).map(
                lambda kind_id: f"ns:{kind_id[0]}:{kind_id[1]}")})),
    )


async def _answered(handle: InteractionHandle) -> None:
    """Wait until the interaction has its answer (a reply, or a deferral resolved)."""
    await handle.wait_acked(timeout=5)
    await handle.wait_original(timeout=30)


def _errors(records: list[logging.LogRecord]) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in records if r.levelno >= logging.ERROR]


@WIRE
@given(data=st.data())
async def test_random_commands_and_forged_buttons_never_break_the_bot(
        running: Running, data: st.DataObject, caplog: pytest.LogCaptureFixture) -> None:
    run, fake, world = running, running.fake, running.world
    seen_requests, seen_records = len(fake.requests), len(caplog.records)
    for _ in range(data.draw(st.integers(1, 3), label="commands")):
        name, member, options = data.draw(_actions(run), label="command")
        if name == "click":
            message, _ = fake.state.create_message(world.channel, fake.bot_user, {
                "content": "a result", "components": [{"type": 1, "components": [
                    {"type": 2, "style": 1, "label": "x", "custom_id": options["custom_id"]}]}]})
            handle = await fake.click(message, options["custom_id"], member)
        else:
            handle = await fake.send_command(world.guild, world.channel, member, name, options,
                                             validate=False)  # forged: past declared ranges
        await _answered(handle)
    # Still serving: /about answers.
    about = await fake.send_command(world.guild, world.channel, world.alice, "about")
    await _answered(about)
    assert about.original is not None and about.original.embeds
    assert _errors(caplog.records[seen_records:]) == []
    new = fake.requests[seen_requests:]
    for request in new:
        assert request.status < 400, (request.method, request.path, request.response)
    _assert_no_pings(fake, new)


def _assert_no_pings(fake: FakeDiscord, requests: list[RecordedRequest]) -> None:
    """Nothing the bot sent may ping anyone: every message payload carries allowed_mentions
    that permit nothing (no result here goes to the channel, the one post that may name its
    requester), and no stored message of the bot mentions anyone."""
    for request in requests:
        body = request.json
        if request.method not in ("POST", "PATCH") or not isinstance(body, dict):
            continue
        if request.path.endswith("/callback"):
            body = body.get("data") or {}
        if "content" not in body and "embeds" not in body:
            continue
        allowed = body.get("allowed_mentions")
        where = f"{request.method} {request.path}"
        assert allowed is not None, where  # none at all means "ping what the content names"
        assert allowed.get("parse", []) == [] and allowed.get("roles", []) == [], where
        assert allowed.get("users", []) == [], where
    for message in fake.state.messages.values():
        if message.author.id != fake.bot_user.id:
            continue
        assert message.mentions == [] and message.mention_roles == [], message.content
        assert not message.mention_everyone, message.content
