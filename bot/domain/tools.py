"""The image tools as recipes: a variation, an upscale, a zoom-out, a remix and a morph of a
finished image. Pure rules (sizes, strengths, which fields carry over); the service reads the
parents and stores the input images, the engine renders.

The strengths come from AUTOMATIC1111 users' habits, as no GPU was at hand to look at a real
model's results: a variation strength of about 0.1 keeps the composition and changes details
(Midjourney's "Vary (Subtle)"), 0.3–0.4 keeps the palette and the rough layout but redraws the
subject ("Vary (Strong)"); the SD-upscale script is used at a denoising strength of 0.2–0.4,
enough to add detail to the enlarged image without repainting it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from bot.domain.errors import ValidationError
from bot.domain.recipe import Mode, Recipe
from bot.domain.validation import UPSCALE_LIMIT_FACTOR, Limits, min_strength

VARY_SUBTLE = 0.1
VARY_STRONG = 0.35
UPSCALE_FACTOR = 2
UPSCALE_STRENGTH = 0.3
ZOOM_FACTOR = 1.5
# The zoom-out's mask reaches this far into the shrunk image: the repainted border and the kept
# image meet over the inpainting's soft edge, not along the hard edge of the paste.
ZOOM_OVERLAP = 4
ZOOM_STRENGTH = 1.0  # the border is all new
MORPH_FRAMES = 8
MORPH_FRAMES_MIN = 2
MORPH_FRAMES_MAX = 24


def _fresh(parent: Recipe) -> Recipe:
    """``parent`` without what belonged to its own run: notes, variation, morph, upscaler."""
    return dataclasses.replace(parent, notes=(), variation_seed=None, variation_strength=0.0,
                               blend=0.0, blend_seed=None, blend_variation_seed=None,
                               blend_variation_strength=0.0, blend_prompt=None,
                               blend_negative="", upscaler=None)


def _seed_of(parent: Recipe) -> int:
    if parent.seed is None:
        raise ValidationError("the image's recipe has no seed (it never finished)")
    return parent.seed


def check_vary_strength(strength: float) -> float:
    """A variation strength from 0 (the image itself) to 1 (the variation seed's image)."""
    if (isinstance(strength, bool) or not isinstance(strength, int | float)
            or math.isnan(strength) or not 0.0 <= strength <= 1.0):
        raise ValidationError(f"variation strength must be a number from 0 to 1 "
                              f"(subtle {VARY_SUBTLE}, strong {VARY_STRONG}), got {strength!r}")
    return float(strength)


def variation_recipe(parent: Recipe, *, strength: float, variation_seed: int) -> Recipe:
    """A variation of ``parent``: its noise moved ``strength`` of the way (spherically) towards
    ``variation_seed``'s. A variation of a variation is another variation of the same seed
    (A1111 records one variation seed); a morph frame has no variation of its own."""
    _seed_of(parent)
    if parent.is_morph_frame:
        raise ValidationError("a morph frame cannot be varied (its noise is already a blend of "
                              "two images); vary one of the morph's ends instead")
    return dataclasses.replace(parent, notes=(), variation_seed=variation_seed,
                               variation_strength=check_vary_strength(strength), upscaler=None)


def upscale_recipe(parent: Recipe, *, init_image: str, limits: Limits) -> Recipe:
    """``parent`` at twice its size: its image enlarged, then redrawn at a low strength with
    its prompt and seed (in tiles within the size limits when larger than them)."""
    seed = _seed_of(parent)
    width, height = parent.width * UPSCALE_FACTOR, parent.height * UPSCALE_FACTOR
    most_w = limits.width_max * UPSCALE_LIMIT_FACTOR
    most_h = limits.height_max * UPSCALE_LIMIT_FACTOR
    if width > most_w or height > most_h:
        raise ValidationError(f"the image is {parent.width}×{parent.height}; twice that is more "
                              f"than the largest upscale, {most_w}×{most_h}")
    strength = max(UPSCALE_STRENGTH, min_strength(parent.steps))
    return dataclasses.replace(_fresh(parent), mode=Mode.UPSCALE, width=width, height=height,
                               strength=strength, init_image=init_image, mask_image=None,
                               source_size=None, seed=seed)


@dataclass(frozen=True, slots=True)
class ZoomLayout:
    """Where the shrunk image sits in a zoom-out's canvas (the canvas keeps the image's size)."""

    width: int
    height: int
    inner_width: int
    inner_height: int
    left: int
    top: int

    @property
    def keep_box(self) -> tuple[int, int, int, int]:
        """The part the mask keeps: the shrunk image less ``ZOOM_OVERLAP`` on each side."""
        return (self.left + ZOOM_OVERLAP, self.top + ZOOM_OVERLAP,
                self.left + self.inner_width - ZOOM_OVERLAP,
                self.top + self.inner_height - ZOOM_OVERLAP)


def zoom_layout(width: int, height: int) -> ZoomLayout:
    """The image shrunk by ``ZOOM_FACTOR`` in the middle of a canvas of its own size."""
    inner_w, inner_h = round(width / ZOOM_FACTOR), round(height / ZOOM_FACTOR)
    return ZoomLayout(width, height, inner_w, inner_h, (width - inner_w) // 2,
                      (height - inner_h) // 2)


def zoom_recipe(parent: Recipe, *, canvas: str, mask: str, limits: Limits) -> Recipe:
    """Outpainting: ``canvas`` (the image shrunk into a canvas of its size) with the border that
    ``mask`` marks painted anew, from the parent's prompt and seed."""
    seed = _seed_of(parent)
    if parent.width > limits.width_max or parent.height > limits.height_max:
        raise ValidationError(f"the image is {parent.width}×{parent.height}; zoom out works on "
                              f"images within {limits.width_max}×{limits.height_max}")
    # An inpainted parent keeps its ``source_size``: the canvas has its image's own size.
    return dataclasses.replace(_fresh(parent), mode=Mode.INPAINT, strength=ZOOM_STRENGTH,
                               init_image=canvas, mask_image=mask, seed=seed)


def remix_recipe(parent: Recipe, *, prompt: str, negative: str | None) -> Recipe:
    """``parent`` with an edited prompt (and negative, None = keep it): the same seed, noise,
    size and settings. The prompt is taken as the full prompt (no theme is applied again)."""
    _seed_of(parent)
    return dataclasses.replace(
        parent, prompt=prompt, negative=parent.negative if negative is None else negative,
        user_prompt=None, theme=None, theme_prefix="", theme_suffix="", notes=(),
        blend_prompt=None, blend_negative="", upscaler=None)


def check_frames(frames: int) -> int:
    """A morph's frame count, ``MORPH_FRAMES_MIN``–``MORPH_FRAMES_MAX``."""
    if isinstance(frames, bool) or not isinstance(frames, int) or not (
            MORPH_FRAMES_MIN <= frames <= MORPH_FRAMES_MAX):
        raise ValidationError(f"frames must be a whole number from {MORPH_FRAMES_MIN} to "
                              f"{MORPH_FRAMES_MAX}, got {frames!r}")
    return frames


def morph_recipes(start: Recipe, end: Recipe, frames: int = MORPH_FRAMES, *,
                  names: tuple[str, str] = ("the first image", "the second image")
                  ) -> list[Recipe]:
    """``frames`` recipes from ``start`` (frame 0, its own image) to ``end`` (the last frame):
    frame i blends the noise and the prompt embeddings ``i / (frames - 1)`` of the way."""
    check_frames(frames)
    end_seed = _seed_of(end)
    _seed_of(start)
    for recipe, name in zip((start, end), names, strict=True):
        if recipe.mode is not Mode.TXT2IMG:
            raise ValidationError(f"{name} is {recipe.mode.value}; a morph runs between two "
                                  "text-to-image results")
        if recipe.is_morph_frame:
            raise ValidationError(f"{name} is a morph frame; morph between two images of "
                                  "their own")
    for label, a, b in (("size", f"{start.width}×{start.height}", f"{end.width}×{end.height}"),
                        ("steps", start.steps, end.steps),
                        ("scheduler", start.scheduler, end.scheduler),
                        ("guidance", start.guidance, end.guidance)):
        if a != b:
            raise ValidationError(f"a morph needs two images of the same {label}: {names[0]} "
                                  f"has {a}, {names[1]} has {b}")
    base = dataclasses.replace(start, notes=(), upscaler=None, blend_seed=end_seed,
                               blend_variation_seed=end.variation_seed,
                               blend_variation_strength=end.variation_strength,
                               blend_prompt=end.prompt, blend_negative=end.negative)
    return [dataclasses.replace(base, blend=index / (frames - 1)) for index in range(frames)]
