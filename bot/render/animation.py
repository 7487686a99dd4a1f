"""A morph's frames as one file to post: an animated WebP (a GIF where Pillow lacks WebP), and
a contact sheet of every frame. Blocking (Pillow encoding): call it off the event loop.

Neither carries the A1111 ``parameters`` chunk: each frame's recipe is on its own job (and in
its own PNG), and a reader must not take the animation for one of them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from PIL import Image, features

FRAME_MS = 125  # 8 frames a second: a default 8-frame morph takes one second
ANIMATION_MAX_SIDE = 768  # keeps a 24-frame morph well under Discord's upload limit
WEBP_QUALITY = 85
SHEET_COLUMNS_MAX = 6
SHEET_CELL = 256  # the longest side of a frame on the contact sheet
SHEET_GUTTER = 4
SHEET_BACKGROUND = (24, 24, 27)


def webp_supported() -> bool:
    """Whether this Pillow was built with WebP (animation included since Pillow 10's wheels;
    an older build without it falls back to GIF when saving fails)."""
    return bool(features.check("webp"))


def animation_suffix(data: bytes) -> str:
    """".webp" or ".gif", read from the bytes ``morph_animation`` made."""
    return ".webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else ".gif"


def _fit(image: Image.Image, side: int) -> Image.Image:
    rgb = image.convert("RGB")
    if max(rgb.size) <= side:
        return rgb
    scale = side / max(rgb.size)
    return rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                      Image.Resampling.LANCZOS)


def morph_animation(frames: Sequence[Image.Image], *, frame_ms: int = FRAME_MS,
                    webp: bool | None = None) -> bytes:
    """The frames in order, looping, as an animated WebP (``webp`` None: when supported)."""
    if not frames:
        raise ValueError("an animation needs at least one frame")
    fitted = [_fit(frame, ANIMATION_MAX_SIDE) for frame in frames]
    if webp_supported() if webp is None else webp:
        buffer = io.BytesIO()
        try:
            fitted[0].save(buffer, format="WEBP", save_all=True, append_images=fitted[1:],
                           duration=frame_ms, loop=0, quality=WEBP_QUALITY, method=4)
            return buffer.getvalue()
        except (OSError, KeyError, ValueError):  # a WebP build without animation
            pass
    buffer = io.BytesIO()
    fitted[0].save(buffer, format="GIF", save_all=True, append_images=fitted[1:],
                   duration=frame_ms, loop=0, optimize=False)
    return buffer.getvalue()


def morph_contact_sheet(frames: Sequence[Image.Image]) -> bytes:
    """Every frame, left to right and row by row (at most ``SHEET_COLUMNS_MAX`` a row), with
    thin gutters, as a PNG."""
    if not frames:
        raise ValueError("a contact sheet needs at least one frame")
    cells = [_fit(frame, SHEET_CELL) for frame in frames]
    cell_w = max(cell.width for cell in cells)
    cell_h = max(cell.height for cell in cells)
    columns = min(len(cells), SHEET_COLUMNS_MAX, max(1, math.ceil(math.sqrt(len(cells)))))
    rows = math.ceil(len(cells) / columns)
    sheet = Image.new("RGB", (columns * cell_w + (columns + 1) * SHEET_GUTTER,
                              rows * cell_h + (rows + 1) * SHEET_GUTTER), SHEET_BACKGROUND)
    for index, cell in enumerate(cells):
        row, column = divmod(index, columns)
        sheet.paste(cell, (SHEET_GUTTER + column * (cell_w + SHEET_GUTTER),
                           SHEET_GUTTER + row * (cell_h + SHEET_GUTTER)))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
