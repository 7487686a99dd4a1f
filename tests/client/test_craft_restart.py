"""A ``/styles`` grid interrupted by a restart half-way, over the wire-level fake: after the
restart the same grid message carries the finished labelled grid with a button per cell, no
cell is posted as a result of its own, and each cell is rendered once."""

from __future__ import annotations

import io
import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from PIL import Image

from bot.domain.errors import GenerationCancelled
from bot.domain.recipe import Recipe
from bot.render.grid import grid_layout
from tests.client.conftest import Env
from tests.client.test_grid import _run_bot

RESULT_TIMEOUT = 120.0
TINY = {"steps": 2, "width": 64, "height": 64}
ARTISTS, TECHNIQUES = ["Edvard Munch", "Salvador Dalí"], ["oil painting", "watercolor"]


class HeldEngine:
    """The shared tiny engine that renders ``renders`` calls, then holds every later call
    until the queue stops it (as a shutdown does), so a restart comes half-way through."""

    def __init__(self, engine: Any, renders: int, rendered: list[str]) -> None:
        self._engine = engine
        self._left = renders
        self.rendered = rendered  # every prompt actually rendered, across both runs
        self.holding = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def generate(self, recipes: Sequence[Recipe], **kwargs: Any) -> Any:
        """Render, or hold until cancelled (on the worker thread)."""
        cancel: threading.Event | None = kwargs.get("cancel")
        if self._left <= 0 and cancel is not None:
            self.holding.set()
            cancel.wait()
            raise GenerationCancelled("stopped by the restart")
        self._left -= 1
        result = self._engine.generate(recipes, **kwargs)
        self.rendered.extend(recipe.prompt for recipe in recipes)
        return result


def _jobs(env: Env) -> list[tuple[int, str, str, int | None]]:
    """(id, state, prompt, delivered message) of every job, in order."""
    import json

    with sqlite3.connect(env.settings.database_path) as db:
        rows = db.execute("SELECT id, state, recipe, message_id FROM jobs ORDER BY id").fetchall()
    return [(job_id, state, json.loads(recipe)["prompt"], message)
            for job_id, state, recipe, message in rows]


def _group_message(env: Env) -> int | None:
    """The grid's message, recorded before its cells are marked delivered with it."""
    with sqlite3.connect(env.settings.database_path) as db:
        ((message,),) = db.execute("SELECT message_id FROM job_groups").fetchall()
    return int(message) if message is not None else None


async def test_a_styles_grid_restarted_half_way_is_finished_as_one_grid_message(
        env: Env, shared_engine: Any) -> None:
    world, fake = env.world, env.fake
    rendered: list[str] = []
    first = HeldEngine(shared_engine, 2, rendered)
    async with _run_bot(env, lambda: first):
        handle = await fake.send_command(
            world.guild, world.channel, world.alice, "styles",
            {"subject": "a spoon", "artists": ", ".join(ARTISTS),
             "techniques": ", ".join(TECHNIQUES), "seed": 21, **TINY})
        await handle.wait_acked(timeout=3)
        await fake.wait_for(first.holding.is_set, timeout=RESULT_TIMEOUT,
                            what="two cells made and the third one held")
    # Half-way: two cells made, the held one and the last one back in the queue.
    assert [state for _, state, _, _ in _jobs(env)] == ["done", "done", "queued", "queued"]

    async with _run_bot(env, lambda: HeldEngine(shared_engine, 99, rendered)):
        await fake.wait_for(lambda: all(message for *_, message in _jobs(env)),
                            timeout=RESULT_TIMEOUT, what="every cell delivered")
    jobs = _jobs(env)
    grid = handle.original
    assert grid is not None
    # ONE message carries the grid: the interaction's response, with a button per cell.
    assert grid.custom_ids() == [f"ns:cell:{job_id}" for job_id, *_ in jobs]
    assert [m.id for m in fake.channel_messages(world.channel) if m.attachments] == [grid.id]
    assert not handle.followups
    assert {message for *_, message in jobs} == {grid.id} and _group_message(env) == grid.id
    layout = grid_layout(4, 2, cell_size=(64, 64), row_labels=ARTISTS, column_labels=TECHNIQUES)
    with Image.open(io.BytesIO(grid.attachments[0].data)) as image:
        assert image.size == (layout.width, layout.height)
    # No cell was ever shown as a result of its own (a job's marker), before or after.
    footers = [embed.get("footer", {}).get("text", "")
               for state in [*grid.history, {"embeds": grid.embeds}]
               for embed in state.get("embeds") or []]
    assert not [footer for footer in footers if "job #" in footer]
    assert any("styles #" in footer for footer in footers)
    # Each cell rendered once, across both runs.
    assert Counter(rendered) == Counter(prompt for _, _, prompt, _ in jobs)
    assert len(set(rendered)) == 4
