"""The image tools as engine methods, for notebook users: vary, remix, upscale, zoom out, morph.

They build their recipes with the same rules as the bot (``bot.domain.tools``) and render them
with ``Engine.generate``, the call the worker makes.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PIL import Image

from bot.domain.errors import ValidationError
from bot.domain.recipe import SEED_MAX, Mode, Recipe
from bot.domain.tools import (
    MORPH_FRAMES,
    UPSCALE_FACTOR,
    UPSCALE_STRENGTH,
    VARY_SUBTLE,
    morph_recipes,
    remix_recipe,
    variation_recipe,
)
from bot.inference.results import GenerationResult, StepProgress
from bot.render.canvas import zoom_canvas

ProgressCallback = Callable[[StepProgress], None]
# The recipe's init_image/mask_image placeholder for an image handed over as a PIL object
# (recipes name their images by path; the engine API takes the pixels themselves).
IN_MEMORY = "<memory>"


def require_image(value: object, what: str) -> Image.Image:
    """``value`` if it is a PIL image; else a ValidationError that names what it got."""
    if not isinstance(value, Image.Image):
        got = "None" if value is None else type(value).__name__
        raise ValidationError(f"{what} must be a PIL image, got {got}")
    return value


class ImageTools:
    """Mixed into ``Engine``: each tool is one recipe (or a morph's frames) and ``generate``."""

    model_id: str

    if TYPE_CHECKING:
        def generate(self, recipes: Sequence[Recipe], *,
                     images: Sequence[Image.Image] | None = None,
                     masks: Sequence[Image.Image] | None = None,
                     progress: ProgressCallback | None = None, progress_interval: float = 0.0,
                     cancel: threading.Event | None = None) -> GenerationResult: ...

        def inpaint(self, image: Image.Image, mask: Image.Image, prompt: str,
                    strength: float = 1.0, negative: str = "", width: int | None = None,
                    height: int | None = None, steps: int = 25, guidance: float = 7.5,
                    seed: int | None = None, scheduler: str = "euler_a", *,
                    progress: ProgressCallback | None = None,
                    cancel: threading.Event | None = None) -> GenerationResult: ...

    def vary(self, recipe: Recipe, strength: float = VARY_SUBTLE,
             variation_seed: int | None = None, *, images: Sequence[Image.Image] | None = None,
             masks: Sequence[Image.Image] | None = None,
             progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None) -> GenerationResult:
        """A variation of a finished image's ``recipe`` (A1111's variation seed): its noise
        moved ``strength`` of the way towards ``variation_seed``'s (drawn when None). Strength
        0 gives the image itself. An img2img or inpaint recipe takes its ``images``/``masks``."""
        if variation_seed is None:
            variation_seed = secrets.randbelow(SEED_MAX + 1)
        varied = variation_recipe(recipe, strength=strength, variation_seed=variation_seed)
        return self.generate([varied], images=images, masks=masks, progress=progress,
                             cancel=cancel)

    def remix(self, recipe: Recipe, prompt: str, negative: str | None = None, *,
              images: Sequence[Image.Image] | None = None,
              masks: Sequence[Image.Image] | None = None,
              progress: ProgressCallback | None = None,
              cancel: threading.Event | None = None) -> GenerationResult:
        """A finished image's ``recipe`` with another prompt (and negative): same seed, size
        and settings."""
        remixed = remix_recipe(recipe, prompt=prompt, negative=negative)
        return self.generate([remixed], images=images, masks=masks, progress=progress,
                             cancel=cancel)

    def upscale(self, image: Image.Image, prompt: str, negative: str = "", steps: int = 25,
                guidance: float = 7.5, seed: int | None = None, scheduler: str = "euler_a",
                strength: float = UPSCALE_STRENGTH, *,
                progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None) -> GenerationResult:
        """``image`` at twice its size (sides rounded down to 8 first): enlarged, then redrawn
        at a low ``strength`` after ``prompt`` — in overlapping tiles when larger than the
        size limits, or through the ×4 upscaler model when the engine has one."""
        require_image(image, "image")
        recipe = Recipe(prompt=prompt, negative=negative,
                        width=image.width // 8 * 8 * UPSCALE_FACTOR,
                        height=image.height // 8 * 8 * UPSCALE_FACTOR, steps=steps,
                        guidance=guidance, seed=seed, scheduler=scheduler, model=self.model_id,
                        mode=Mode.UPSCALE, strength=strength, init_image=IN_MEMORY)
        return self.generate([recipe], images=[image], progress=progress, cancel=cancel)

    def zoom_out(self, image: Image.Image, prompt: str, negative: str = "", steps: int = 25,
                 guidance: float = 7.5, seed: int | None = None, scheduler: str = "euler_a",
                 *, progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None) -> GenerationResult:
        """Zoom out 1.5×: ``image`` shrunk into a canvas of its size, the border painted."""
        require_image(image, "image")
        sized = image.convert("RGB")
        width, height = sized.width // 8 * 8, sized.height // 8 * 8
        if (width, height) != sized.size:
            sized = sized.crop((0, 0, width, height))
        canvas, mask = zoom_canvas(sized)
        return self.inpaint(canvas, mask, prompt, strength=1.0, negative=negative, steps=steps,
                            guidance=guidance, seed=seed, scheduler=scheduler,
                            progress=progress, cancel=cancel)

    def morph(self, start: Recipe, end: Recipe, frames: int = MORPH_FRAMES, *,
              progress: ProgressCallback | None = None,
              cancel: threading.Event | None = None) -> GenerationResult:
        """``frames`` images from ``start``'s (first) to ``end``'s (last), two finished
        text-to-image recipes, through the spherical interpolation of their noise and prompt
        embeddings. One pipeline call per frame."""
        results = [self.generate([recipe], progress=progress, cancel=cancel)
                   for recipe in morph_recipes(start, end, frames)]
        return GenerationResult(
            images=[image for result in results for image in result.images],
            recipes=[recipe for result in results for recipe in result.recipes],
            seconds=sum(result.seconds for result in results),
            step_seconds=sum(result.step_seconds for result in results) / len(results),
            flagged=[flag for result in results for flag in result.flagged])
