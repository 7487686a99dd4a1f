"""Inpainting masks from uploads: white = repaint, black = keep. Blocking: run off the loop.

A mask is binarised where diffusers binarises it (128 of 255), so what is checked here (empty,
everything) is what the pipeline will do.
"""

from __future__ import annotations

from PIL import Image

REPAINT, KEEP = 255, 0
THRESHOLD = 128  # diffusers reads a mask value ≥ 0.5 as "repaint"


def _binary(gray: Image.Image) -> Image.Image:
    return gray.point(lambda value: REPAINT if value >= THRESHOLD else KEEP)


def mask_from_upload(image: Image.Image) -> Image.Image:
    """An uploaded mask as a black-and-white "L" image; its transparent parts count as black
    (white strokes on a transparent layer are a mask too)."""
    if image.mode == "RGBA":
        canvas = Image.new("RGB", image.size, (0, 0, 0))
        canvas.paste(image, mask=image.getchannel("A"))
        image = canvas
    return _binary(image.convert("L"))


def mask_from_alpha(image: Image.Image) -> Image.Image:
    """The repaint area of an RGBA image: its (mostly) transparent pixels."""
    alpha = image.getchannel("A") if image.mode == "RGBA" else Image.new("L", image.size, 255)
    return alpha.point(lambda value: REPAINT if value < THRESHOLD else KEEP)


def coverage(mask: Image.Image) -> tuple[int, int]:
    """(pixels to repaint, all pixels) of a binary "L" mask."""
    histogram = mask.histogram()
    return sum(histogram[THRESHOLD:]), mask.width * mask.height
