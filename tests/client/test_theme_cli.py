"""``neurostream dream --theme NAME`` applies a preset offline; an unknown name fails fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.domain.a1111 import parse_parameters
from bot.render import read_parameters


def test_cli_theme_applies_a_preset(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    status = main(["dream", "a tabby on a sofa", "--theme", "cats", "--width", "64",
                   "--height", "64", "--steps", "2", "--seed", "5", "--out", str(tmp_path)])
    assert status == 0
    (path,) = capsys.readouterr().out.split()
    meta = parse_parameters(read_parameters(Path(path)) or "")
    assert meta["prompt"].startswith("a cute photograph of a cat, a tabby on a sofa, soft")
    assert meta["negative"].startswith("lowres, blurry")


def test_cli_unknown_theme_fails_before_loading(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dream", "x", "--theme", "nope"]) == 2
    assert "no preset called 'nope'" in capsys.readouterr().err
