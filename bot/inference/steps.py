"""Progress, cancelling and step timing of one generation: diffusers' step-end callback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from bot.domain.errors import GenerationCancelled
from bot.inference.results import StepProgress

ProgressCallback = Callable[[StepProgress], None]


class StepReporter:
    """Progress, cancelling and step timing of one generation, over one or more pipeline calls
    (an upscale's tiles are ``parts``: step counts run on from one to the next)."""

    def __init__(self, steps: int, started: float, *, progress: ProgressCallback | None,
                 interval: float, cancel: threading.Event | None,
                 preview: Callable[[Any], Image.Image | None],
                 synchronize: Callable[[], None]) -> None:
        self._preview = preview
        self._synchronize = synchronize
        self._steps = steps
        self._started = started
        self._progress = progress
        self._interval = interval
        self._cancel = cancel
        self._reported = float("-inf")
        self.stamps: list[float] = []
        self.parts = 1
        self.part = 0

    def callback(self, pipeline: Any, index: int, timestep: Any,
                 tensors: dict[str, Any]) -> dict[str, Any]:
        """diffusers' ``callback_on_step_end``: report the step, stop if cancelled."""
        self._synchronize()  # GPUs run ahead of Python: time the step, not its launch
        now = time.perf_counter()
        self.stamps.append(now)
        per_part = int(getattr(pipeline, "num_timesteps", self._steps) or self._steps)
        step, total = self.part * per_part + index + 1, per_part * self.parts
        if self._progress is not None and (now - self._reported >= self._interval
                                           or step in (1, total)):
            self._reported = now
            preview = self._preview(tensors["latents"])
            self._progress(StepProgress(step, total, now - self._started, preview))
        if self._cancel is not None and self._cancel.is_set():
            # The documented interrupt flag alone would still VAE-decode the half image
            # (seconds on CPU); raising stops right here.
            pipeline._interrupt = True
            raise GenerationCancelled(f"cancelled after step {step}")
        return tensors

    @property
    def step_seconds(self) -> float:
        """Seconds per denoising step, measured."""
        if len(self.stamps) >= 2:
            return (self.stamps[-1] - self.stamps[0]) / (len(self.stamps) - 1)
        return self.stamps[0] - self._started if self.stamps else 0.0
