"""Fit a result under an upload limit without losing its metadata. Blocking: run off the loop."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from bot.domain.a1111 import format_parameters
from bot.domain.recipe import Recipe
from bot.render.png import encode_png

# EXIF tags where A1111 keeps ``parameters`` in JPEG/WebP files (readers look there).
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286


@dataclass(frozen=True, slots=True)
class Encoded:
    """One encoding of a result: bytes, file name suffix and how it was made."""

    data: bytes
    suffix: str
    note: str = ""


def _user_comment(text: str) -> bytes:
    # The EXIF UserComment "UNICODE" form that piexif writes and A1111 reads.
    return b"UNICODE\x00" + text.encode("utf-16-be")


def encode_webp(image: Image.Image, parameters: str, *, lossless: bool,
                quality: int = 90) -> bytes:
    """WebP carrying ``parameters`` in EXIF UserComment, as A1111 writes it."""
    exif = Image.Exif()
    exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _user_comment(parameters)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", lossless=lossless, quality=quality if not lossless else 80,
               method=4, exif=exif.tobytes())
    return buffer.getvalue()


def read_webp_parameters(data: bytes) -> str | None:
    """The parameters stored by ``encode_webp``, or None."""
    with Image.open(io.BytesIO(data)) as image:
        raw = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    if isinstance(raw, bytes) and raw.startswith(b"UNICODE\x00"):
        return raw[8:].decode("utf-16-be")
    return raw if isinstance(raw, str) else None


def fit_under(png: bytes, parameters: str, limit: int) -> Encoded:
    """The first encoding of ``png`` under ``limit`` bytes, from the most faithful down.

    PNG as is → PNG at maximum compression → lossless WebP → WebP quality 90 (the last is lossy
    and says so). Every step keeps the A1111 parameters.
    """
    if len(png) <= limit:
        return Encoded(png, ".png")
    with Image.open(io.BytesIO(png)) as opened:
        image = opened.copy()
    candidates = (
        (lambda: encode_png(image, parameters, compress_level=9), ".png", ""),
        (lambda: encode_webp(image, parameters, lossless=True), ".webp", "lossless WebP"),
        (lambda: encode_webp(image, parameters, lossless=False), ".webp",
         "lossy WebP (the PNG was over the upload limit)"),
    )
    encoded = Encoded(png, ".png")
    for encode, suffix, note in candidates:
        encoded = Encoded(encode(), suffix, note)
        if len(encoded.data) <= limit:
            return encoded
    return encoded


def fit_result(png: bytes, recipe: Recipe, limit: int) -> Encoded:
    """A result PNG under ``limit`` bytes; a re-encoding carries ``recipe``'s parameters.

    They are the text the PNG was written with (``format_parameters`` of the final recipe), made
    again rather than parsed back from the file: nothing is decoded when the PNG already fits.
    """
    if len(png) <= limit:
        return Encoded(png, ".png")
    return fit_under(png, format_parameters(recipe), limit)
