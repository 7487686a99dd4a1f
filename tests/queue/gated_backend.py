"""A backend without a model whose every step waits for the test: orderings without timing."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from bot.domain.errors import GenerationCancelled
from bot.domain.recipe import Recipe
from bot.inference.results import GenerationResult, StepProgress
from bot.queue.backend import ProgressCallback

STEP_SECONDS = 0.5  # what each gated call reports as its measured cost per step


@dataclass
class GatedCall:
    """One ``generate`` call: its recipes, the queue's cancel flag and the gate of its steps."""

    recipes: list[Recipe]
    cancel: threading.Event
    steps_allowed: int = 0
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def allow(self, steps: int | None = None) -> None:
        """Let ``steps`` more steps run (all of them with None)."""
        self.steps_allowed += steps if steps is not None else self.recipes[0].steps
        self.opened.set()


class GatedBackend:
    """Generates blank images, one step each time the test allows it.

    Like the engine, it checks the cancel flag between steps and raises GenerationCancelled.
    """

    model_id = "gated"

    def __init__(self, slots: int = 1) -> None:
        self.slots = slots  # calls the queue may make at once
        self.calls: asyncio.Queue[GatedCall] = asyncio.Queue()
        self.calls_made: list[GatedCall] = []

    async def next_call(self) -> GatedCall:
        """The next ``generate`` call, once the queue has made it."""
        return await asyncio.wait_for(self.calls.get(), 30)

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: ProgressCallback | None,
                       cancel: threading.Event) -> GenerationResult:
        """Run the steps the test allows; raise GenerationCancelled if the queue cancelled."""
        call = GatedCall(list(recipes), cancel)
        self.calls.put_nowait(call)
        self.calls_made.append(call)
        total = call.recipes[0].steps
        try:
            for step in range(1, total + 1):
                while call.steps_allowed < step:
                    call.opened.clear()
                    await call.opened.wait()
                if cancel.is_set():
                    raise GenerationCancelled(f"cancelled after step {step - 1}")
                if on_progress is not None:
                    on_progress(StepProgress(step=step, total=total,
                                             elapsed=step * STEP_SECONDS, preview=None))
            seeded = [dataclasses.replace(r, seed=r.seed if r.seed is not None else i)
                      for i, r in enumerate(call.recipes)]
            images = [Image.new("RGB", (r.width, r.height)) for r in seeded]
            return GenerationResult(images=images, recipes=seeded,
                                    seconds=total * STEP_SECONDS, step_seconds=STEP_SECONDS)
        finally:
            call.finished.set()
