"""The latent → RGB preview is small, RGB, and far cheaper than a denoising step."""

from __future__ import annotations

import time

import torch

from bot.inference.preview import latent_preview


def test_preview_is_rgb_at_latent_resolution_of_the_first_image() -> None:
    latents = torch.zeros(2, 4, 64, 48)
    latents[1] = 5.0  # the second image must not leak into the preview
    preview = latent_preview(latents, "sd1")
    assert preview is not None
    assert (preview.mode, preview.size) == ("RGB", (48, 64))
    assert set(preview.getdata()) == {(127, 127, 127)}  # zero latents: mid grey


def test_sdxl_has_its_own_factors() -> None:
    latents = torch.zeros(1, 4, 8, 8)
    sdxl, sd1 = latent_preview(latents, "sdxl"), latent_preview(latents, "sd1")
    assert sdxl is not None and sd1 is not None
    assert sdxl.getpixel((0, 0)) != sd1.getpixel((0, 0))  # SDXL's map has a bias


def test_other_channel_counts_give_no_preview() -> None:
    assert latent_preview(torch.zeros(1, 16, 8, 8), "sd1") is None


def test_preview_costs_well_under_a_millisecond_or_so() -> None:
    latents = torch.randn(1, 4, 64, 64)
    latent_preview(latents, "sd1")
    started = time.perf_counter()
    for _ in range(20):
        latent_preview(latents, "sd1")
    per_preview = (time.perf_counter() - started) / 20
    assert per_preview < 0.01  # generous for a loaded CI machine; ~0.2 ms measured
