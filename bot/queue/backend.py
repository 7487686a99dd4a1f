"""The seam between the queue and whatever generates: in-process now, Ray Serve later."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from PIL import Image

from bot.domain.recipe import Mode, Recipe

if TYPE_CHECKING:
    from bot.inference.engine import Engine, GenerationResult, StepProgress
    from bot.inference.worker import InferenceWorker

ProgressCallback = Callable[["StepProgress"], None]


class Backend(Protocol):
    """Generates a batch of compatible recipes; progress arrives on the event loop."""

    @property
    def model_id(self) -> str:
        """The model every recipe is rendered with."""
        ...

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: ProgressCallback | None,
                       cancel: threading.Event) -> GenerationResult:
        """Render ``recipes`` in one call; raises GenerationCancelled if ``cancel`` is set."""
        ...


def _open_rgb(path: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _open_mask(path: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("L")


class InProcessBackend:
    """Runs generations on the one inference worker thread of this process."""

    def __init__(self, worker: InferenceWorker[Engine], *,
                 progress_interval: float = 0.5) -> None:
        """Every reported step wakes the event loop's thread, which on a CPU takes a core from
        torch mid-step; nobody needs more than two a second (messages are edited every 1.5 s).
        """
        self._worker = worker
        self._progress_interval = progress_interval

    @property
    def model_id(self) -> str:
        """The model the worker loaded."""
        return self._worker.engine.model_id

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: ProgressCallback | None,
                       cancel: threading.Event) -> GenerationResult:
        """Render on the worker thread; input images are read there too (no I/O on the loop)."""
        loop = asyncio.get_running_loop()
        progress = self._worker.thread_safe(loop, on_progress) if on_progress else None
        recipes = list(recipes)

        def run(engine: Engine) -> GenerationResult:
            images = masks = None
            if recipes[0].mode is not Mode.TXT2IMG:
                images = [_open_rgb(r.init_image or "") for r in recipes]
            if recipes[0].mode is Mode.INPAINT:
                masks = [_open_mask(r.mask_image or "") for r in recipes]
            return engine.generate(recipes, images=images, masks=masks, progress=progress,
                                   progress_interval=self._progress_interval, cancel=cancel)

        return await self._worker.call(run)
