"""The craft service over the real app (aiosqlite, queue, tiny model): a grid is one job group
that is drawn again from the database after a restart, each cell rendered once."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import open_app
from bot.config import settings_from_dict
from bot.domain.errors import UserError
from bot.domain.jobs import JobState, Requester
from bot.render.grid import PLACEHOLDER, grid_layout

TINY = {"steps": 2, "width": 64, "height": 64}


def _settings(tmp_path: Path) -> Any:
    return settings_from_dict({"storage": {"database": "ns.db", "output_dir": "out"},
                               "queue": {"max_per_user": 0, "max_batch": 1}},
                              base_dir=tmp_path)


async def test_a_grid_interrupted_before_it_ran_resumes_each_cell_once(
        tmp_path: Path, shared_engine: Any) -> None:
    settings = _settings(tmp_path)
    # The first process records the grid and stops before any cell runs (the model never
    # loads), as a crash would leave it.
    async with open_app(settings, sources=("cli",), recover=False, factory=lambda: shared_engine,
                        wait_for_model=False, start_model=False) as first:
        grid = await first.craft.styles_grid("a spoon", Requester(), artists="Munch, Dalí",
                                             techniques="oil painting, watercolor", seed=11,
                                             **TINY)
        pending = await first.craft.render(grid)
        assert pending.done == 0
        with Image.open(io.BytesIO(pending.data)) as image:
            first_cell = grid_layout(4, 2, cell_size=(64, 64), row_labels=["Munch", "Dalí"],
                                     column_labels=["oil painting", "watercolor"]).cells[0]
            assert image.getpixel((first_cell.x + 5, first_cell.y + 2)) == PLACEHOLDER
    assert grid.group_id is not None
    async with open_app(settings, sources=("cli",), recover=True,
                        factory=lambda: shared_engine) as second:
        again = await second.craft.grid(grid.group_id)
        assert [job.id for job in again.jobs] == [job.id for job in grid.jobs]
        assert (again.row_labels, again.column_labels) == (("Munch", "Dalí"),
                                                           ("oil painting", "watercolor"))
        final = await second.craft.follow(again, interval=0.0)
        assert final.finished and final.done == 4
        layout = grid_layout(4, 2, cell_size=(64, 64), row_labels=again.row_labels,
                             column_labels=again.column_labels)
        assert final.size == (layout.width, layout.height)
        with pytest.raises(UserError, match="is not in this bot's records"):
            await second.craft.grid(grid.group_id + 100)
    with sqlite3.connect(settings.database_path) as db:
        rows = db.execute("SELECT state, attempts, recipe FROM jobs ORDER BY id").fetchall()
    assert [(state, attempts) for state, attempts, _ in rows] == [(JobState.DONE.value, 1)] * 4
    outputs = sorted(path.name for path in (tmp_path / "out").glob("*.png"))
    assert len(outputs) == 4  # each cell rendered once


async def test_prompt_check_shows_styles_and_names_a_bad_one(tmp_path: Path,
                                                             shared_engine: Any) -> None:
    async with open_app(_settings(tmp_path), sources=("cli",), recover=False,
                        factory=lambda: shared_engine, wait_for_model=False,
                        start_model=False) as app:
        report = app.craft.check("a girl", Requester(), style="sepia, dali")
        assert report.prompt == "a girl, sepia, by Salvador Dali, surrealism"
        assert report.styles == ("sepia", "salvador-dali")
        with pytest.raises(UserError, match="did you mean"):
            app.craft.check("a girl", Requester(), style="sepai")
        assert app.craft.suggest("waterc")[0] == ("Technique · Watercolor", "watercolor")
