"""The image tools on the command line, end to end in a subprocess."""

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

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    environment.pop("DISCORD_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", *args, "--config", "c.toml"], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=300)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "c.toml").write_text('[storage]\ndatabase = "ns.db"\noutput_dir = "out"\n'
                                     '[model]\nwidth = 64\nheight = 64\nsteps = 3\n'
                                     '[worker]\ntorch_threads = 2\n')
    return tmp_path


def _paths(result: subprocess.CompletedProcess[str]) -> list[Path]:
    assert result.returncode == 0, result.stderr
    return [Path(line) for line in result.stdout.splitlines()]


def test_vary_upscale_and_morph_from_the_command_line(workdir: Path) -> None:
    [fox] = _paths(_run(["dream", "a fox", "--seed", "3"], workdir))
    [varied] = _paths(_run(["vary", str(fox), "--strength", "0.35", "--seed", "9"], workdir))
    written = parse_parameters(read_parameters(varied) or "")
    assert (written["Seed"], written["Variation seed"], written["Variation seed strength"]) == (
        "3", "9", "0.35")
    [large] = _paths(_run(["upscale", "1"], workdir))
    with Image.open(large) as image:
        assert image.size == (128, 128)
    # From the image to its variation (a variation is an end of its own).
    *frames, animation, sheet = _paths(_run(["morph", "1", str(varied), "--frames", "2"],
                                            workdir))
    assert len(frames) == 2 and animation.suffix == ".webp" and animation.exists()
    with Image.open(animation) as decoded:
        assert decoded.n_frames == 2
    assert sheet.name.endswith("-sheet.png") and sheet.exists()
    with sqlite3.connect(workdir / "ns.db") as db:
        links = db.execute("SELECT child_id, parent_id, kind FROM job_links "
                           "ORDER BY child_id, position").fetchall()
    assert links == [(2, 1, "variation"), (3, 1, "upscale"), (4, 1, "morph"), (4, 2, "morph"),
                     (5, 1, "morph"), (5, 2, "morph")]


def test_sketch_keeps_the_images_size_and_notes_the_crop(workdir: Path) -> None:
    Image.new("RGB", (100, 70), (20, 90, 200)).save(workdir / "sketch.jpg")
    result = _run(["sketch", "sketch.jpg", "a lake", "--steps", "4", "--seed", "2"], workdir)
    [path] = _paths(result)
    assert "cropped to 96×64" in result.stderr
    with Image.open(path) as image:
        assert image.size == (96, 64)
    assert parse_parameters(read_parameters(path) or "")["Denoising strength"] == "0.6"


@pytest.mark.parametrize(("args", "needle"), [
    (["vary", "1", "--strength", "3"], "variation strength must be a number from 0 to 1"),
    (["vary", "7"], "job 7 is not in this bot's records"),
    (["upscale", "notes.txt"], "'notes.txt' is neither a job number nor a result PNG's path"),
    (["sketch", "missing.png", "a cat"], "cannot read missing.png"),
    (["morph", "1", "2", "--frames", "30"], "frames must be a whole number from 2 to 24"),
])
def test_bad_tool_arguments_exit_2_with_one_line(workdir: Path, args: list[str],
                                                 needle: str) -> None:
    result = _run(args, workdir)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
