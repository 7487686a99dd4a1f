"""The seam between the queue and whatever generates: in-process now, Ray Serve later.

A backend says how many batches it renders at once (``slots``: 1 for the in-process worker, the
replica count for a scale-out backend); the queue runs that many slot tasks. Nothing here
imports torch: the result and progress types live in ``bot.inference.results``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PIL import Image

from bot.domain.errors import GenerationError
from bot.domain.lineage import is_attachment_ref
from bot.domain.recipe import Mode, Recipe

if TYPE_CHECKING:
    from bot.inference.engine import Engine
    from bot.inference.models import ModelPool
    from bot.inference.results import GenerationResult, StepProgress
    from bot.inference.worker import InferenceWorker

ProgressCallback = Callable[["StepProgress"], None]


class Backend(Protocol):
    """Generates a batch of compatible recipes; progress arrives on the event loop."""

    @property
    def model_id(self) -> str:
        """The model every recipe is rendered with."""
        ...

    @property
    def slots(self) -> int:
        """How many ``generate`` calls may run at once (the queue runs that many slots)."""
        ...

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: ProgressCallback | None,
                       cancel: threading.Event) -> GenerationResult:
        """Render ``recipes`` in one call; raises GenerationCancelled if ``cancel`` is set."""
        ...


# Finds the file of a stored image from its ``sha256:<hex>`` reference (AttachmentStore.locate).
Locate = Callable[[str], Path]


def _open(source: str | None, mode: str, locate: Locate | None) -> Image.Image:
    """The image a recipe names (a file path or a stored attachment), converted to ``mode``."""
    path: str | Path = source or ""
    if is_attachment_ref(source):
        if locate is None:
            raise GenerationError(f"the input image {source} is in the attachments store, "
                                  "and this backend has none")
        try:
            path = locate(source or "")
        except FileNotFoundError as error:
            raise GenerationError(str(error)) from None
    with Image.open(path) as image:
        return image.convert(mode)


class InProcessBackend:
    """Runs generations on the one inference worker thread of this process."""

    slots = 1  # one thread owns the model: one batch at a time

    def __init__(self, worker: InferenceWorker[Engine], *, progress_interval: float = 0.5,
                 locate: Locate | None = None, models: ModelPool | None = None) -> None:
        """Every reported step wakes the event loop's thread, which on a CPU takes a core from
        torch mid-step; nobody needs more than two a second (messages are edited every 1.5 s).
        ``locate`` finds input images that recipes name by reference (``sha256:<hex>``).
        ``models`` picks each batch's engine by ``Recipe.model`` (None: the worker's engine
        renders everything); the worker's own engine is its default model's.
        """
        self._worker = worker
        self._progress_interval = progress_interval
        self._locate = locate
        self._models = models

    def switch_seconds(self, model: str) -> float:
        """About how long a job of ``model`` waits for its model to load (0 when loaded)."""
        return self._models.switch_seconds(model) if self._models is not None else 0.0

    @property
    def loading(self) -> str | None:
        """The model being loaded now, if any (for the waiting message)."""
        return self._models.loading if self._models is not None else None

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
            if self._models is not None:
                self._models.adopt(engine)
                loads = self._models.loads
                engine = self._models.engine(recipes[0].model)
                if progress is not None and self._models.loads != loads:
                    from bot.inference.results import StepProgress

                    # Loaded: the step watchdog counts from now, not from the load's start.
                    progress(StepProgress(0, recipes[0].steps, 0.0, None))
            images = masks = None
            if recipes[0].mode is not Mode.TXT2IMG:
                images = [_open(r.init_image, "RGB", self._locate) for r in recipes]
            if recipes[0].mode is Mode.INPAINT:
                masks = [_open(r.mask_image, "L", self._locate) for r in recipes]
            return engine.generate(recipes, images=images, masks=masks, progress=progress,
                                   progress_interval=self._progress_interval, cancel=cancel)

        return await self._worker.call(run)
