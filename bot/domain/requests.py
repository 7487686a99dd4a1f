"""A user's request as typed (options may be missing) → a validated recipe with defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bot.domain.errors import ValidationError
from bot.domain.recipe import SCHEDULERS, SEED_MAX, Mode, Recipe, scheduler_key
from bot.domain.validation import Limits, validate_recipe


@dataclass(frozen=True, slots=True)
class Defaults:
    """Values used for options the user left out (from ``[model]`` in the config)."""

    width: int = 512
    height: int = 512
    steps: int = 25
    guidance: float = 7.5
    scheduler: str = "euler_a"


@dataclass(frozen=True, slots=True)
class DreamRequest:
    """What a user typed in ``/dream`` or on the CLI; None means "use the default"."""

    prompt: str
    negative: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    scheduler: str | None = None
    mode: Mode = Mode.TXT2IMG
    strength: float | None = None
    init_image: str | None = None
    mask_image: str | None = None


def build_recipe(request: DreamRequest, *, defaults: Defaults, limits: Limits,
                 model: str) -> Recipe:
    """Fill defaults into ``request`` and validate it; raises ValidationError naming the value."""
    scheduler = defaults.scheduler
    if request.scheduler is not None:
        key = scheduler_key(request.scheduler)
        if key is None:
            raise ValidationError(f"scheduler must be one of {', '.join(SCHEDULERS)}, "
                                  f"got {request.scheduler!r}")
        scheduler = key
    recipe = Recipe(
        prompt=request.prompt,
        negative=request.negative or "",
        width=defaults.width if request.width is None else request.width,
        height=defaults.height if request.height is None else request.height,
        steps=defaults.steps if request.steps is None else request.steps,
        guidance=defaults.guidance if request.guidance is None else request.guidance,
        seed=request.seed,
        scheduler=scheduler,
        model=model,
        mode=request.mode,
        strength=request.strength,
        init_image=request.init_image,
        mask_image=request.mask_image,
    )
    return validate_recipe(recipe, limits)


def batch_recipes(recipe: Recipe, count: int) -> list[Recipe]:
    """``count`` recipes: consecutive seeds from a given seed (as A1111 does), else all drawn."""
    if not 1 <= count <= 16:
        raise ValidationError(f"count must be between 1 and 16, got {count}")
    if recipe.seed is None:
        return [recipe] * count
    if recipe.seed + count - 1 > SEED_MAX:
        raise ValidationError(f"seed {recipe.seed} + {count} images passes the largest seed "
                              f"{SEED_MAX}")
    return [dataclasses.replace(recipe, seed=recipe.seed + i) for i in range(count)]
