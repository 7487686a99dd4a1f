"""Every ```python block of the README runs as written, in order, as one notebook would.

The blocks run in one namespace in a temporary folder (they save images to the current
directory). Only the number of denoising steps is capped, so that the 512² examples take
seconds on two CPU cores: NEUROSTREAM_README_STEPS (default 2) is the cap, and
``NEUROSTREAM_README_STEPS=0`` runs the blocks exactly as written (20 + 15 + 25 steps at 512²,
about a minute on two busy cores).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"
STEPS_CAP = int(os.environ.get("NEUROSTREAM_README_STEPS", "2"))


def python_blocks(markdown: str) -> list[str]:
    """The contents of the ```python fenced blocks of ``markdown``, in order."""
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


def test_the_readme_has_python_examples() -> None:
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert blocks and all("..." not in block for block in blocks)  # no placeholders left


def test_the_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.domain.recipe import Recipe
    from bot.inference.engine import Engine

    if STEPS_CAP:
        real_generate = Engine.generate

        def capped(self: Engine, recipes: Sequence[Recipe], **kwargs: Any) -> Any:
            recipes = [dataclasses.replace(r, steps=min(r.steps, STEPS_CAP)) for r in recipes]
            return real_generate(self, recipes, **kwargs)

        monkeypatch.setattr(Engine, "generate", capped)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    # One torch thread: on two busy cores, torch's two-thread pool made each 512² step ~9×
    # slower (2.8 s against 0.3 s measured), which would make this test slow, not more honest.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for block in python_blocks(README.read_text(encoding="utf-8")):
            exec(compile(block, str(README), "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == ["door.png", "out.png"]
