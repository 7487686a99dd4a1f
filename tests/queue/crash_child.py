"""A process that queues an img2img job whose input is only in the attachments store, then is
killed mid-generation: ``python -m tests.queue.crash_child WORKDIR IMAGE``.

It opens the app with the tiny model, stores IMAGE's bytes with ``app.attachments.put``,
deletes IMAGE, submits the job (source ``discord``) and prints one JSON line once the model is
inside the job's first step. The model is then held there, so the parent's SIGKILL lands while
the job is running, with no race against the job finishing.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.app import engine_factory, open_app
from bot.config import Settings, settings_from_dict
from bot.domain import Mode, Recipe, Requester
from bot.queue import EventKind

if TYPE_CHECKING:
    from bot.inference.engine import Engine

SOURCES = ("discord",)


def settings_for(workdir: Path) -> Settings:
    """The settings both processes open the app with."""
    return settings_from_dict(
        {"storage": {"database": "crash.db", "output_dir": "out"},
         "model": {"id": "tiny", "device": "cpu"}, "worker": {"torch_threads": 1}},
        base_dir=workdir)


def recipe_for(ref: str) -> Recipe:
    """The img2img recipe that starts from the stored image ``ref``."""
    return Recipe(prompt="a lighthouse at dusk", width=64, height=64, steps=4, seed=7,
                  mode=Mode.IMG2IMG, strength=0.75, init_image=ref)


async def main(workdir: Path, image: Path) -> None:
    """Queue the job, report it once it runs, and wait to be killed."""
    settings = settings_for(workdir)
    hold = threading.Event()  # never set: only SIGKILL ends this process

    def held_engine() -> Engine:
        engine = engine_factory(settings)()
        generate = engine.generate

        def generate_then_hold(recipes: Any, *, progress: Any = None, **kwargs: Any) -> Any:
            def on_step(step: Any) -> None:
                progress(step)
                hold.wait()  # the worker thread stays inside the first step

            return generate(recipes, progress=on_step, **kwargs)

        engine.generate = generate_then_hold  # type: ignore[method-assign]
        return engine

    async with open_app(settings, sources=SOURCES, recover=False, factory=held_engine) as app:
        attachment = await app.attachments.put(image.read_bytes())
        image.unlink()  # from now on the stored bytes are the only copy
        job = await app.queue.submit(recipe_for(attachment.ref),
                                     Requester(user_id=1, guild_id=2, channel_id=3,
                                               source="discord"))
        events = app.queue.subscribe(job.id)
        while (event := await events.get()).kind is not EventKind.PROGRESS:
            if event.kind.final:  # it did not even start: say why, and let the test fail
                print(json.dumps({"job": job.id, "error": event.job.error}), flush=True)
                return
        print(json.dumps({"job": job.id, "ref": attachment.ref}), flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
