"""Cheap progress previews: a linear 4×3 map from SD latents to RGB, at latent resolution.

Decoding with the VAE at every step would cost as much as a step; this costs well under a
millisecond. The factors are the published approximations of ComfyUI's ``latent_formats``
(SD 1.x, also used for SD 2.x, and SDXL with its bias). They apply to the scaled latents that
the pipeline iterates on, and give roughly -1..1 per channel.
"""

from __future__ import annotations

import functools

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
def _factors(family: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The (4, 3) map and (3,) bias on ``device``, made once: a copy to a GPU costs a sync."""
    # sd1, sd2 and tiny share SD 1.x's VAE latent space (tiny's VAE is random: any map will do).
    rows, bias = (_SDXL_FACTORS, _SDXL_BIAS) if family == "sdxl" else (_SD15_FACTORS, _SD15_BIAS)
    return (torch.tensor(rows, dtype=torch.float32, device=device),
            torch.tensor(bias, dtype=torch.float32, device=device))


def latent_preview(latents: torch.Tensor, family: str) -> Image.Image | None:
    """An RGB preview of the first image of a ``(batch, 4, h, w)`` latent batch (``h×w`` pixels).

    Returns None for latents that are not 4-channel, whose colours no published map describes.
    """
    if latents.ndim != 4 or latents.shape[1] != 4:
        return None
    # The tiny matmul runs where the latents are; only h×w×3 bytes cross to the CPU.
    first = latents[0].detach().to(torch.float32)
    factors, offset = _factors(family, first.device)
    rgb = first.permute(1, 2, 0) @ factors + offset
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).cpu().numpy()
    return Image.fromarray(pixels)  # uint8 h×w×3 is RGB
