"""The tiny model: seeded weights, no change to global RNG, and a faithful save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bot.inference import Engine, load_engine
from bot.inference.tiny import build_tiny_pipeline


def test_every_build_has_identical_weights_and_leaves_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    first, second = build_tiny_pipeline(), build_tiny_pipeline()
    assert torch.equal(state, torch.random.get_rng_state())
    for name in ("unet", "vae", "text_encoder"):
        ours, theirs = getattr(first, name).state_dict(), getattr(second, name).state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[key], theirs[key]) for key in ours)
    assert first.safety_checker is None
    assert first.vae_scale_factor == 8


def test_tiny_builds_in_a_requested_dtype() -> None:
    pipe = build_tiny_pipeline(torch.bfloat16)
    assert pipe.unet.dtype == pipe.vae.dtype == pipe.text_encoder.dtype == torch.bfloat16


def test_saved_tiny_model_reloads_and_reproduces_its_images(tiny_engine: Engine,
                                                            tmp_path: Path) -> None:
    folder = tmp_path / "tiny-saved"
    tiny_engine.pipeline.save_pretrained(folder)
    reloaded = load_engine(str(folder), device="cpu")
    assert reloaded.family == "tiny"
    assert reloaded.model_id == str(folder)
    for key in ("euler_a", "ddim"):
        request = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 3,
                   "seed": 99, "scheduler": key}
        ours = tiny_engine.txt2img(**request)  # type: ignore[arg-type]
        theirs = reloaded.txt2img(**request)  # type: ignore[arg-type]
        assert np.array_equal(np.asarray(ours.images[0]), np.asarray(theirs.images[0]))
        assert theirs.recipes[0].model == str(folder)
