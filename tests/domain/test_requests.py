"""From what a user typed to a validated recipe."""

from __future__ import annotations

import pytest

from bot.domain import Limits, ValidationError
from bot.domain.jobs import JobState, can_transition
from bot.domain.recipe import Recipe
from bot.domain.requests import Defaults, DreamRequest, batch_recipes, build_recipe

DEFAULTS = Defaults(width=512, height=512, steps=25, guidance=7.5, scheduler="euler_a")


def test_defaults_fill_missing_options() -> None:
    recipe = build_recipe(DreamRequest(prompt="cat"), defaults=DEFAULTS, limits=Limits(),
                          model="tiny")
    assert (recipe.width, recipe.height, recipe.steps, recipe.guidance, recipe.scheduler,
            recipe.seed, recipe.model) == (512, 512, 25, 7.5, "euler_a", None, "tiny")


def test_a1111_sampler_names_are_accepted() -> None:
    recipe = build_recipe(DreamRequest(prompt="cat", scheduler="DPM++ 2M"), defaults=DEFAULTS,
                          limits=Limits(), model="tiny")
    assert recipe.scheduler == "dpm++_2m"
    with pytest.raises(ValidationError, match="'nope'"):
        build_recipe(DreamRequest(prompt="cat", scheduler="nope"), defaults=DEFAULTS,
                     limits=Limits(), model="tiny")


def test_batch_seeds_are_consecutive_or_drawn() -> None:
    assert [r.seed for r in batch_recipes(Recipe(prompt="x", seed=7), 3)] == [7, 8, 9]
    assert [r.seed for r in batch_recipes(Recipe(prompt="x"), 2)] == [None, None]
    with pytest.raises(ValidationError, match="count"):
        batch_recipes(Recipe(prompt="x"), 17)
    with pytest.raises(ValidationError, match="largest seed"):
        batch_recipes(Recipe(prompt="x", seed=2**32 - 1), 2)


def test_recipe_round_trips_through_dict() -> None:
    recipe = Recipe(prompt="x", seed=3, scheduler="ddim")
    assert Recipe.from_dict(recipe.to_dict()) == recipe


def test_state_machine() -> None:
    assert can_transition(JobState.QUEUED, JobState.RUNNING)
    assert can_transition(JobState.RUNNING, JobState.QUEUED)  # a restart re-queues
    assert not can_transition(JobState.DONE, JobState.RUNNING)
    assert not can_transition(JobState.CANCELLED, JobState.QUEUED)
