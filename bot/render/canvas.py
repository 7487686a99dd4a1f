"""A zoom-out's inputs: the image shrunk into a canvas of its own size, and the border's mask.

Blocking Pillow work (tens of ms at 512²): call it off the event loop. The border is filled
with the image itself, enlarged and blurred, so the inpainting starts from the image's colours
(a model made for inpainting sees them around the hole; a plain model at strength 1 only needs
the mask).
"""

from __future__ import annotations

from PIL import Image, ImageFilter

from bot.domain.tools import ZoomLayout, zoom_layout

BORDER_BLUR = 24  # a radius that leaves colours, not shapes, in the border


def zoom_canvas(image: Image.Image, layout: ZoomLayout | None = None
                ) -> tuple[Image.Image, Image.Image]:
    """The RGB canvas (the image shrunk in the middle) and the "L" mask (white = the border
    to paint, black = the shrunk image to keep), both at the image's size."""
    rgb = image.convert("RGB")
    layout = layout or zoom_layout(rgb.width, rgb.height)
    size = (layout.width, layout.height)
    canvas = rgb.resize(size, Image.Resampling.BILINEAR).filter(
        ImageFilter.GaussianBlur(BORDER_BLUR))
    inner = rgb.resize((layout.inner_width, layout.inner_height), Image.Resampling.LANCZOS)
    canvas.paste(inner, (layout.left, layout.top))
    mask = Image.new("L", size, 255)
    mask.paste(0, layout.keep_box)
    return canvas, mask
