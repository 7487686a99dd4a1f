"""From what a user typed to a validated recipe."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain import Limits, ValidationError
from bot.domain.jobs import JobState, can_transition
from bot.domain.recipe import SCHEDULERS, SEED_MAX, Mode, Recipe
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


def test_every_typed_value_reaches_the_recipe() -> None:
    request = DreamRequest(prompt="cat", negative="dog", width=256, height=128, steps=10,
                           guidance=5.0, seed=42, scheduler="ddim", mode=Mode.INPAINT,
                           strength=0.5, init_image="in.png", mask_image="mask.png")
    recipe = build_recipe(request, defaults=DEFAULTS, limits=Limits(), model="sd15")
    assert recipe == Recipe(prompt="cat", negative="dog", width=256, height=128, steps=10,
                            guidance=5.0, seed=42, scheduler="ddim", model="sd15",
                            mode=Mode.INPAINT, strength=0.5, init_image="in.png",
                            mask_image="mask.png")
    assert build_recipe(DreamRequest(prompt="cat"), defaults=DEFAULTS, limits=Limits(),
                        model="tiny").negative == ""


def test_refusals_read_exactly() -> None:
    with pytest.raises(ValidationError) as caught:
        build_recipe(DreamRequest(prompt="cat", scheduler="nope"), defaults=DEFAULTS,
                     limits=Limits(), model="tiny")
    assert str(caught.value) == f"scheduler must be one of {', '.join(SCHEDULERS)}, got 'nope'"
    with pytest.raises(ValidationError) as caught:
        batch_recipes(Recipe(prompt="x"), 0)
    assert str(caught.value) == "count must be between 1 and 16, got 0"
    with pytest.raises(ValidationError) as caught:
        batch_recipes(Recipe(prompt="x", seed=SEED_MAX - 2), 4)
    assert str(caught.value) == f"seed {SEED_MAX - 2} + 4 images passes the largest seed {SEED_MAX}"


def test_batch_bounds_are_inclusive() -> None:
    assert len(batch_recipes(Recipe(prompt="x"), 1)) == 1
    assert len(batch_recipes(Recipe(prompt="x"), 16)) == 16
    # The last image may take the largest seed itself.
    assert batch_recipes(Recipe(prompt="x", seed=SEED_MAX - 1), 2)[-1].seed == SEED_MAX


def test_recipe_dicts_hold_plain_values_and_old_rows_default_to_txt2img() -> None:
    recipe = Recipe(prompt="x", mode=Mode.IMG2IMG, strength=0.5, init_image="a.png")
    data = recipe.to_dict()
    assert type(data["mode"]) is str and data["mode"] == "img2img"
    assert set(data) == {f.name for f in dataclasses.fields(Recipe)}
    assert Recipe.from_dict({"prompt": "x"}).mode is Mode.TXT2IMG
    assert Recipe.from_dict({"prompt": "x", "mode": "inpaint"}).mode is Mode.INPAINT
    assert Recipe(prompt="x").with_seed(7) == Recipe(prompt="x", seed=7)
