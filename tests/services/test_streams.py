"""The stream runner with the real app (aiosqlite, queue, tiny pipeline) and a host stub."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.app import open_app
from bot.config import settings_from_dict
from bot.storage.streams import StreamRepository

GUILD, CHANNEL = 1, 10


class QuietHost:
    """A chat side that is always ready and posts nothing; it notes the jobs it is handed."""

    def __init__(self) -> None:
        self.followed = asyncio.Event()

    async def wait_ready(self) -> None:
        return None

    def problem(self, guild_id: int, channel_id: int) -> str | None:
        return None

    async def probe(self, guild_id: int, channel_id: int) -> str | None:
        return None

    def follow(self, job_id: int) -> None:
        self.followed.set()

    async def delivered(self, job_id: int) -> None:
        return None

    async def announce(self, stream: Any, text: str) -> None:
        return None


async def test_a_stop_while_the_next_image_is_being_queued_is_not_undone(
        tmp_path: Path, shared_engine: Any, monkeypatch: Any) -> None:
    settings = settings_from_dict(
        {"storage": {"database": "s.db", "output_dir": "out"},
         "model": {"width": 64, "height": 64, "steps": 2}}, base_dir=tmp_path)
    async with open_app(settings, sources=("stream",), recover=False,
                        factory=lambda: shared_engine) as app:
        streams = app.streams
        theme = app.themes.build("a cat")
        await app.themes.set(GUILD, CHANNEL, theme, user_id=7, user_name="mod")
        await streams.add_prompt(GUILD, CHANNEL, "asleep", user_id=7)
        stopped = asyncio.Event()
        real_mark = StreamRepository.mark_image

        async def stop_meanwhile(self: StreamRepository, channel_id: int, at: float) -> None:
            # A moderator's /stream stop lands while the runner records its next image.
            await streams.stop(CHANNEL, "stopped by a moderator")
            await real_mark(self, channel_id, at)
            stopped.set()

        monkeypatch.setattr(StreamRepository, "mark_image", stop_meanwhile)
        await streams.start(GUILD, CHANNEL, 0.1, user_id=7)
        host = QuietHost()
        streams.start_runner(host)
        try:
            await asyncio.wait_for(stopped.wait(), 60)
            # The runner hands the image it queued to the host after recording it: by then
            # any undoing of the stop would have happened.
            await asyncio.wait_for(host.followed.wait(), 60)
            assert not streams.is_running(CHANNEL)
            status = await streams.status(CHANNEL)
            assert status.stream is not None and not status.stream.running
        finally:
            await streams.stop_runner()
