"""The shape's import rules, read from the code (nothing is imported or run).

- ``bot/domain`` is pure: no Discord, torch, Pillow, storage, queue, inference or services.
- Cogs and CLI commands go through the services: they import no storage, queue or inference
  module, and reach no repository, queue or worker through an app object.
- The engine knows no Discord; storage knows no Discord and no torch.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = {
    "bot/domain": ("discord", "torch", "diffusers", "transformers", "aiosqlite", "sqlite3",
                   "PIL", "bot.storage", "bot.queue", "bot.inference", "bot.client",
                   "bot.services"),
    "cogs": ("bot.storage", "bot.queue", "bot.inference", "aiosqlite", "sqlite3", "torch",
             "diffusers"),
    "bot/commands": ("bot.storage", "bot.queue", "bot.inference", "aiosqlite", "sqlite3"),
    "bot/inference": ("discord", "bot.client", "cogs", "bot.services"),
    "bot/storage": ("discord", "cogs", "bot.client", "torch"),
}
# A cog or command reaching a repository, the queue or the worker through an app object.
BYPASS = re.compile(r"\b(?:services|app)\.(?:jobs|queue|database|db|worker)\b")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def violations(root: Path = ROOT) -> list[str]:
    """Every broken rule under ``root``, as ``path:line: what``."""
    bad = []
    for folder, forbidden in RULES.items():
        for path in sorted((root / folder).rglob("*.py")):
            where = path.relative_to(root)
            for line, module in _imports(path):
                if any(module == f or module.startswith(f + ".") for f in forbidden):
                    bad.append(f"{where}:{line}: imports {module}")
            if folder in ("cogs", "bot/commands"):
                for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    if BYPASS.search(text):
                        bad.append(f"{where}:{number}: reaches past the services: "
                                   f"{text.strip()}")
    return bad


def test_the_code_keeps_the_import_rules() -> None:
    assert violations() == []


@pytest.mark.parametrize(("path", "text"), [
    ("cogs/x/_cog.py", "from bot.storage.jobs import JobRepository\n"),
    ("cogs/x/_cog.py", "place = self.bot.services.queue.position(1)\n"),
    ("bot/commands/x.py", "import bot.queue.events\n"),
    ("bot/domain/x.py", "from PIL import Image\n"),
])
def test_a_violation_is_caught(tmp_path: Path, path: str, text: str) -> None:
    target = tmp_path / path
    target.parent.mkdir(parents=True)
    target.write_text(text)
    assert len(violations(tmp_path)) == 1
