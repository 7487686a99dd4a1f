"""Validation of a recipe before any tensor work; every message names the value and the range."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from bot.domain.errors import ValidationError
from bot.domain.recipe import SCHEDULERS, SEED_MAX, Mode, Recipe
from bot.domain.text import normalise_text

SOURCE_SIDE_MAX = 65535  # the largest side an uploaded image may be configured to have


@dataclass(frozen=True, slots=True)
class Limits:
    """The configured bounds of a request (from ``[model]`` in the config)."""

    width_min: int = 64
    width_max: int = 1024
    height_min: int = 64
    height_max: int = 1024
    steps_min: int = 1
    steps_max: int = 150
    guidance_min: float = 0.0
    guidance_max: float = 30.0
    prompt_max_chars: int = 1000


def _check_int_range(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be a whole number between {low} and {high}, "
                              f"got {value!r}")
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _check_size(name: str, value: object, low: int, high: int) -> int:
    size = _check_int_range(name, value, low, high)
    if size % 8:
        lower, upper = size - size % 8, size - size % 8 + 8
        raise ValidationError(f"{name} must be a multiple of 8 between {low} and {high}, "
                              f"got {size} (try {lower} or {upper})")
    return size


def check_text(name: str, value: str, max_chars: int, *, required: bool) -> str:
    """``value`` normalised (see ``normalise_text``) and stripped; ValidationError if it is
    empty when ``required``, or longer than ``max_chars``."""
    text = normalise_text(value).strip()
    if required and not text:
        # Say why a prompt that looks non-empty is refused (zero-width spaces, NUL ...).
        why = " (it held only invisible or control characters)" if value.strip() else ""
        raise ValidationError(f"{name} must not be empty{why}")
    if len(text) > max_chars:
        raise ValidationError(f"{name} must be at most {max_chars} characters, "
                              f"got {len(text)}")
    return text


def min_strength(steps: int) -> float:
    """The smallest img2img strength that still runs one denoising step at ``steps``."""
    return math.ceil(1000 / steps) / 1000


def _check_strength(strength: float | None, steps: int) -> float:
    if strength is None:
        raise ValidationError("strength is required for image-to-image and inpainting")
    if isinstance(strength, bool) or not isinstance(strength, int | float) or math.isnan(strength):
        raise ValidationError(f"strength must be a number between 0 and 1, got {strength!r}")
    if not 0.0 < strength <= 1.0:
        raise ValidationError(f"strength must be greater than 0 and at most 1, got {strength}")
    # diffusers runs int(steps * strength) steps; zero steps crashes inside the pipeline.
    if int(steps * strength) < 1:
        raise ValidationError(
            f"strength {strength} with {steps} steps runs no denoising step; "
            f"use a strength of at least {min_strength(steps)} or more steps")
    return float(strength)


# An upscale may be this many times the size limits: it is redrawn in tiles within them.
UPSCALE_LIMIT_FACTOR = 2


def _check_fraction(name: str, value: object) -> float:
    """A number from 0 to 1 (a strength, a morph position)."""
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or math.isnan(value) or not 0.0 <= value <= 1.0):
        raise ValidationError(f"{name} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _check_seed(name: str, value: int | None) -> None:
    if value is not None:
        _check_int_range(name, value, 0, SEED_MAX)


def _check_latent_fields(recipe: Recipe, limits: Limits) -> Recipe:
    """``recipe`` with its variation and morph fields checked and normalised."""
    _check_seed("variation seed", recipe.variation_seed)
    variation_strength = _check_fraction("variation strength", recipe.variation_strength)
    blend = _check_fraction("morph position (blend)", recipe.blend)
    _check_seed("morph seed (blend_seed)", recipe.blend_seed)
    _check_seed("morph variation seed", recipe.blend_variation_seed)
    blend_variation_strength = _check_fraction("morph variation strength",
                                               recipe.blend_variation_strength)
    if recipe.is_morph_frame and recipe.blend_seed is None:
        raise ValidationError("a morph frame needs the seed of the image it blends towards "
                              "(blend_seed)")
    blend_prompt = recipe.blend_prompt
    if blend_prompt is not None:
        blend_prompt = check_text("morph prompt", blend_prompt, limits.prompt_max_chars,
                                  required=True)
    blend_negative = check_text("morph negative prompt", recipe.blend_negative,
                                limits.prompt_max_chars, required=False)
    return dataclasses.replace(recipe, variation_strength=variation_strength, blend=blend,
                               blend_variation_strength=blend_variation_strength,
                               blend_prompt=blend_prompt, blend_negative=blend_negative)


def validate_recipe(recipe: Recipe, limits: Limits) -> Recipe:
    """Check every value of ``recipe`` against ``limits``; return it normalised (text in NFKC,
    one line, without control or invisible characters, stripped)."""
    prompt = check_text("prompt", recipe.prompt, limits.prompt_max_chars, required=True)
    negative = check_text("negative prompt", recipe.negative, limits.prompt_max_chars,
                           required=False)
    # An upscale is drawn in tiles within the limits, so it may exceed them (twice, at most).
    factor = UPSCALE_LIMIT_FACTOR if recipe.mode is Mode.UPSCALE else 1
    _check_size("width", recipe.width, limits.width_min, limits.width_max * factor)
    _check_size("height", recipe.height, limits.height_min, limits.height_max * factor)
    _check_int_range("steps", recipe.steps, limits.steps_min, limits.steps_max)
    guidance = recipe.guidance
    if isinstance(guidance, bool) or not isinstance(guidance, int | float) or math.isnan(guidance):
        raise ValidationError(f"guidance must be a number between {limits.guidance_min} and "
                              f"{limits.guidance_max}, got {guidance!r}")
    if not limits.guidance_min <= guidance <= limits.guidance_max:
        raise ValidationError(f"guidance must be between {limits.guidance_min} and "
                              f"{limits.guidance_max}, got {guidance}")
    if recipe.seed is not None:
        _check_int_range("seed", recipe.seed, 0, SEED_MAX)
    if recipe.scheduler not in SCHEDULERS:
        raise ValidationError(f"scheduler must be one of {', '.join(SCHEDULERS)}, "
                              f"got {recipe.scheduler!r}")
    strength = recipe.strength
    if recipe.mode is not Mode.TXT2IMG:
        if not recipe.init_image:
            raise ValidationError(f"{recipe.mode.value} needs an input image")
        if recipe.mode is Mode.INPAINT and not recipe.mask_image:
            raise ValidationError("inpaint needs a mask image (white = repaint, black = keep)")
        strength = _check_strength(recipe.strength, recipe.steps)
    recipe = _check_latent_fields(recipe, limits)
    return dataclasses.replace(recipe, prompt=prompt, negative=negative,
                               guidance=float(guidance), strength=strength,
                               source_size=_check_source_size(recipe))


def _check_source_size(recipe: Recipe) -> tuple[int, int] | None:
    """An inpaint's image size (None when it is the render's own size; only inpaints have
    one: the other modes' results are width×height)."""
    size = recipe.source_size
    if recipe.mode is not Mode.INPAINT or size is None:
        return None
    if not isinstance(size, tuple | list) or len(size) != 2:
        raise ValidationError(f"the inpainted image's size must be (width, height), got {size!r}")
    width = _check_int_range("the inpainted image's width", size[0], 1, SOURCE_SIDE_MAX)
    height = _check_int_range("the inpainted image's height", size[1], 1, SOURCE_SIDE_MAX)
    return None if (width, height) == (recipe.width, recipe.height) else (width, height)
