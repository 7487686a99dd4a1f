"""An inpaint's ``source_size``: its image's own size, which the result keeps (the render is
made at the multiples of 8 below it and pasted back)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot.domain.a1111 import format_parameters, parse_parameters
from bot.domain.errors import ValidationError
from bot.domain.recipe import Mode, Recipe
from bot.domain.tools import upscale_recipe
from bot.domain.validation import Limits, validate_recipe

INPAINT = Recipe(prompt="a door", width=200, height=152, seed=5, mode=Mode.INPAINT,
                 strength=1.0, init_image="sha256:" + "a" * 64, mask_image="sha256:" + "b" * 64,
                 source_size=(203, 157))


def test_it_survives_the_database_round_trip() -> None:
    stored = json.loads(json.dumps(INPAINT.to_dict()))
    assert Recipe.from_dict(stored) == INPAINT
    assert Recipe.from_dict({**stored, "source_size": None}).source_size is None


def test_the_png_says_the_size_of_the_image_it_is() -> None:
    assert INPAINT.output_size == (203, 157)
    assert parse_parameters(format_parameters(INPAINT))["Size"] == "203x157"
    plain = dataclasses.replace(INPAINT, source_size=None)
    assert parse_parameters(format_parameters(plain))["Size"] == "200x152"


def test_validation_keeps_it_only_where_it_means_something() -> None:
    assert validate_recipe(INPAINT, Limits()).source_size == (203, 157)
    same = dataclasses.replace(INPAINT, source_size=(200, 152))
    assert validate_recipe(same, Limits()).source_size is None
    sketch = dataclasses.replace(INPAINT, mode=Mode.IMG2IMG, mask_image=None)
    assert validate_recipe(sketch, Limits()).source_size is None
    assert sketch.output_size == (200, 152)


@pytest.mark.parametrize("size", [(0, 157), (203, -1), (203.5, 157), (203,)])
def test_a_bad_size_is_refused_by_name(size: tuple[int, ...]) -> None:
    bad = dataclasses.replace(INPAINT, source_size=size)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="the inpainted image's"):
        validate_recipe(bad, Limits())


def test_an_upscale_of_an_inpaint_is_its_own_size() -> None:
    upscaled = upscale_recipe(INPAINT, init_image="sha256:" + "c" * 64, limits=Limits())
    assert upscaled.source_size is None and upscaled.output_size == (400, 304)
