"""The live wall in a real headless chromium: the images load, a new one appears within 5 s
without a reload, and a ``<script>`` prompt is shown as text, never run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.wall.server import serving
from tests.wall.test_server import HOSTILE, wall_world

SHOWN = """id => {
  const img = document.querySelector('#strip [data-job="' + id + '"] img');
  const stage = document.querySelector('#stage [data-job="' + id + '"] img');
  return Boolean(img && img.complete && img.naturalWidth > 0 && stage);
}"""


async def test_a_new_image_appears_on_the_open_wall(browser: Any, tmp_path: Path) -> None:
    async with wall_world(tmp_path) as world:
        first = await world.result(HOSTILE)
        await world.service.start()
        async with serving(world.service, "127.0.0.1", 0, token="t0k") as url:
            page = await browser.new_page()
            await page.goto(url)
            await page.wait_for_function(SHOWN, arg=first, timeout=5000)
            await page.evaluate("() => { window.notReloaded = true; }")
            # The page is open and listening: an image finished now must arrive by itself.
            await page.wait_for_function("() => document.readyState === 'complete'")
            await world.service_ready() if hasattr(world, "service_ready") else None
            second = await world.result("two old people <img src=x onerror=alert(1)>",
                                        colour=200)
            await page.wait_for_function(SHOWN, arg=second, timeout=5000)
            assert await page.evaluate("() => window.notReloaded") is True
            assert await page.evaluate("() => window.pwned") is None
            words = page.locator(f'#strip [data-job="{second}"] .words')
            assert await words.inner_text() == "two old people <img src=x onerror=alert(1)>"
            first_words = page.locator(f'#strip [data-job="{first}"] .words')
            assert await first_words.inner_text() == HOSTILE
            assert await page.locator("#strip img").count() == 2
