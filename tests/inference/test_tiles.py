"""Tile layouts and their blending: full cover, overlap, and no seam."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from bot.inference.tiles import Tile, blend_tiles, tile_layout, tile_side, tile_weights


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (1536, 1024), (192, 160),
                                               (2048, 1088)])
def test_tiles_cover_the_image_and_overlap(width: int, height: int) -> None:
    side, overlap = 512, 64
    layout = tile_layout(width, height, side, overlap)
    covered = np.zeros((height, width), dtype=int)
    for tile in layout:
        assert tile.width <= side and tile.height <= side
        assert tile.left % 8 == 0 and tile.top % 8 == 0
        covered[tile.top:tile.top + tile.height, tile.left:tile.left + tile.width] += 1
    assert covered.min() >= 1
    lefts = sorted({tile.left for tile in layout})
    for a, b in itertools.pairwise(lefts):
        assert a + min(side, width) - b >= overlap - 4  # starts are rounded to multiples of 8


def test_the_tile_side_is_the_models_native_size_within_the_limits() -> None:
    assert tile_side("sd1", 1024, 1024) == 512
    assert tile_side("sdxl", 1024, 1024) == 1024
    assert tile_side("sdxl", 768, 1024) == 768
    assert tile_side("tiny", 128, 128) == 128


def test_weights_fade_only_where_another_tile_meets() -> None:
    weights = tile_weights(Tile(0, 0, 512, 512), 960, 512, 64)
    assert weights[:, 0].min() == 1  # the image's own edge: no fade
    assert weights[0, 447] == 1 and weights[0, 511] < 0.02  # fading into the next tile


def test_constant_tiles_blend_into_the_same_constant() -> None:
    layout = tile_layout(960, 704, 512, 64)
    tiles = [(tile, Image.new("RGB", (tile.width, tile.height), (40, 90, 200)))
             for tile in layout]
    blended = np.asarray(blend_tiles(960, 704, tiles, 64), dtype=int)
    assert (blended == (40, 90, 200)).all()


def test_two_different_tiles_pass_into_each_other_without_a_seam() -> None:
    width, height, side, overlap = 960, 512, 512, 64
    layout = tile_layout(width, height, side, overlap)
    colours = [(0, 0, 0), (200, 200, 200)]
    tiles = [(tile, Image.new("RGB", (tile.width, tile.height), colours[index]))
             for index, tile in enumerate(layout)]
    row = np.asarray(blend_tiles(width, height, tiles, overlap), dtype=int)[256, :, 0]
    # A hard seam would jump by 200 in one pixel; the blend spreads it over the overlap.
    assert np.abs(np.diff(row)).max() <= 200 / overlap + 1
    assert row[0] == 0 and row[-1] == 200
    assert (np.diff(row) >= 0).all()
