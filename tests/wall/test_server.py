"""The live wall's server over real HTTP: the page, the token, server-sent events, images."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot.config import settings_from_dict
from bot.domain import JobState, Recipe, Requester
from bot.domain.errors import ConfigError
from bot.services.wall import WallService
from bot.storage import Database, JobRepository
from bot.storage.party import PartyRepository
from bot.wall.server import serving
from tests.fake_discord.driver import poll

GUILD, WALLED, QUIET = 1, 2, 3
HOSTILE = "<script>window.pwned = 1</script> two old people"


class WallWorld:
    """A database with a walled channel, results with real PNG files, and the wall's feed."""

    def __init__(self, db: Database, folder: Path) -> None:
        self.jobs = JobRepository(db)
        self.parties = PartyRepository(db)
        self.folder = folder
        self.service = WallService(self.parties, poll=0.05, keep=8)

    async def result(self, prompt: str, *, channel: int = WALLED, colour: int = 90) -> int:
        """A finished result with its PNG on disk."""
        job = await self.jobs.add(Recipe(prompt=prompt, seed=1, width=64, height=64, steps=2),
                                  Requester(user_id=5, user_name="<b>bob</b>", guild_id=GUILD,
                                            channel_id=channel, source="discord"))
        path = self.folder / f"{job.id}.png"
        Image.new("RGB", (64, 64), (colour, 120, 200)).save(path)
        await self.jobs.transition(job.id, JobState.RUNNING)
        await self.jobs.transition(job.id, JobState.DONE, output_path=str(path),
                                   finished_at=time.time())
        return job.id


@contextlib.asynccontextmanager
async def wall_world(tmp_path: Path) -> AsyncIterator[WallWorld]:
    """An open database with ``WALLED`` on the wall."""
    async with await Database.open(tmp_path / "ns.db") as db:
        world = WallWorld(db, tmp_path)
        await world.parties.set_wall(WALLED, guild_id=GUILD, enabled_by=1, enabled=True)
        yield world
        await world.service.close()


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, object]]:
    """The ``image`` events of a server-sent event stream, as they come."""
    event: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if event.get("event") == "image":
                data = json.loads(event["data"])
                assert event.get("id") == repr(data["at"])  # Last-Event-ID: a finish time
                yield data
            event = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            event[key] = value


async def test_the_page_shows_the_newest_images_escaped(tmp_path: Path) -> None:
    async with wall_world(tmp_path) as world:
        shown = await world.result(HOSTILE)
        hidden = await world.result("not on the wall", channel=QUIET)
        async with serving(world.service, "127.0.0.1", 0) as url, \
                aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                page = await response.text()
            async with http.get(f"{url}image/{shown}") as response:
                assert response.status == 200 and response.content_type == "image/png"
            async with http.get(f"{url}image/{hidden}") as response:
                assert response.status == 404  # only channels on the wall and parties
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt; two old people" in page
    assert "<script>window.pwned" not in page and "&lt;b&gt;bob&lt;/b&gt;" in page
    assert f'data-job="{shown}"' in page and f'data-job="{hidden}"' not in page


async def test_a_token_guards_every_route(tmp_path: Path) -> None:
    async with wall_world(tmp_path) as world:
        job = await world.result("a cat")
        async with serving(world.service, "127.0.0.1", 0, token="s3cret") as url, \
                aiohttp.ClientSession() as http:
            base = url.split("?")[0]
            for path in ("", "events", f"image/{job}"):
                async with http.get(base + path) as response:
                    assert response.status == 403, path
                async with http.get(f"{base}{path}?token=wrong") as response:
                    assert response.status == 403, path
            async with http.get(url) as response:
                page = await response.text()
                assert response.status == 200
    assert url.endswith("?token=s3cret")
    assert f"image/{job}?token=s3cret" in page and "events?token=s3cret" in page


async def test_a_new_image_reaches_every_connected_browser(tmp_path: Path) -> None:
    async with wall_world(tmp_path) as world:
        before = await world.result("already there")
        await world.service.start()
        async with serving(world.service, "127.0.0.1", 0) as url, \
                aiohttp.ClientSession() as http:
            streams = [await http.get(f"{url}events") for _ in range(3)]
            await poll(lambda: world.service.watchers == 3, 10, "three browsers connected")
            new = await world.result(HOSTILE)
            firsts = await asyncio.gather(*(asyncio.wait_for(anext(_events(s)), 10)
                                            for s in streams))
            for stream in streams:
                stream.close()
    assert [event["id"] for event in firsts] == [new] * 3  # not the one already there
    assert firsts[0]["words"] == HOSTILE and firsts[0]["src"] == f"image/{new}"
    assert before != new


async def test_a_reconnecting_browser_catches_up_from_its_last_event(tmp_path: Path) -> None:
    async with wall_world(tmp_path) as world:
        first, second, third = [await world.result(f"image {i}") for i in range(3)]
        async with serving(world.service, "127.0.0.1", 0) as url, \
                aiohttp.ClientSession() as http:
            page = await (await http.get(url)).text()
            catch_up = await http.get(f"{url}events?since=0")
            caught = await asyncio.wait_for(anext(_events(catch_up)), 10)
            response = await http.get(f"{url}events",
                                      headers={"Last-Event-ID": repr(caught["at"])})
            events = _events(response)
            got = [await asyncio.wait_for(anext(events), 10) for _ in range(3)]
            response.close()
            catch_up.close()
    assert caught["id"] == first
    # From the first one's finish time on, itself too (a tie may hide another; pages skip it).
    assert [event["id"] for event in got] == [first, second, third]
    assert '"since": ' in page


async def test_a_wall_off_localhost_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("wall.host is '0.0.0.0', not localhost")):
        settings_from_dict({"wall": {"host": "0.0.0.0"}}, base_dir=tmp_path)
    settings_from_dict({"wall": {"host": "0.0.0.0", "token": "t"}}, base_dir=tmp_path)
    from bot.commands.wall import serve_wall

    settings = settings_from_dict({}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=re.escape("--host is '192.168.1.5'")):
        await serve_wall(settings, argparse.Namespace(host="192.168.1.5", port=0))


async def test_the_wall_command_serves_until_stopped(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from bot.commands.wall import serve_wall

    settings = settings_from_dict({"storage": {"database": "ns.db"}}, base_dir=tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_wall(settings, argparse.Namespace(host=None, port=0),
                                          stop))
    url = await poll(lambda: _printed_url(capsys), 10, "the wall's URL printed")
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200 and "Waiting for the first image" in await response.text()
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0


_seen: list[str] = []


def _printed_url(capsys: pytest.CaptureFixture[str]) -> str | None:
    _seen.append(capsys.readouterr().out)
    words = "".join(_seen).split()
    return next((word for word in words if word.startswith("http://127.0.0.1:")), None)

