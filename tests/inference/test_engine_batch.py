"""One pipeline call for a batch gives each image as if it had been rendered alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from bot.domain.recipe import Mode, Recipe
from bot.inference import Engine


def _assert_same_up_to_rounding(batched: Image.Image, alone: Image.Image) -> None:
    # On CPU another batch size may pick other kernels: equal up to float rounding, not bits.
    diff = np.abs(np.asarray(batched, dtype=int) - np.asarray(alone, dtype=int))
    assert diff.max() <= 1
    assert diff.mean() < 0.05


def test_batch_equals_each_image_rendered_alone(tiny_engine: Engine) -> None:
    recipes = [
        Recipe(prompt="a lighthouse at dusk", width=128, height=64, steps=4, seed=11),
        Recipe(prompt="a red fox in snow", negative="blurry", width=128, height=64, steps=4,
               seed=22),
    ]
    batch = tiny_engine.generate(recipes)
    assert len(batch.images) == 2
    for index, recipe in enumerate(recipes):
        alone = tiny_engine.generate([recipe])
        _assert_same_up_to_rounding(batch.images[index], alone.images[0])
        assert batch.recipes[index] == alone.recipes[0]
        assert batch.recipes[index] == dataclasses.replace(recipe, model="tiny")


def test_img2img_batch_shares_one_input_image(tiny_engine: Engine, photo: Image.Image) -> None:
    recipes = [Recipe(prompt=prompt, width=96, height=80, steps=4, seed=5, mode=Mode.IMG2IMG,
                      strength=0.5) for prompt in ("a castle", "a boat")]
    batch = tiny_engine.generate(recipes, images=[photo])
    alone = tiny_engine.generate(recipes[1:], images=[photo])
    _assert_same_up_to_rounding(batch.images[1], alone.images[0])


def test_recipes_of_one_call_must_share_the_batch_key(tiny_engine: Engine) -> None:
    recipes = [Recipe(prompt="a", width=64, height=64), Recipe(prompt="b", width=128, height=64)]
    with pytest.raises(ValueError, match="batch_key"):
        tiny_engine.generate(recipes)


def test_image_count_must_match(tiny_engine: Engine, photo: Image.Image) -> None:
    recipes = [Recipe(prompt=p, width=64, height=64, steps=2, mode=Mode.IMG2IMG, strength=0.5)
               for p in "abc"]
    with pytest.raises(ValueError, match="2 images for 3 recipes"):
        tiny_engine.generate(recipes, images=[photo, photo])
