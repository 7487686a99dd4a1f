"""bot/domain is pure: importing it loads neither discord, torch, diffusers nor a database."""

from __future__ import annotations

import subprocess
import sys


def test_domain_imports_nothing_heavy() -> None:
    code = ("import sys, bot.domain, bot.domain.a1111, bot.domain.scheduling, "
            "bot.domain.requests\n"
            "bad = [m for m in ('discord', 'torch', 'diffusers', 'aiosqlite', 'sqlite3') "
            "if m in sys.modules]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
