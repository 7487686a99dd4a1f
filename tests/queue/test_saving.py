"""The DONE event carries the result as written: the PNG's bytes and its file name."""

from __future__ import annotations

from pathlib import Path

from bot.domain import JobState, Recipe, Requester
from bot.domain.a1111 import format_parameters
from bot.queue import EventKind, JobQueue
from bot.render.png import read_parameters
from bot.storage import JobRepository
from bot.storage.database import Database
from tests.queue.gated_backend import GatedBackend


async def test_the_done_event_carries_the_encoded_png(database: Database,
                                                      tmp_path: Path) -> None:
    backend = GatedBackend()
    queue = JobQueue(JobRepository(database), backend, tmp_path / "outputs")
    job = await queue.submit(Recipe(prompt="a kite", width=64, height=64, steps=2, seed=5,
                                    model="gated"), Requester(user_id=1))
    events = queue.subscribe(job.id)
    await queue.start()
    try:
        (await backend.next_call()).allow()
        while not (event := await events.get()).kind.final:
            pass
    finally:
        await queue.close()
    assert event.kind is EventKind.DONE and event.job.state is JobState.DONE
    assert event.output is not None and event.job.output_path
    written = Path(event.job.output_path)
    assert event.output.filename == written.name
    assert event.output.data == written.read_bytes()  # the bytes written, nothing re-read
    assert read_parameters(event.output.data) == format_parameters(event.job.recipe)
