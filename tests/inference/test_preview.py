"""The latent → RGB preview is small, RGB, a linear map of the latents, and never a VAE call."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from bot.inference import Engine, StepProgress
from bot.inference.preview import _SD15_FACTORS, latent_preview


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


def test_preview_is_the_published_linear_map_of_each_latent_pixel() -> None:
    latents = torch.randn(1, 4, 3, 5, generator=torch.Generator().manual_seed(0))
    preview = latent_preview(latents, "sd1")
    assert preview is not None
    for y in range(3):
        for x in range(5):
            rgb = [sum(float(latents[0, c, y, x]) * _SD15_FACTORS[c][k] for c in range(4))
                   for k in range(3)]
            expected = [min(255, max(0, int((v + 1.0) * 127.5))) for v in rgb]
            got = preview.getpixel((x, y))
            assert isinstance(got, tuple)
            # float32 vs float64 sums may land on either side of an integer
            assert all(abs(g - e) <= 1 for g, e in zip(got, expected, strict=True))


def test_previews_never_decode_with_the_vae(tiny_engine: Engine,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Cheap by construction: the only VAE call of a generation is the final decode, after the
    # last step; every preview is made from the latents alone (its cost is in bench/engine.py).
    events: list[str] = []
    vae_class = type(tiny_engine.pipeline.vae)
    real_decode = vae_class.decode

    def decode(vae: Any, *args: Any, **kwargs: Any) -> Any:
        events.append("decode")
        return real_decode(vae, *args, **kwargs)

    def on_progress(progress: StepProgress) -> None:
        assert progress.preview is not None
        events.append(f"preview {progress.preview.size}")

    monkeypatch.setattr(vae_class, "decode", decode)
    tiny_engine.txt2img("a lighthouse", width=64, height=64, steps=3, seed=1,
                        progress=on_progress)
    assert events == ["preview (8, 8)"] * 3 + ["decode"]
