"""Inpainting keeps what the mask keeps: the original pixels go back outside a soft mask edge.

The pipeline regenerates the whole image through the VAE, so even the kept area comes back
changed (on a random-weight VAE, flat grey-green). A1111 and diffusers' ``apply_overlay`` paste
the original back outside the mask; a blurred mask edge hides the seam. An image whose sides are
not multiples of 8 is rendered resized to the multiples of 8 below them, and the render is
resized back up and pasted into the image at its own size (``paste_into``), so the last rows and
columns are kept like the rest, and a mask that reaches them is painted there too.
"""

from __future__ import annotations

from PIL import Image, ImageFilter

# Two box blurs of this radius make a smooth ramp (close to a Gaussian of σ ≈ 3.7, A1111's
# default mask blur is 4) that reaches exactly 2 × radius pixels on either side of the edge.
EDGE_BLUR_RADIUS = 4
EDGE_REACH = 2 * EDGE_BLUR_RADIUS  # pixels beyond the mask's edge that may differ at all


def binary_mask(mask: Image.Image) -> Image.Image:
    """``mask`` (mode "L") as diffusers reads it: 255 where it repaints, 0 where it keeps."""
    # diffusers binarizes at 0.5 of 255: a grey mask repaints from 128 up.
    return mask.point(lambda value: 255 if value >= 128 else 0)


def soft_mask(mask: Image.Image) -> Image.Image:
    """The binary mask with its edge softened over ``2 × EDGE_REACH`` pixels."""
    blur = ImageFilter.BoxBlur(EDGE_BLUR_RADIUS)
    return binary_mask(mask).filter(blur).filter(blur)


def keep_unmasked(original: Image.Image, generated: Image.Image,
                  mask: Image.Image) -> Image.Image:
    """``generated`` inside ``mask``, ``original`` outside it, blended across the soft edge.

    All three images have the same size; ``original`` and ``generated`` are RGB, ``mask`` "L".
    Pixels farther than ``EDGE_REACH`` from the repainted area are ``original``'s exactly.
    """
    return Image.composite(generated, original.convert(generated.mode), soft_mask(mask))


def paste_into(original: Image.Image, generated: Image.Image, mask: Image.Image) -> Image.Image:
    """``keep_unmasked`` at ``original``'s size: ``generated`` (rendered at another size) and
    ``mask`` are resized to it first (the mask with nearest neighbour, so it stays binary)."""
    size = original.size
    if generated.size != size:
        generated = generated.resize(size, Image.Resampling.LANCZOS)
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.NEAREST)
    return keep_unmasked(original, generated, mask)
