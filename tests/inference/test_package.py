"""``import bot.inference`` stays cheap: torch and diffusers load on first use of a name."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_package_loads_no_torch() -> None:
    code = ("import sys, bot.inference; "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_resolve() -> None:
    import bot.inference as inference

    assert set(inference.__all__) <= set(dir(inference)) | set(inference._LOCATIONS)
    assert callable(inference.load_engine)
    assert inference.IN_MEMORY == "<memory>"
