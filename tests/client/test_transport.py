"""The transport's judgement of an interaction token, by this host's clock (no Discord)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from bot.client.transport import TOKEN_MARGIN, DiscordTransport
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.recipe import Recipe

RECEIVED = 1_000_000.0
EXPIRES = RECEIVED + 15 * 60


def _job(token: str | None = "token", expires: float | None = EXPIRES) -> Job:
    requester = Requester(user_id=1, user_name="alice", channel_id=2, interaction_token=token,
                          token_expires_at=expires, source="discord")
    return Job(id=1, recipe=Recipe("a fox"), requester=requester, state=JobState.DONE,
               created_at=RECEIVED)


@pytest.mark.parametrize(("now", "usable"), [
    (RECEIVED, True),
    (EXPIRES - TOKEN_MARGIN - 1, True),
    (EXPIRES - TOKEN_MARGIN, False),  # the margin covers a request in flight
    (EXPIRES + 1, False),
])
def test_a_token_is_used_only_well_before_it_expires(now: float, usable: bool) -> None:
    transport = DiscordTransport(cast(Any, None), cast(Any, None), clock=lambda: now)
    assert transport.token_usable(_job()) is usable


def test_no_token_is_never_usable_and_no_recorded_expiry_is_trusted() -> None:
    transport = DiscordTransport(cast(Any, None), cast(Any, None), clock=lambda: EXPIRES * 2)
    assert not transport.token_usable(_job(token=None))
    assert transport.token_usable(_job(expires=None))  # no expiry recorded: Discord judges
