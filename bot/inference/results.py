"""What a generation hands back: progress while it runs, the images and recipes when it ends.

Torch-free (PIL and the domain only), so a backend, the queue and the delivery can use these
types without importing the engine; ``bot.inference.engine`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from bot.domain.recipe import Recipe


@dataclass(frozen=True, slots=True)
class StepProgress:
    """One finished denoising step: 1-based ``step`` of ``total``, and a preview of image 0.

    ``total`` counts the pipeline's denoising iterations: ``steps × strength`` for img2img and
    inpainting, and each of the two model calls of a Heun step.
    """

    step: int
    total: int
    elapsed: float
    preview: Image.Image | None


@dataclass(slots=True)
class GenerationResult:
    """The images of one call, their full recipes (seed filled in) and how long it took.

    ``flagged`` holds the safety checker's verdict per image ([]: nothing checked them).
    """

    images: list[Image.Image]
    recipes: list[Recipe]
    seconds: float
    step_seconds: float
    flagged: list[bool] = field(default_factory=list)

    def is_flagged(self, index: int) -> bool:
        """Whether the safety checker flagged image ``index``."""
        return index < len(self.flagged) and self.flagged[index]
