"""A real headless Chromium (Debian's ``chromium``, driven by Playwright for Python).

Playwright cannot download its own browser on these machines, so it is pointed at the system's
chromium (``.ci/run`` and ``scripts/setup`` install it). Without one the tests are skipped —
except where ``NEUROSTREAM_REQUIRE_BROWSER=1`` (CI sets it), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest


def chromium_path() -> Path | None:
    """The chromium to drive: ``NEUROSTREAM_CHROMIUM``, else the one on the PATH."""
    configured = os.environ.get("NEUROSTREAM_CHROMIUM")
    found = configured or shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found and Path(found).exists() else None


def _missing(why: str) -> None:
    if os.environ.get("NEUROSTREAM_REQUIRE_BROWSER") == "1":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A launched headless chromium."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (.venv/bin/pip install playwright)")
    executable = chromium_path()
    if executable is None:
        _missing("no chromium found (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), args=["--no-sandbox", "--disable-gpu"])
        try:
            yield launched
        finally:
            await launched.close()
