"""Validation: every bound, just inside passes, just outside fails naming the value."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain import Limits, Mode, Recipe, ValidationError, validate_recipe
from bot.domain.recipe import SCHEDULERS
from bot.domain.validation import min_strength

LIMITS = Limits(width_min=64, width_max=1024, height_min=64, height_max=768, steps_min=1,
                steps_max=150, guidance_min=0.0, guidance_max=30.0, prompt_max_chars=100)
BASE = Recipe(prompt="a lighthouse at dusk")


def _with(**changes: object) -> Recipe:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("changes", [
    {"width": 64}, {"width": 1024}, {"height": 64}, {"height": 768},
    {"steps": 1}, {"steps": 150}, {"guidance": 0.0}, {"guidance": 30.0},
    {"prompt": "x" * 100}, {"negative": "y" * 100}, {"seed": 0}, {"seed": 2**32 - 1},
    {"scheduler": "ddim"},
])
def test_just_inside_passes(changes: dict[str, object]) -> None:
    validate_recipe(_with(**changes), LIMITS)


@pytest.mark.parametrize(("changes", "needle"), [
    ({"width": 56}, "56"), ({"width": 1032}, "1032"), ({"width": 513}, "513"),
    ({"height": 56}, "56"), ({"height": 776}, "776"), ({"height": 300}, "300"),
    ({"steps": 0}, "0"), ({"steps": 151}, "151"), ({"steps": 10000}, "10000"),
    ({"guidance": -0.5}, "-0.5"), ({"guidance": 30.5}, "30.5"),
    ({"prompt": "x" * 101}, "101"), ({"negative": "y" * 101}, "101"),
    ({"seed": -1}, "-1"), ({"seed": 2**32}, str(2**32)),
    ({"scheduler": "warp"}, "warp"),
])
def test_just_outside_fails_naming_value(changes: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_recipe(_with(**changes), LIMITS)
    name = next(iter(changes))
    message = str(caught.value)
    assert needle in message
    assert name.split("_")[0] in message  # the option is named too


def test_size_error_names_range_and_suggests_neighbours() -> None:
    with pytest.raises(ValidationError, match=r"width must be a multiple of 8 between 64 and "
                                              r"1024, got 513 \(try 512 or 520\)"):
        validate_recipe(_with(width=513), LIMITS)


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt_fails(prompt: str) -> None:
    with pytest.raises(ValidationError, match="prompt must not be empty"):
        validate_recipe(_with(prompt=prompt), LIMITS)


def test_prompt_is_stripped() -> None:
    assert validate_recipe(_with(prompt="  cat  "), LIMITS).prompt == "cat"


def test_non_integer_values_are_refused() -> None:
    with pytest.raises(ValidationError, match="steps must be a whole number"):
        validate_recipe(_with(steps=2.5), LIMITS)
    with pytest.raises(ValidationError, match="guidance must be a number"):
        validate_recipe(_with(guidance=float("nan")), LIMITS)


@pytest.mark.parametrize("steps", [1, 3, 20, 25, 50, 150])
def test_strength_bound_runs_exactly_one_step(steps: int) -> None:
    low = min_strength(steps)
    img = _with(mode=Mode.IMG2IMG, init_image="in.png", steps=steps)
    validate_recipe(dataclasses.replace(img, strength=low), LIMITS)
    assert int(steps * low) >= 1
    below = low - 0.001
    if below > 0:
        with pytest.raises(ValidationError, match="runs no denoising step"):
            validate_recipe(dataclasses.replace(img, strength=below), LIMITS)


@pytest.mark.parametrize("strength", [0.0, -0.1, 1.01, None])
def test_strength_outside_range_fails(strength: float | None) -> None:
    with pytest.raises(ValidationError, match="strength"):
        validate_recipe(_with(mode=Mode.IMG2IMG, init_image="in.png", strength=strength), LIMITS)


def test_modes_need_their_images() -> None:
    with pytest.raises(ValidationError, match="needs an input image"):
        validate_recipe(_with(mode=Mode.IMG2IMG, strength=0.5), LIMITS)
    with pytest.raises(ValidationError, match="mask"):
        validate_recipe(_with(mode=Mode.INPAINT, init_image="in.png", strength=0.5), LIMITS)


IMG = {"mode": Mode.IMG2IMG, "init_image": "in.png"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"negative": "y" * 101}, "negative prompt must be at most 100 characters, got 101"),
    ({"height": 776}, "height must be between 64 and 768, got 776"),
    ({"seed": -1}, "seed must be between 0 and 4294967295, got -1"),
    ({"seed": 1.5}, "seed must be a whole number between 0 and 4294967295, got 1.5"),
    ({"scheduler": "warp"}, f"scheduler must be one of {', '.join(SCHEDULERS)}, got 'warp'"),
    ({"guidance": "7"}, "guidance must be a number between 0.0 and 30.0, got '7'"),
    ({"guidance": True}, "guidance must be a number between 0.0 and 30.0, got True"),
    ({"mode": Mode.INPAINT, "init_image": "in.png", "strength": 0.5},
     "inpaint needs a mask image (white = repaint, black = keep)"),
    ({"mode": Mode.IMG2IMG, "strength": 0.5}, "img2img needs an input image"),
    ({**IMG, "strength": None}, "strength is required for image-to-image and inpainting"),
    ({**IMG, "strength": "half"}, "strength must be a number between 0 and 1, got 'half'"),
    ({**IMG, "strength": True}, "strength must be a number between 0 and 1, got True"),
    ({**IMG, "strength": float("nan")}, "strength must be a number between 0 and 1, got nan"),
    ({**IMG, "strength": 0.0}, "strength must be greater than 0 and at most 1, got 0.0"),
    ({**IMG, "strength": 0.01, "steps": 20},
     "strength 0.01 with 20 steps runs no denoising step; use a strength of at least 0.05 or "
     "more steps"),
])
def test_each_refusal_reads_exactly(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_recipe(_with(**changes), LIMITS)
    assert str(caught.value) == message


def test_numbers_come_back_as_floats_and_strength_is_kept() -> None:
    checked = validate_recipe(_with(**IMG, strength=1, guidance=7), LIMITS)
    assert (checked.strength, checked.guidance) == (1.0, 7.0)
    assert isinstance(checked.strength, float) and isinstance(checked.guidance, float)
    assert validate_recipe(_with(**IMG, strength=0.5), LIMITS).strength == 0.5
    inpaint = _with(mode=Mode.INPAINT, init_image="in.png", mask_image="m.png", strength=0.75)
    assert validate_recipe(inpaint, LIMITS) == inpaint
