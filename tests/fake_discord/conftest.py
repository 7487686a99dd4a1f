"""Fixtures for the fake-Discord tests: a running, patched FakeDiscord and a small world."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fake_discord import FakeDiscord
from tests.fake_discord.harness import World, build_world


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord with discord.py patched to talk to it (restored on exit)."""
    async with FakeDiscord(token="test-token") as server:
        server.patch_discord()
        yield server


@pytest_asyncio.fixture
async def world(fake: FakeDiscord) -> World:
    """Guild "g" with #cats, alice and a moderator (Manage Channels + Manage Messages)."""
    return build_world(fake)
