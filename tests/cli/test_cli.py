"""The CLI end to end in a subprocess: PNGs and exit 0; bad arguments → exit 2, one line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.domain.a1111 import parse_parameters
from bot.render import read_parameters

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    environment.pop("DISCORD_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_dream_writes_pngs_through_the_job_table(tmp_path: Path) -> None:
    config = tmp_path / "neurostream.toml"
    config.write_text('[storage]\ndatabase = "ns.db"\n[worker]\ntorch_threads = 2\n')
    out = tmp_path / "pngs"
    result = _run(["dream", "a lighthouse at dusk", "--negative", "fog", "--width", "128",
                   "--height", "64", "--steps", "3", "--guidance", "6", "--seed", "41",
                   "--n", "2", "--scheduler", "ddim", "--out", str(out), "--config", str(config)],
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert len(paths) == 2 and all(p.parent == out and p.exists() for p in paths)
    seeds = []
    for path in paths:
        parsed = parse_parameters(read_parameters(path) or "")
        assert parsed["prompt"] == "a lighthouse at dusk" and parsed["negative"] == "fog"
        assert (parsed["Steps"], parsed["Sampler"], parsed["CFG scale"], parsed["Size"],
                parsed["Model"]) == ("3", "DDIM", "6", "128x64", "tiny")
        seeds.append(parsed["Seed"])
    assert seeds == ["41", "42"]
    with sqlite3.connect(tmp_path / "ns.db") as db:
        rows = db.execute("SELECT state, output_path FROM jobs ORDER BY id").fetchall()
    assert rows == [("done", str(paths[0])), ("done", str(paths[1]))]


@pytest.mark.parametrize(("args", "needle"), [
    (["dream", "cat", "--width", "513"], "width must be a multiple of 8 between 64 and 1024, "
                                          "got 513"),
    (["dream", "cat", "--steps", "0"], "steps must be between 1 and 150, got 0"),
    (["dream", "cat", "--steps", "abc"], "invalid int value: 'abc'"),
    (["dream", "   "], "prompt must not be empty"),
    (["dream", "cat", "--scheduler", "warp"], "scheduler must be one of"),
    (["dream", "cat", "--n", "0"], "count must be between 1 and 16, got 0"),
    (["dream"], "required: prompt"),
    (["dream", "cat", "--bogus"], "unrecognized arguments: --bogus"),
    (["dream", "cat", "--config", "missing.toml"], "file not found"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    result = _run(args, cwd=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_value_is_named(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[model]\nsteps_max = "x"\n')
    result = _run(["dream", "cat", "--config", "c.toml"], cwd=tmp_path)
    assert result.returncode == 2
    assert "config: model.steps_max must be an integer between 1 and 150, got 'x'" in result.stderr


def test_run_without_token_explains_how(tmp_path: Path) -> None:
    result = _run(["run"], cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr and "neurostream dream" in result.stderr


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    result = _run(["dream", "cat", "--steps", "1", "--model", str(tmp_path / "nope.safetensors")],
                  cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.safetensors" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["dream", "--help"], ["run", "--help"],
                                  ["sync", "--help"]])
def test_help_everywhere(tmp_path: Path, args: list[str]) -> None:
    result = _run(args, cwd=tmp_path)
    assert result.returncode == 0 and "usage:" in result.stdout


def test_queue_lists_waiting_jobs_in_policy_order(tmp_path: Path) -> None:
    import asyncio

    from bot.domain import Recipe, Requester
    from bot.storage import Database, JobRepository

    async def fill() -> None:
        async with await Database.open(tmp_path / "ns.db") as db:
            jobs = JobRepository(db)
            for user in (1, 1, 2):
                await jobs.add(Recipe(prompt=f"from {user}"),
                               Requester(user_id=user, channel_id=99, source="discord"))

    asyncio.run(fill())
    (tmp_path / "c.toml").write_text('[storage]\ndatabase = "ns.db"\n')
    result = _run(["queue", "--config", "c.toml"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["job", "state", "place", "source"]
    # user 2's only job comes before user 1's second one (round-robin across users)
    assert [line.split()[0] for line in lines[1:]] == ["1", "3", "2"]
    assert all(" 99 " in line for line in lines[1:])


def test_missing_model_fails_before_torch_is_imported(tmp_path: Path) -> None:
    script = ("import sys; from bot.__main__ import main; "
              "status = main(['dream', 'cat', '--model', sys.argv[1]]); "
              "print(status, 'torch' in sys.modules)")
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_DATA_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "nope.safetensors")],
                            cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.split() == ["2", "False"], result.stderr
    assert result.stderr.strip() == (f"neurostream dream: error: model "
                                     f"'{tmp_path / 'nope.safetensors'}': no such file or folder "
                                     f"({tmp_path / 'nope.safetensors'})")


@pytest.fixture
def tiny_cli(monkeypatch: pytest.MonkeyPatch, shared_engine: Any, tmp_path: Path) -> Path:
    """``main()`` in this process on the shared tiny engine, with a data folder in tmp_path;
    returns the current directory (an empty folder)."""
    import bot.app

    monkeypatch.setattr(bot.app, "engine_factory", lambda settings: lambda: shared_engine)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_dream_writes_nothing_in_the_current_folder(tiny_cli: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main
    from bot.config import platform_data_dir

    out = tmp_path / "pngs"
    assert main(["dream", "cat", "--steps", "1", "--width", "64", "--height", "64",
                 "--out", str(out)]) == 0
    printed = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert len(printed) == 1 and printed[0].parent == out and printed[0].exists()
    assert list(tiny_cli.iterdir()) == []  # no neurostream.db beside the user's files
    database = platform_data_dir() / "neurostream.db"
    assert database == tmp_path / "xdg" / "neurostream" / "neurostream.db"
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT output_path FROM jobs").fetchall() == [(str(printed[0]),)]


def test_dream_says_once_which_words_a_long_prompt_loses(
        tiny_cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main

    prompt = " ".join(["cat"] * 80 + ["lost", "words"])  # 75 tokens fit between BOS and EOS
    assert main(["dream", prompt, "--n", "2", "--steps", "1", "--width", "64",
                 "--height", "64"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "note:" in line]
    assert len(notes) == 1, notes
    assert notes[0].startswith("neurostream dream: note: the prompt is longer than the text "
                               "encoder's 77-token window")
    assert notes[0].endswith("these words will be ignored: “cat cat cat cat cat lost words”")
