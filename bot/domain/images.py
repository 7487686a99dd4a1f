"""Uploaded images: what may be accepted, at what size they are used, and what a mask may be.

Pure decisions (no Pillow, no I/O): the service reads a file's declared facts and, after
decoding, its real ones, and asks here. Every refusal names the value and the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain.errors import ValidationError
from bot.domain.validation import Limits

MIN_SIDE = 64  # the smallest side a diffusion model's latent (8 px per cell) can use
ACCEPTED_TYPES = ("image/png", "image/jpeg", "image/webp")
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class InputLimits:
    """What an uploaded image may be (``[limits]`` in the config)."""

    max_bytes: int = 8 * MiB
    max_side: int = 8192
    max_pixels: int = 40_000_000


@dataclass(frozen=True, slots=True)
class DeclaredFile:
    """What Discord says about an attachment before a byte of it is read."""

    filename: str
    size: int
    content_type: str | None = None
    width: int | None = None
    height: int | None = None


def describe_bytes(size: int) -> str:
    """50 MB, 8 MB, 300 KB, 90 bytes (MiB/KiB, as Discord shows sizes)."""
    if size >= MiB:
        return f"{size / MiB:.3g} MB"
    if size >= 1024:
        return f"{size / 1024:.3g} KB"
    return f"{size} bytes"


def check_byte_size(what: str, size: int, limits: InputLimits) -> None:
    """Refuse a file over the size limit (declared or downloaded)."""
    if size > limits.max_bytes:
        raise ValidationError(f"{what} is {describe_bytes(size)}; the limit is "
                              f"{describe_bytes(limits.max_bytes)}")
    if size <= 0:
        raise ValidationError(f"{what} is empty (0 bytes)")


def check_dimensions(what: str, width: int, height: int, limits: InputLimits, *,
                     min_side: int = MIN_SIDE) -> None:
    """Refuse an image too small to use or too large to decode safely (from its header).

    A mask may be small (``min_side=1``): it is resized to its image anyway.
    """
    if width < min_side or height < min_side:
        raise ValidationError(f"{what} is {width}×{height} pixels; each side must be at least "
                              f"{min_side} pixels")
    if max(width, height) > limits.max_side:
        raise ValidationError(f"{what} is {width}×{height} pixels; the longest side may be "
                              f"{limits.max_side} pixels")
    if width * height > limits.max_pixels:
        raise ValidationError(f"{what} is {width}×{height} pixels ({width * height / 1e6:.3g} "
                              f"megapixels); the limit is {limits.max_pixels / 1e6:.3g} "
                              "megapixels")


def check_declared(what: str, declared: DeclaredFile, limits: InputLimits, *,
                   min_side: int = MIN_SIDE) -> None:
    """The cheap checks, before anything is downloaded: size, a declared non-image type, and
    the dimensions when Discord gives them."""
    check_byte_size(what, declared.size, limits)
    kind = (declared.content_type or "").split(";")[0].strip().lower()
    # A missing or generic type says nothing: the bytes decide. A declared other type refuses.
    if kind and kind != "application/octet-stream" and kind not in ACCEPTED_TYPES:
        raise ValidationError(f"{what} must be a PNG, JPEG or WebP image, got {kind}")
    if declared.width is not None and declared.height is not None:
        check_dimensions(what, declared.width, declared.height, limits, min_side=min_side)


class Fit(StrEnum):
    """How an upload's size became the size it is used at."""

    KEPT = "kept"  # already a multiple of 8 within the limits
    CROPPED = "cropped"  # the last few (< 8) rows or columns cut to reach a multiple of 8
    SCALED = "scaled"  # larger than the limits: scaled down, keeping the aspect


@dataclass(frozen=True, slots=True)
class Sizing:
    """The size an uploaded image is used at, and how it got there."""

    width: int
    height: int
    fit: Fit
    source: tuple[int, int]

    @property
    def note(self) -> str | None:
        """What to tell the user about the change, or None if the size was kept."""
        w, h = self.source
        if self.fit is Fit.CROPPED:
            return (f"the image is {w}×{h}; it was cropped to {self.width}×{self.height} "
                    "(sides must be multiples of 8)")
        if self.fit is Fit.SCALED:
            return (f"the image is {w}×{h}; it was scaled down to {self.width}×{self.height} "
                    "to fit the size limits")
        return None


def working_size(width: int, height: int, limits: Limits) -> Sizing:
    """The image's own size rounded down to multiples of 8 when within ``limits``, else scaled
    down keeping the aspect (each side then rounded down to a multiple of 8)."""
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ValidationError(f"the image is {width}×{height} pixels; each side must be at least "
                              f"{MIN_SIDE} pixels")
    if width <= limits.width_max and height <= limits.height_max:
        w, h = width // 8 * 8, height // 8 * 8
        return Sizing(w, h, Fit.KEPT if (w, h) == (width, height) else Fit.CROPPED,
                      (width, height))
    scale = min(limits.width_max / width, limits.height_max / height)
    w, h = int(width * scale) // 8 * 8, int(height * scale) // 8 * 8
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ValidationError(f"the image is {width}×{height} pixels; scaled down to fit "
                              f"{limits.width_max}×{limits.height_max} it would be {w}×{h}, "
                              f"under {MIN_SIDE} pixels on a side")
    return Sizing(w, h, Fit.SCALED, (width, height))


NO_MASK = ("the image has no transparent pixels and no mask was attached: erase the area to "
           "repaint (make it transparent) or attach a mask (white = repaint, black = keep)")


def check_mask_coverage(repaint: int, total: int, *, from_alpha: bool) -> None:
    """Refuse a mask that repaints nothing or everything (``from_alpha``: the mask is the
    image's transparent pixels, not an attached mask)."""
    if repaint <= 0:
        raise ValidationError(NO_MASK if from_alpha else
                              "the mask is all black: nothing to repaint (white = repaint, "
                              "black = keep)")
    if repaint >= total:
        what = "the image is transparent everywhere" if from_alpha else "the mask is all white"
        raise ValidationError(f"{what}: that repaints the whole image; keep part of it, or use "
                              "/sketch to redraw it all")


def mask_size_note(mask: tuple[int, int], image: tuple[int, int]) -> str | None:
    """The note for a mask of another size than its image (it is resized), or None."""
    if mask == image:
        return None
    return (f"the mask is {mask[0]}×{mask[1]} and the image {image[0]}×{image[1]}: the mask "
            "was resized to the image")
