"""A seed reproduces its image; a missing seed is drawn and recorded."""

from __future__ import annotations

import numpy as np

from bot.domain.recipe import SEED_MAX
from bot.inference import Engine


def _pixels(engine: Engine, seed: int | None) -> tuple[np.ndarray, int | None]:
    result = engine.txt2img("a lighthouse at dusk", width=64, height=64, steps=3, seed=seed)
    return np.asarray(result.images[0]), result.recipes[0].seed


def test_same_seed_gives_identical_pixels(tiny_engine: Engine) -> None:
    first, seed = _pixels(tiny_engine, 1234)
    again, _ = _pixels(tiny_engine, 1234)
    assert seed == 1234
    assert np.array_equal(first, again)


def test_different_seeds_give_different_images(tiny_engine: Engine) -> None:
    one, _ = _pixels(tiny_engine, 1)
    two, _ = _pixels(tiny_engine, 2)
    assert np.abs(one.astype(int) - two.astype(int)).mean() > 1.0


def test_missing_seed_is_drawn_recorded_and_reproduces(tiny_engine: Engine) -> None:
    drawn, seed = _pixels(tiny_engine, None)
    assert isinstance(seed, int) and 0 <= seed <= SEED_MAX
    again, _ = _pixels(tiny_engine, seed)
    assert np.array_equal(drawn, again)
