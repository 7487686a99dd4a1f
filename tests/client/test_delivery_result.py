"""Delivering a result: the DONE event's own bytes (its file never read), the file only after a
restart, re-encodings carrying the recipe's parameters, a smaller encoding when Discord's limit
is below the one announced."""

from __future__ import annotations

import asyncio
import io
import random
import sqlite3
import time
from pathlib import Path

import pytest
from PIL import Image

from bot.client.delivery import Delivery
from bot.domain.a1111 import format_parameters
from bot.domain.jobs import JobState, Requester
from bot.domain.recipe import Recipe
from bot.queue.events import EventKind, JobEvent, ResultOutput
from bot.render import read_parameters
from bot.render.fit import read_webp_parameters
from bot.render.png import encode_png, result_filename, write_png
from tests.client.conftest import Env
from tests.client.test_delivery import _channel_results, _job_rows_delivered
from tests.client.test_dream import RESULT_TIMEOUT, _result


class ScriptedQueue:
    """The queue as the delivery sees it, its events published by the test."""

    def __init__(self) -> None:
        self.subscribers: dict[int, asyncio.Queue[JobEvent]] = {}
        self.early: list[JobEvent] = []  # published before the delivery subscribed
        self.watching = asyncio.Event()  # the delivery waits on the job's events

    def subscribe(self, job_id: int) -> asyncio.Queue[JobEvent]:
        """The job's events, with those published before the subscription came."""
        events: asyncio.Queue[JobEvent] = asyncio.Queue()
        for event in self.early:
            events.put_nowait(event)
        self.subscribers[job_id] = events
        return events

    def unsubscribe(self, job_id: int, events: asyncio.Queue[JobEvent]) -> None:
        """Forget the subscription."""
        self.subscribers.pop(job_id, None)

    def position(self, job_id: int) -> int | None:
        """Running: no place in the queue (asked once the delivery follows the events)."""
        self.watching.set()
        return None

    def estimate_wait(self, job_id: int) -> float | None:
        """Nothing to wait for."""
        return None

    def publish(self, event: JobEvent) -> None:
        """Hand an event to the delivery."""
        self.subscribers[event.job.id].put_nowait(event)


def _parameters_of(data: bytes, filename: str) -> str | None:
    return (read_parameters(data) if filename.endswith(".png") else read_webp_parameters(data))


async def _deliver_done_event(env: Env, recipe: Recipe, data: bytes, *,
                              ended_while_read: bool = False) -> Path:
    """Deliver a job whose DONE event carries ``data`` to #cats (a stream-like job, no
    interaction) through a delivery fed by the test; its output file is never written."""
    world = env.world
    async with env.run_bot() as bot:
        assert bot.delivery is not None and bot.app is not None
        jobs = bot.app.jobs
        requester = Requester(user_id=world.alice.id, user_name="alice",
                              guild_id=world.guild.id, channel_id=world.channel.id,
                              source="discord")
        job = await jobs.add(recipe, requester)
        await jobs.transition(job.id, JobState.RUNNING, started_at=time.time())
        path = env.settings.output_dir / result_filename(job.id, recipe.seed or 0)
        queue = ScriptedQueue()
        delivery = Delivery(bot, jobs, queue)
        delivery.view_factory = bot.delivery.view_factory
        if not ended_while_read:
            delivery.follow(job.id)
            await queue.watching.wait()
        done = await jobs.transition(job.id, JobState.DONE, output_path=str(path),
                                     finished_at=time.time())
        event = JobEvent(EventKind.DONE, done, output=ResultOutput(data, path.name))
        if ended_while_read:  # the event came before the delivery read the job as done
            queue.early.append(event)
            delivery.follow(job.id)
        else:
            queue.publish(event)
        await delivery.wait_delivered(job.id)
        await delivery.close()
    return path


@pytest.mark.parametrize("ended_while_read", [False, True])
async def test_a_done_event_s_bytes_are_uploaded_and_its_file_never_read(
        env: Env, ended_while_read: bool) -> None:
    recipe = Recipe("a harbour at night", width=64, height=64, steps=2, seed=7)
    data = encode_png(Image.new("RGB", (64, 64), "navy"), format_parameters(recipe))
    path = await _deliver_done_event(env, recipe, data, ended_while_read=ended_while_read)
    (message,) = _channel_results(env)
    assert not path.exists()
    assert message.attachments[0].data == data  # byte-identical: the event's own PNG
    assert message.attachments[0].filename == path.name
    assert f"<@{env.world.alice.id}>" in message.content
    assert _job_rows_delivered(env) == [message.id]


async def test_a_server_limit_below_the_announced_one_gets_a_smaller_encoding(
        env: Env) -> None:
    env.fake.attachment_limit = 300_000  # the job was told 10 MiB (no interaction)
    recipe = Recipe("static over a gradient", width=512, height=512, steps=2, seed=11)
    rng = random.Random(0)
    noise = Image.frombytes("L", (512, 512), rng.randbytes(512 * 512)).point(
        lambda v: v * 96 // 255)
    gradient = Image.linear_gradient("L").resize((512, 512))
    image = Image.merge("RGB", (Image.blend(gradient, noise, 0.5), noise, gradient))
    data = encode_png(image, format_parameters(recipe))
    assert len(data) > 300_000
    await _deliver_done_event(env, recipe, data)
    (message,) = _channel_results(env)
    attachment = message.attachments[0]
    assert [r.status for r in env.fake.requests if r.status == 413] == [413]  # refused once
    assert attachment.size <= 300_000
    assert _parameters_of(attachment.data, attachment.filename) == format_parameters(recipe)
    with Image.open(io.BytesIO(attachment.data)) as uploaded:
        assert uploaded.size == (512, 512)


async def test_a_result_after_a_restart_is_read_from_its_file_with_the_recipe_s_metadata(
        env: Env) -> None:
    world, fake = env.world, env.fake
    fake.attachment_limit = 20_000  # a 128² PNG of the tiny model's noise is larger
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a quay", "width": 128, "height": 128,
                                          "seed": 4})
        await _result(handle)
        await fake.wait_for(lambda: _job_rows_delivered(env)[0] is not None, timeout=10,
                            what="the delivery recorded")
    # As if the bot died before recording the post; meanwhile the file's own metadata changed.
    with sqlite3.connect(env.settings.database_path) as db:
        (path,) = db.execute("SELECT output_path FROM jobs").fetchone()
        db.execute("UPDATE jobs SET message_id = NULL")
    with Image.open(path) as image:
        write_png(Path(path), image.copy(), "not the recipe\nSteps: 1, Seed: 0")
    assert Path(path).stat().st_size > 20_000
    async with env.run_bot() as bot:
        await fake.wait_for(lambda: _job_rows_delivered(env)[0] is not None,
                            timeout=RESULT_TIMEOUT, what="the delivery recorded again")
        assert bot.app is not None
        job = await bot.app.jobs.get(1)
    assert job is not None and handle.original is not None
    attachment = handle.original.attachments[0]
    assert attachment.size <= 20_000  # re-encoded under the limit...
    # ...with the parameters of the recorded recipe, not those read from the file.
    assert _parameters_of(attachment.data, attachment.filename) == format_parameters(job.recipe)
