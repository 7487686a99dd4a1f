"""The model catalogue: names, defaults from the config, few-step constraints, batching by model."""

from __future__ import annotations

import dataclasses

import pytest

from bot.config import settings_from_dict
from bot.domain import Job, JobState, Recipe, Requester
from bot.domain.errors import ConfigError, ValidationError
from bot.domain.models import ModelCatalog, ModelSpec, fit_to_model
from bot.domain.recipe import Mode
from bot.domain.requests import Defaults
from bot.domain.scheduling import pick_batch

CONFIG = {
    "model": {"id": "tiny", "name": "base"},
    "models": {
        "turbo": {"id": "tiny", "turbo": True, "description": "one step"},
        "lcm": {"id": "tiny", "scheduler": "lcm", "fixed_scheduler": True, "steps": 4,
                "guidance": 1.5, "step_range": [2, 8], "guidance_range": [1.0, 2.0]},
    },
}


def _catalog() -> ModelCatalog:
    return settings_from_dict(CONFIG).catalog


def test_catalogue_from_config_default_first_with_turbo_defaults() -> None:
    catalog = _catalog()
    assert catalog.names() == ["base", "turbo", "lcm"]
    assert catalog.default.name == "base"
    turbo = catalog.get("turbo")
    assert turbo.turbo and turbo.few_step
    assert (turbo.defaults.steps, turbo.defaults.guidance) == (1, 0.0)
    assert turbo.description == "one step"
    assert not catalog.default.few_step
    assert catalog.get(None) is catalog.default
    assert catalog.get("TURBO") is turbo  # names are matched case-insensitively


def test_the_default_name_is_the_id_when_none_is_given() -> None:
    assert settings_from_dict({}).catalog.names() == ["tiny"]


def test_unknown_model_names_close_matches_and_the_list() -> None:
    with pytest.raises(ValidationError) as caught:
        _catalog().get("trubo")
    message = str(caught.value)
    assert "'trubo' is not one of this bot's models" in message
    assert "did you mean turbo?" in message
    assert "models: base, turbo, lcm" in message


@pytest.mark.parametrize(("models", "needle"), [
    ({"x": {"step_range": [2, 8]}}, "steps (25) must lie in its step_range [2, 8]"),
    ({"x": {"guidance_range": [0, 1]}}, "guidance (7.5) must lie in its guidance_range"),
    ({"x": {"step_range": [4, 2]}}, "models.x.step_range must be [] or [low, high]"),
    ({"x": {"name": "y"}}, "models.x.name: the table's key is its name"),
    ({"base": {"id": "tiny"}}, "model name 'base' is used twice"),
    ({"bad name": {}}, "a model name is letters, digits"),
    ({"x": {"stepz": 1}}, "unknown key models.x.stepz"),
    ({"x": {"attention": "flash"}}, "models.x.attention must be one of"),
    ({"x": {"width": 2048}}, "models.x.width/height (2048x512) must not exceed"),
])
def test_bad_model_tables_name_the_key(models: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"model": {"name": "base"}, "models": models})
    assert needle in str(caught.value)


def test_turbo_fifty_steps_is_clamped_with_a_note() -> None:
    turbo = _catalog().get("turbo")
    recipe = fit_to_model(Recipe(prompt="a cat", steps=50, guidance=7.0, model="turbo"), turbo)
    assert (recipe.steps, recipe.guidance) == (4, 0.0)
    assert recipe.notes == ("model turbo renders in 1-4 steps: 4 used (you asked for 50)",
                            "model turbo takes no guidance: 0 used (you asked for 7)")


def test_a_request_within_range_is_left_alone() -> None:
    turbo = _catalog().get("turbo")
    recipe = Recipe(prompt="a cat", steps=1, guidance=0.0, model="turbo")
    assert fit_to_model(recipe, turbo) is recipe


def test_fixed_scheduler_and_ranges_of_an_lcm_model() -> None:
    lcm = _catalog().get("lcm")
    recipe = fit_to_model(Recipe(prompt="x", steps=1, guidance=7.5, scheduler="euler_a"), lcm)
    assert (recipe.scheduler, recipe.steps, recipe.guidance) == ("lcm", 2, 2.0)
    assert recipe.notes[0] == "model lcm always samples with LCM (you asked for Euler a)"
    assert "renders in 2-8 steps: 2 used" in recipe.notes[1]
    assert "takes guidance 1-2: 2 used" in recipe.notes[2]


def test_fitting_validates_again() -> None:
    # 20 steps at strength 0.2 run 4; clamped to 4 steps they would run none.
    recipe = Recipe(prompt="x", steps=20, guidance=0.0, mode=Mode.IMG2IMG, strength=0.2,
                    init_image="in.png")
    with pytest.raises(ValidationError, match="runs no denoising step"):
        fit_to_model(recipe, _catalog().get("turbo"))


def test_with_default_name_renames_only_the_default() -> None:
    catalog = _catalog().with_default_name("engine-id")
    assert catalog.names() == ["engine-id", "turbo", "lcm"]
    assert catalog.default.source == "tiny"


def test_catalogue_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="used twice"):
        ModelCatalog([ModelSpec("a"), ModelSpec("A")])


def test_warm_sizes_default_first_without_repeats() -> None:
    spec = ModelSpec("x", defaults=Defaults(width=512, height=512),
                     compile_sizes=((768, 512), (512, 512)))
    assert spec.warm_sizes() == ((512, 512), (768, 512))


def _job(job_id: int, recipe: Recipe) -> Job:
    return Job(id=job_id, recipe=recipe, requester=Requester(user_id=job_id, source="discord"),
               state=JobState.QUEUED, created_at=float(job_id))


def test_batching_never_mixes_models_or_lora_sets() -> None:
    base = Recipe(prompt="x", model="base")
    waiting = [_job(1, base), _job(2, dataclasses.replace(base, model="turbo")),
               _job(3, dataclasses.replace(base, loras=(("ink", 1.0),))),
               _job(4, dataclasses.replace(base, loras=(("ink", 0.5),))),
               _job(5, dataclasses.replace(base, prompt="y"))]
    assert [job.id for job in pick_batch(waiting, 8)] == [1, 5]
    same_loras = [_job(3, waiting[2].recipe), _job(6, dataclasses.replace(
        waiting[2].recipe, prompt="z"))]
    assert [job.id for job in pick_batch(same_loras, 8)] == [3, 6]


def test_recipe_round_trips_its_loras() -> None:
    recipe = Recipe(prompt="x", loras=(("ink", 0.5),), lora_hashes=(("ink", "0123456789ab"),))
    # The database stores JSON: tuples come back as lists.
    stored = {**recipe.to_dict(), "loras": [["ink", 0.5]],
              "lora_hashes": [["ink", "0123456789ab"]]}
    assert Recipe.from_dict(stored) == recipe
