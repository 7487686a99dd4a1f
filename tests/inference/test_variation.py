"""Variations and morph frames in latent space, on the tiny model."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from PIL import Image

from bot.domain.recipe import Mode, Recipe
from bot.domain.tools import morph_recipes
from bot.inference import Engine

BASE = Recipe(prompt="a lighthouse at dusk", width=64, height=64, steps=4, seed=11)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=int)


def _same_up_to_rounding(a: Image.Image, b: Image.Image) -> None:
    diff = np.abs(_pixels(a) - _pixels(b))
    assert diff.max() <= 1
    assert diff.mean() < 0.05


def _render(engine: Engine, recipe: Recipe, **kwargs: object) -> Image.Image:
    return engine.generate([recipe], **kwargs).images[0]  # type: ignore[arg-type]


def test_strength_zero_is_the_parent_pixel_for_pixel(tiny_engine: Engine) -> None:
    parent = _render(tiny_engine, BASE)
    child = tiny_engine.generate([dataclasses.replace(BASE, variation_seed=99,
                                                      variation_strength=0.0)])
    assert np.array_equal(_pixels(child.images[0]), _pixels(parent))
    assert child.recipes[0].variation_seed == 99  # recorded as asked


@pytest.mark.parametrize("scheduler", ["euler_a", "ddim"])
def test_a_variation_is_deterministic_and_differs_from_its_parent(tiny_engine: Engine,
                                                                  scheduler: str) -> None:
    base = dataclasses.replace(BASE, scheduler=scheduler)
    varied = dataclasses.replace(base, variation_seed=99, variation_strength=0.35)
    parent = _pixels(_render(tiny_engine, base))
    first, again = _pixels(_render(tiny_engine, varied)), _pixels(_render(tiny_engine, varied))
    other_seed = _pixels(_render(tiny_engine, dataclasses.replace(varied, variation_seed=98)))
    assert np.array_equal(first, again)
    assert np.abs(first - parent).mean() > 1
    assert np.abs(first - other_seed).mean() > 1


def test_a_subtle_variation_stays_closer_than_a_strong_one(tiny_engine: Engine) -> None:
    parent = _pixels(_render(tiny_engine, BASE))
    distance = {strength: np.abs(_pixels(_render(tiny_engine, dataclasses.replace(
        BASE, variation_seed=7, variation_strength=strength))) - parent).mean()
        for strength in (0.05, 0.9)}
    assert 0 < distance[0.05] < distance[0.9]


def test_a_variation_seed_is_drawn_and_recorded_when_left_out(tiny_engine: Engine) -> None:
    result = tiny_engine.generate([dataclasses.replace(BASE, variation_strength=0.2)])
    drawn = result.recipes[0].variation_seed
    assert drawn is not None
    again = _render(tiny_engine, result.recipes[0])
    assert np.array_equal(_pixels(again), _pixels(result.images[0]))


def test_img2img_variation_strength_zero_is_the_parent(tiny_engine: Engine,
                                                       photo: Image.Image) -> None:
    base = Recipe(prompt="a castle", width=96, height=80, steps=4, seed=3, mode=Mode.IMG2IMG,
                  strength=0.5)
    parent = _pixels(_render(tiny_engine, base, images=[photo]))
    same = _pixels(_render(tiny_engine, dataclasses.replace(base, variation_seed=5),
                           images=[photo]))
    varied = _pixels(_render(tiny_engine, dataclasses.replace(
        base, variation_seed=5, variation_strength=0.5), images=[photo]))
    assert np.array_equal(same, parent)
    assert np.abs(varied - parent).mean() > 1


def test_a_batch_of_variations_and_plain_images_equals_each_alone(tiny_engine: Engine) -> None:
    recipes = [BASE, dataclasses.replace(BASE, seed=12, variation_seed=5, variation_strength=0.3),
               dataclasses.replace(BASE, seed=13, prompt="a fox")]
    batch = tiny_engine.generate(recipes)
    for recipe, image in zip(recipes, batch.images, strict=True):
        _same_up_to_rounding(image, _render(tiny_engine, recipe))


START = Recipe(prompt="a red fox in snow", width=64, height=64, steps=4, seed=1)
END = Recipe(prompt="a blue whale", negative="blurry", width=64, height=64, steps=4, seed=2,
             variation_seed=9, variation_strength=0.2)


@pytest.mark.parametrize("scheduler", ["euler_a", "dpm++_2m"])
def test_morph_ends_equal_their_sources(tiny_engine: Engine, scheduler: str) -> None:
    start = dataclasses.replace(START, scheduler=scheduler)
    end = dataclasses.replace(END, scheduler=scheduler)
    frames = morph_recipes(start, end, 4)
    first, last = _render(tiny_engine, frames[0]), _render(tiny_engine, frames[-1])
    _same_up_to_rounding(first, _render(tiny_engine, start))
    _same_up_to_rounding(last, _render(tiny_engine, end))


def test_morph_frames_move_from_one_end_to_the_other(tiny_engine: Engine) -> None:
    result = tiny_engine.morph(START, END, frames=5)
    assert len(result.images) == 5
    assert [r.blend for r in result.recipes] == [0, 0.25, 0.5, 0.75, 1]
    start, end = _pixels(result.images[0]), _pixels(result.images[-1])
    middle = _pixels(result.images[2])
    # A frame in the middle is neither end, and each step changes the image.
    assert np.abs(middle - start).mean() > 1 and np.abs(middle - end).mean() > 1
    for before, after in itertools.pairwise(result.images):
        assert np.abs(_pixels(before) - _pixels(after)).mean() > 0.5


def test_morph_frames_batch_like_any_recipe(tiny_engine: Engine) -> None:
    frames = morph_recipes(START, END, 3)
    batch = tiny_engine.generate(frames)
    for recipe, image in zip(frames, batch.images, strict=True):
        _same_up_to_rounding(image, _render(tiny_engine, recipe))


def test_a_frame_between_the_same_prompts_blends_only_the_noise(tiny_engine: Engine) -> None:
    end = dataclasses.replace(START, seed=2)
    frame = morph_recipes(START, end, 3)[1]
    image = _pixels(_render(tiny_engine, frame))
    assert np.abs(image - _pixels(_render(tiny_engine, START))).mean() > 1
    assert np.abs(image - _pixels(_render(tiny_engine, end))).mean() > 1
