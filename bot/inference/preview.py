"""Cheap progress previews: a linear 4×3 map from SD latents to RGB, at latent resolution.

Decoding with the VAE at every step would cost as much as a step; this is a 4×3 matrix product
per pixel. The factors are the published approximations of ComfyUI's ``latent_formats`` (SD 1.x,
also used for SD 2.x, and SDXL with its bias). They apply to the scaled latents that the pipeline
iterates on, and give roughly -1..1 per channel.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image

# rows: latent channels 0..3; columns: R, G, B
_SD15_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
_SD15_BIAS = (0.0, 0.0, 0.0)
_SDXL_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
_SDXL_BIAS = (0.1084, -0.0175, -0.0011)


@functools.cache
def _factors(family: str) -> tuple[np.ndarray, np.ndarray]:
    """The (4, 3) map and (3,) bias of ``family``'s latent space, as float32 arrays."""
    # sd1, sd2 and tiny share SD 1.x's VAE latent space (tiny's VAE is random: any map will do).
    rows, bias = (_SDXL_FACTORS, _SDXL_BIAS) if family == "sdxl" else (_SD15_FACTORS, _SD15_BIAS)
    return np.array(rows, dtype=np.float32), np.array(bias, dtype=np.float32)


def latent_preview(latents: torch.Tensor, family: str) -> Image.Image | None:
    """An RGB preview of the first image of a ``(batch, 4, h, w)`` latent batch (``h×w`` pixels).

    Returns None for latents that are not 4-channel, whose colours no published map describes.
    """
    if latents.ndim != 4 or latents.shape[1] != 4:
        return None
    # On a GPU the cast runs there and only 4×h×w floats cross; on the CPU both are no-ops.
    first = latents[0].detach().to(torch.float32).cpu().numpy()
    factors, offset = _factors(family)
    # numpy's einsum (optimize=False) is a plain loop on this thread. torch's matmul would wake
    # its whole OpenMP pool for this 4×3 product: ~0.1 ms on idle cores but 20+ ms when the other
    # cores are busy, as they are while a step runs beside the bot (bench/engine.py --preview).
    rgb = np.einsum("chw,cr->hwr", first, factors) + offset
    pixels = ((rgb + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    return Image.fromarray(pixels)  # uint8 h×w×3 is RGB
