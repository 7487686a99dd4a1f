"""The queue and the result types need no torch: a backend (a scale-out client) imports neither
torch nor diffusers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_queue_and_the_result_types_import_no_torch() -> None:
    code = ("import sys\n"
            "import bot.queue, bot.queue.dispatch\n"
            "from bot.inference import GenerationResult, StepProgress\n"
            "from bot.inference.engine import GenerationResult as Moved\n"
            "assert Moved is GenerationResult\n"
            "print(sorted(m for m in ('torch', 'diffusers') if m in sys.modules))\n")
    # The engine is imported last, on purpose: until then nothing may have pulled torch in.
    probe = code.replace("from bot.inference.engine import GenerationResult as Moved\n"
                         "assert Moved is GenerationResult\n", "")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    assert loaded == "[]"
    moved = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True,
                           capture_output=True, text=True).stdout.strip()
    assert "torch" in moved  # the probe sees torch when it is there; the engine re-exports
