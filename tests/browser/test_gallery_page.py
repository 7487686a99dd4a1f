"""The exported gallery in a real headless chromium: every image loads from the file alone,
the topic shows, and a ``<script>`` prompt is text, never run."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from bot.render.gallery import build_gallery
from tests.render.test_gallery import HOSTILE, _read, _summary

LOADED = """() => [...document.images].map(i => i.complete && i.naturalWidth > 0)"""


async def _open(browser: Any, path: Path) -> Any:
    # No network at all: a gallery must need none.
    context = await browser.new_context(offline=True)
    page = await context.new_page()
    await page.goto(path.as_uri())
    await page.wait_for_load_state("load")
    return page


async def test_the_gallery_file_shows_everything_offline(browser: Any, tmp_path: Path) -> None:
    summary, roots = _summary(tmp_path)
    gallery = build_gallery(summary, roots, [], _read, limit=2**30)
    path = tmp_path / "party-3.html"
    path.write_bytes(gallery.html)
    page = await _open(browser, path)
    loaded = await page.evaluate(LOADED)
    assert loaded == [True] * 7  # the best three and all four
    assert await page.inner_text("#topic") == "loneliness <b>bold</b>"
    figure = page.locator('#images figure[data-job="11"] .prompt')
    assert await figure.inner_text() == HOSTILE
    assert await page.evaluate("() => document.title") == "Party: loneliness <b>bold</b>"
    assert await page.evaluate("() => document.scripts.length") == 0


async def test_the_zip_gallery_shows_its_image_files(browser: Any, tmp_path: Path) -> None:
    summary, roots = _summary(tmp_path)
    gallery = build_gallery(summary, roots, [], _read, limit=1000)
    assert gallery.zip is not None
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(io.BytesIO(gallery.zip)) as archive:
        archive.extractall(folder)
    page = await _open(browser, folder / "index.html")
    assert await page.evaluate(LOADED) == [True] * 7
    assert await page.inner_text("#topic") == "loneliness <b>bold</b>"
