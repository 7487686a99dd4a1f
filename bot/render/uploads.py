"""Uploaded images → pixels the engine can use. Blocking (decoding): run off the event loop.

The header is read and checked (format, sides, pixel count) before any pixel is decoded, with
Pillow's decompression-bomb guard on; only PNG, JPEG and WebP decoders are even tried, so a
text file named ``.png`` is refused whatever its declared type.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from bot.domain.errors import ValidationError
from bot.domain.images import MIN_SIDE, Fit, InputLimits, Sizing, check_dimensions
from bot.domain.lineage import IMAGE_TYPES

_FORMATS = tuple(IMAGE_TYPES)  # PNG, JPEG, WEBP: Pillow tries no other decoder
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def decode_upload(data: bytes, what: str, limits: InputLimits, *,
                  min_side: int = MIN_SIDE) -> Image.Image:
    """The decoded image (upright per its EXIF orientation) in RGB, or RGBA if it has any
    transparency; ValidationError naming the problem for anything else."""
    if Image.MAX_IMAGE_PIXELS is None:  # someone turned the guard off process-wide
        Image.MAX_IMAGE_PIXELS = limits.max_pixels
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1× and 2× its pixel limit; refuse there too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_FORMATS) as opened:  # the header only
                check_dimensions(what, opened.width, opened.height, limits, min_side=min_side)
                opened.load()  # now the pixels: a truncated file fails here
                image = ImageOps.exif_transpose(opened)
    except ValidationError:
        raise
    except UnidentifiedImageError:
        raise ValidationError(f"{what} is not a PNG, JPEG or WebP image (its bytes are "
                              "something else, whatever its name says)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValidationError(f"{what} is too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ValidationError(f"{what} could not be read as an image ({error})") from None
    return image.convert("RGBA" if has_alpha(image) else "RGB")


def has_alpha(image: Image.Image) -> bool:
    """Whether the image can hold transparent pixels (an alpha channel or a transparent
    palette/colour key)."""
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """An RGB image: ``image`` over a plain ``background`` where it is transparent."""
    if image.mode != "RGBA":
        return image.convert("RGB")
    canvas = Image.new("RGB", image.size, background)
    canvas.paste(image, mask=image.getchannel("A"))
    return canvas


def fit_to(image: Image.Image, sizing: Sizing, *, mask: bool = False) -> Image.Image:
    """``image`` at ``sizing``'s size: its last rows/columns cut (cropped), or resized (scaled
    down, or a mask of another size than its image). A mask is resized with nearest neighbour,
    so it stays black and white.
    """
    size = (sizing.width, sizing.height)
    if image.size == size:
        return image
    if image.size == sizing.source and sizing.fit is Fit.CROPPED:
        return image.crop((0, 0, *size))  # the kept pixels stay exactly as they were
    resample = Image.Resampling.NEAREST if mask else Image.Resampling.LANCZOS
    return image.resize(size, resample)


def encode_stored(image: Image.Image) -> bytes:
    """A plain PNG of an input image, as the attachments store keeps it (no metadata)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
