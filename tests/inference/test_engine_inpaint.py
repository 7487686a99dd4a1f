"""Inpainting repaints the mask and keeps every other pixel of the input exactly."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from bot.domain.a1111 import format_parameters
from bot.domain.recipe import Mode, Recipe
from bot.inference import Engine
from bot.inference.masks import EDGE_REACH


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=int)


def test_outside_the_mask_the_result_is_the_input(tiny_engine: Engine, photo: Image.Image,
                                                  half_mask: Image.Image) -> None:
    # half_mask repaints x >= 48; the soft edge may blend EDGE_REACH pixels on either side.
    result = tiny_engine.inpaint(photo, half_mask, "a red door", steps=2, seed=3)
    out, original = _pixels(result.images[0]), _pixels(photo)
    assert out.shape == original.shape
    assert np.array_equal(out[:, : 48 - EDGE_REACH], original[:, : 48 - EDGE_REACH])
    # Inside, the model painted something else (the tiny model is random, not the photo).
    assert np.abs(out[:, 48 + EDGE_REACH:] - original[:, 48 + EDGE_REACH:]).mean() > 10


def test_each_image_of_a_batch_keeps_its_own_input(tiny_engine: Engine, photo: Image.Image,
                                                   half_mask: Image.Image) -> None:
    photos = [photo, ImageOps.mirror(photo)]
    masks = [half_mask, ImageOps.invert(half_mask)]  # right half, then left half repainted
    recipes = [Recipe(prompt=prompt, width=96, height=80, steps=2, seed=seed,
                      mode=Mode.INPAINT, strength=1.0) for prompt, seed in (("a", 1), ("b", 2))]
    batch = tiny_engine.generate(recipes, images=photos, masks=masks)
    first, second = (_pixels(image) for image in batch.images)
    kept = slice(None, 48 - EDGE_REACH)
    assert np.array_equal(first[:, kept], _pixels(photos[0])[:, kept])
    kept = slice(48 + EDGE_REACH, None)
    assert np.array_equal(second[:, kept], _pixels(photos[1])[:, kept])
    alone = _pixels(tiny_engine.generate(recipes[1:], images=photos[1:],
                                         masks=masks[1:]).images[0])
    diff = np.abs(second - alone)  # batched equals unbatched up to float rounding
    assert diff.max() <= 1 and diff.mean() < 0.05


def test_a_resized_input_is_kept_at_the_requested_size(tiny_engine: Engine,
                                                       photo: Image.Image,
                                                       half_mask: Image.Image) -> None:
    result = tiny_engine.inpaint(photo, half_mask, "a red door", width=192, height=160,
                                 steps=2, seed=3)
    resized = photo.resize((192, 160), Image.Resampling.LANCZOS)
    kept = slice(None, 96 - EDGE_REACH)
    assert np.array_equal(_pixels(result.images[0])[:, kept], _pixels(resized)[:, kept])


def test_an_image_of_sides_not_multiples_of_8_is_pasted_back_at_its_own_size(
        tiny_engine: Engine) -> None:
    # 101×83: rendered at 96×80; the last 5 columns and 3 rows are kept like the rest.
    photo = Image.effect_noise((101, 83), 60).convert("RGB")
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (0, 0, 30, 83))  # the left 30 columns are repainted
    result = tiny_engine.inpaint(photo, mask, "a red door", steps=2, seed=3)
    (recipe,) = result.recipes
    assert result.images[0].size == photo.size
    assert (recipe.width, recipe.height, recipe.source_size) == (96, 80, (101, 83))
    out, original = _pixels(result.images[0]), _pixels(photo)
    kept = slice(30 + EDGE_REACH, None)  # the right strip (x ≥ 96) and bottom rows included
    assert np.array_equal(out[:, kept], original[:, kept])
    assert np.abs(out[:, : 30 - EDGE_REACH] - original[:, : 30 - EDGE_REACH]).mean() > 10
    assert format_parameters(recipe).splitlines()[-1].count("Size: 101x83") == 1
