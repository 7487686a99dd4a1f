"""``neurostream styles`` and ``neurostream xy`` end to end in a subprocess: the grid PNG and
the cells' PNGs (64 px cells, 2 steps); bad arguments → exit 2 with one line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.domain.a1111 import parse_parameters
from bot.render import read_parameters
from bot.render.grid import grid_layout


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    environment.pop("DISCORD_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "neurostream.toml"
    config.write_text('[storage]\ndatabase = "ns.db"\n[worker]\ntorch_threads = 2\n')
    return config


def test_styles_writes_the_grid_and_its_cells(tmp_path: Path) -> None:
    out = tmp_path / "grid"
    result = _run(["styles", "a spoon", "--artists", "Edvard Munch, Salvador Dalí",
                   "--techniques", "oil painting", "--seed", "7", "--steps", "2", "--width",
                   "64", "--height", "64", "--out", str(out), "--config", str(_config(tmp_path))],
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    grid, *cells = [Path(line) for line in result.stdout.splitlines()]
    assert grid.parent == out and grid.name.startswith("styles-") and grid.suffix == ".png"
    layout = grid_layout(2, 1, cell_size=(64, 64), row_labels=["Edvard Munch", "Salvador Dalí"],
                         column_labels=["oil painting"])
    with Image.open(grid) as image:
        assert image.size == (layout.width, layout.height)
    assert len(cells) == 2 and all(cell.parent == out and cell.exists() for cell in cells)
    prompts = [parse_parameters(read_parameters(cell) or "") for cell in cells]
    assert [p["Seed"] for p in prompts] == ["7", "7"]
    assert "by Edvard Munch" in prompts[0]["prompt"] and "by Salvador Dali" in prompts[1]["prompt"]
    with sqlite3.connect(tmp_path / "ns.db") as db:
        assert db.execute("SELECT kind, title FROM job_groups").fetchall() == [
            ("styles", "a spoon")]


def test_xy_writes_a_plot_with_the_plotted_values(tmp_path: Path) -> None:
    result = _run(["xy", "a lighthouse", "--x", "steps", "--x-values", "1, 2", "--seed", "3",
                   "--out", str(tmp_path / "xy"), "--config", str(_config(tmp_path))],
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    grid, *cells = [Path(line) for line in result.stdout.splitlines()]
    assert grid.name.startswith("xy-") and grid.exists()
    assert [parse_parameters(read_parameters(cell) or "")["Steps"] for cell in cells] == ["1", "2"]


@pytest.mark.parametrize(("args", "needle"), [
    (["styles", "a spoon", "--artists", ", ".join("abcdefg")],
     "at most 6 artists and 6 techniques, got 7 and 0"),
    (["xy", "a cat", "--x", "colour", "--x-values", "1"], "an axis must be one of steps"),
    (["xy", "a cat", "--x", "steps"], "required: --x-values"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    result = _run([*args, "--config", str(_config(tmp_path))], cwd=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
