"""The mask's soft edge: binary like diffusers' mask, softened over at most 16 pixels."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bot.inference.masks import EDGE_REACH, binary_mask, keep_unmasked, soft_mask


def _step_mask(edge: int = 32, width: int = 64) -> Image.Image:
    mask = Image.new("L", (width, 8), 0)
    mask.paste(255, (edge, 0, width, 8))
    return mask


def test_the_soft_edge_stays_within_its_reach_and_16_pixels() -> None:
    row = np.asarray(soft_mask(_step_mask(edge=32)))[4]
    blended = np.flatnonzero((row > 0) & (row < 255))
    assert EDGE_REACH <= 8
    assert blended.min() >= 32 - EDGE_REACH and blended.max() < 32 + EDGE_REACH
    assert (row[: 32 - EDGE_REACH] == 0).all() and (row[32 + EDGE_REACH:] == 255).all()
    assert list(row) == sorted(row)  # a ramp, no ringing


def test_grey_is_read_as_diffusers_reads_it() -> None:
    grey = Image.new("L", (4, 1))
    grey.putdata([0, 127, 128, 255])
    assert list(binary_mask(grey).getdata()) == [0, 0, 255, 255]


def test_keep_unmasked_takes_each_side_from_its_image() -> None:
    original = Image.new("RGB", (64, 8), (10, 20, 30))
    generated = Image.new("RGB", (64, 8), (200, 100, 50))
    merged = np.asarray(keep_unmasked(original.convert("RGBA"), generated, _step_mask()))
    assert merged.shape == (8, 64, 3)
    assert (merged[:, : 32 - EDGE_REACH] == (10, 20, 30)).all()
    assert (merged[:, 32 + EDGE_REACH:] == (200, 100, 50)).all()
