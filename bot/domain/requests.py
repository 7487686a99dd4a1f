"""A user's request as typed (options may be missing) → a validated recipe with defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bot.domain.errors import ValidationError
from bot.domain.jobs import Requester
from bot.domain.lineage import GroupKind, Link
from bot.domain.recipe import SCHEDULERS, SEED_MAX, Mode, Recipe, scheduler_key
from bot.domain.scheduling import PRIORITY_PERSON
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
    source_size: tuple[int, int] | None = None  # an inpaint's image size (Recipe.source_size)
    # A stream image: the pool entry it was expanded from and the expansion seed.
    template: str | None = None
    template_seed: int | None = None
    # ``/dream style:`` preset names chained with commas, resolved by the one door (their words
    # follow the prompt); ``styles`` are style names already in ``prompt`` (a style grid's cell).
    style: str | None = None
    styles: tuple[str, ...] = ()
    # ``/dream model:``: a name from the model catalogue (None: the channel theme's, else the
    # default model).
    model: str | None = None


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One request from any origin (a slash command, a button, the CLI, a stream), as handed to
    the generation service's one call.

    ``what`` is a ``DreamRequest`` (what a person typed: defaults, the channel's theme and the
    rules apply) or a ``Recipe`` already built and themed (a Reroll of a result: validated and
    ruled again, never themed twice). ``links`` say where the jobs come from; ``preset`` names a
    preset theme instead of the channel's (the CLI's ``--theme``); ``thread_parent_id`` is the
    channel a thread inherits its theme from.

    ``cells`` makes a grid (a style grid, an X/Y plot): one job per cell, each themed on its
    own and all ruled together (the caps count every cell); ``what`` then only describes the
    grid and ``count`` must be 1. ``group_title`` and ``group_data`` are stored with the group.
    """

    what: DreamRequest | Recipe
    requester: Requester
    count: int = 1
    links: tuple[Link, ...] = ()
    group: GroupKind | None = None
    priority: int = PRIORITY_PERSON
    preset: str | None = None
    thread_parent_id: int | None = None
    cells: tuple[DreamRequest | Recipe, ...] = ()
    group_title: str = ""
    group_data: dict[str, Any] | None = None


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
        source_size=request.source_size,
        template=request.template,
        template_seed=request.template_seed,
        styles=request.styles,
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
