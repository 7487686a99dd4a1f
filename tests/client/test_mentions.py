"""Hostile text over the wire-level fake: nothing the bot sends pings anyone but the requester,
and user text is shown as typed (escaped), whatever the prompt, negative or theme holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.client.conftest import Env
from tests.client.test_dream import RESULT_TIMEOUT, _is_result, _result
from tests.fake_discord import FakeDiscord, InteractionHandle, RecordedRequest
from tests.fake_discord.models import StoredMessage

ZWSP = "\u200b"


def _hostile(env: Env) -> str:
    role = env.fake.add_role(env.world.guild, "artists")
    bob = env.fake.add_member(env.world.guild, "bob")
    return f"@everyone @here <@&{role.id}> <@{bob.id}> ``` **bold** [x](https://e.com/a)"


def _message_payloads(fake: FakeDiscord) -> Iterator[tuple[RecordedRequest, dict[str, Any]]]:
    """Every message body the bot sent: posts, edits, interaction responses and follow-ups."""
    for request in fake.requests:
        body = request.json
        if request.method not in ("POST", "PATCH") or not isinstance(body, dict):
            continue
        if request.path.endswith("/callback"):
            body = body.get("data") or {}
        if "content" in body or "embeds" in body:
            yield request, body


def _assert_pings_at_most(fake: FakeDiscord, requester_id: int) -> None:
    payloads = list(_message_payloads(fake))
    assert payloads
    for request, body in payloads:
        allowed = body.get("allowed_mentions")
        where = f"{request.method} {request.path}"
        # No allowed_mentions at all means "ping everything the content names".
        assert allowed is not None, where
        assert allowed.get("parse", []) == [] and allowed.get("roles", []) == [], where
        assert {int(user) for user in allowed.get("users", [])} <= {requester_id}, where
    for message in fake.state.messages.values():
        assert set(message.mentions) <= {requester_id}, message.content
        assert message.mention_roles == [] and not message.mention_everyone, message.content


async def _reply(handle: InteractionHandle) -> StoredMessage:
    return await handle.wait_original(timeout=10)


async def test_no_payload_pings_anyone_but_the_requester(env: Env) -> None:
    world, fake = env.world, env.fake
    hostile = _hostile(env)
    other = fake.add_channel(world.guild, "dogs")
    # 80 words fill the 77-token window: the hostile words come back in the warning.
    prompt = " ".join(["red"] * 80) + " " + hostile
    async with env.run_bot():
        theme = await _reply(await fake.send_command(
            world.guild, world.channel, world.mod, "theme set",
            {"prefix": f"cats {hostile}", "suffix": hostile, "negative": hostile,
             "width": 64, "height": 64, "steps": 2}))
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": prompt, "negative": hostile})
        result = await _result(handle)
        shown = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                     "theme show"))
        history = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                       "theme history"))
        # A result that comes after the token expired is a channel post naming its requester.
        # A long job ahead keeps the late one waiting until its token has expired; then it is
        # cancelled, so nothing depends on how long it would have taken.
        ahead = await fake.send_command(world.guild, other, world.alice, "dream",
                                        {"prompt": "ahead", "steps": 150})
        await ahead.wait_acked(timeout=3)
        late = await fake.send_command(world.guild, other, world.alice, "dream",
                                       {"prompt": prompt, "negative": hostile, "width": 64,
                                        "height": 64, "steps": 2})
        await late.wait_original(lambda m: "queue" in m.content, timeout=30)
        fake.expire_token(late)
        await _reply(await fake.send_command(world.guild, other, world.alice, "cancel",
                                             {"job": 2}))  # the job ahead
        posted = await fake.wait_for(
            lambda: next((m for m in fake.channel_messages(other)
                          if _is_result(m) and m.interaction_id is None), None),
            timeout=RESULT_TIMEOUT, what="the late result posted to the channel")
    _assert_pings_at_most(fake, world.alice.id)
    assert posted.mentions == [world.alice.id]
    # The hostile words were shown, escaped: in the theme replies and the waiting messages.
    waiting = [state.get("content") or "" for state in result.history]
    for text in (theme.content, shown.content, *waiting):
        assert "@everyone" not in text and "```" not in text
    assert f"@{ZWSP}everyone" in theme.content and "\\*\\*bold\\*\\*" in shown.content
    assert any(f"@{ZWSP}here" in text and "77-token" in text for text in waiting)
    assert "@everyone" not in history.content


async def test_recipe_keeps_a_prompt_with_backticks_in_its_code_block(env: Env) -> None:
    world, fake = env.world, env.fake
    prompt = "a fox ``` @everyone **escaped** ```"
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": prompt, "width": 64, "height": 64,
                                          "steps": 2})
        result = await _result(handle)
        button = next(c for c in result.custom_ids() if c.startswith("ns:recipe:"))
        recipe = await _reply(await fake.click(result, button, world.alice))
        await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                             "stream add", {"prompt": prompt}))
        pool = await _reply(await fake.send_command(world.guild, world.channel, world.mod,
                                                    "stream pool"))
    assert recipe.is_ephemeral and recipe.content.count("```") == 2  # the block's own fences
    command = recipe.content.split("```")[1].strip().replace("`" + ZWSP, "`")
    assert command.startswith(f"/dream prompt:{prompt} ")  # copies back as typed
    assert "```" not in pool.content and "\\*\\*escaped\\*\\*" in pool.content
    _assert_pings_at_most(fake, world.alice.id)
