"""Tiled image-to-image for upscales larger than the size limits: overlapping tiles, blended.

Each tile is redrawn on its own (at most the model's native size, within the limits); where two
tiles overlap, each one's weight falls linearly to zero towards its edge, and the weights are
normalised, so the result passes from one tile to the next over the whole overlap: no seam.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

# The size each family was trained at: a larger tile makes a model repeat its subject.
NATIVE_SIDE = {"sd1": 512, "sd2": 512, "sd2-v": 768, "sdxl": 1024, "tiny": 512}
OVERLAP_FRACTION = 8  # overlap = tile side / 8 (64 px at 512)


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile's box in the large image."""

    left: int
    top: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom), as Pillow's crop takes it."""
        return (self.left, self.top, self.left + self.width, self.top + self.height)


def tile_side(family: str, width_max: int, height_max: int) -> int:
    """The tile side for a model family within the size limits (a multiple of 8)."""
    side = min(NATIVE_SIDE.get(family, 512), width_max, height_max)
    return max(64, side // 8 * 8)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one side, evenly spread, multiples of 8, overlapping by ≥ ``overlap``."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    span = length - tile
    return [round(span * index / (count - 1) / 8) * 8 if index < count - 1 else span
            for index in range(count)]


def tile_layout(width: int, height: int, tile: int, overlap: int) -> list[Tile]:
    """Tiles of at most ``tile``×``tile`` covering ``width``×``height``, row by row."""
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be from 0 to less than the tile side {tile}, "
                         f"got {overlap}")
    tile_w, tile_h = min(tile, width), min(tile, height)
    return [Tile(left, top, tile_w, tile_h)
            for top in _starts(height, tile_h, overlap)
            for left in _starts(width, tile_w, overlap)]


def _ramp(length: int, fade_start: int, fade_end: int) -> np.ndarray:
    """Weights along one side: rising over ``fade_start`` pixels, falling over ``fade_end``."""
    weights = np.ones(length, dtype=np.float64)
    if fade_start:
        weights[:fade_start] = (np.arange(fade_start) + 0.5) / fade_start
    if fade_end:
        weights[length - fade_end:] = np.minimum(
            weights[length - fade_end:], ((np.arange(fade_end) + 0.5) / fade_end)[::-1])
    return weights


def tile_weights(tile: Tile, width: int, height: int, overlap: int) -> np.ndarray:
    """A tile's blend weights (height × width): fading over ``overlap`` on each side that
    meets another tile, 1 elsewhere (never 0, so every pixel has weight)."""
    right, bottom = tile.left + tile.width, tile.top + tile.height
    across = _ramp(tile.width, overlap if tile.left > 0 else 0, overlap if right < width else 0)
    down = _ramp(tile.height, overlap if tile.top > 0 else 0, overlap if bottom < height else 0)
    return np.outer(down, across)


def blend_tiles(width: int, height: int, tiles: Sequence[tuple[Tile, Image.Image]],
                overlap: int) -> Image.Image:
    """The tiles' images put together into one RGB image, blended where they overlap."""
    total = np.zeros((height, width, 3), dtype=np.float64)
    weight = np.zeros((height, width, 1), dtype=np.float64)
    for tile, image in tiles:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
        w = tile_weights(tile, width, height, overlap)[..., None]
        region = (slice(tile.top, tile.top + tile.height),
                  slice(tile.left, tile.left + tile.width))
        total[region] += pixels * w
        weight[region] += w
    if not np.all(weight > 0):
        raise ValueError("the tiles do not cover the whole image")
    return Image.fromarray(np.clip(np.rint(total / weight), 0, 255).astype(np.uint8), "RGB")
