"""The safety checker's cost per image as a ratio to the generation (issue 14's goal: <= 5 %).

Two figures. Measured: a model (``tiny`` by default; ``random-sd1`` on a GPU) renders a batch,
then the checker checks it, each timed on its own (best of a few runs); the checker is SD 1.x's
real architecture (CLIP ViT-L/14 at 224², random weights: its cost is its shape's, not its
weights') or a tiny one. Counted: the floating-point operations of SD 1.5 at that size and step
count (UNet with CFG per step, the VAE decode) against the checker's, counted on torch's "meta"
device (no weights, no memory, no time), which is what the ratio tends to on a GPU where both
run at similar efficiency. On a CPU with the tiny model the measured ratio says little about a
real model: the tiny UNet is thousands of times cheaper than SD 1.5's, the checker is not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

SD1_CHECKER = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
               "num_attention_heads": 16, "image_size": 224, "patch_size": 14}
TINY_CHECKER = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                "num_attention_heads": 2, "image_size": 32, "patch_size": 8}


def build_checker(kind: str, device: Any = "cpu", dtype: Any = None) -> Any:
    """A ModelSafetyChecker of SD 1.x's architecture (``sd1``) or a tiny one, random weights."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import (
        StableDiffusionSafetyChecker,
    )
    from transformers import CLIPConfig, CLIPImageProcessor

    from bot.inference.safety import ModelSafetyChecker

    vision = SD1_CHECKER if kind == "sd1" else TINY_CHECKER
    config = CLIPConfig(vision_config=vision, projection_dim=768 if kind == "sd1" else 8)
    torch.manual_seed(0)
    with torch.device(device):
        checker = StableDiffusionSafetyChecker(config).eval()
    checker = checker.to(dtype=dtype or torch.float32)
    side = vision["image_size"]
    processor = CLIPImageProcessor(size={"shortest_edge": side},
                                   crop_size={"height": side, "width": side})
    return ModelSafetyChecker(checker, processor)


def _best(run: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measured(engine: Any, checker_kind: str, *, size: int, steps: int, images: int,
             repeat: int) -> dict[str, Any]:
    """Seconds per image of the generation and of the checker, timed apart, and their ratio."""
    from bot.domain.recipe import Recipe

    engine.safety = None
    recipes = [Recipe(prompt="a lighthouse at dusk", width=size, height=size, steps=steps,
                      seed=seed) for seed in range(images)]
    engine.generate(recipes[:1])  # warm up
    result = engine.generate(recipes)
    generation = _best(lambda: engine._synchronize() or engine.generate(recipes), repeat)
    checker = build_checker(checker_kind, engine.device, engine.dtype)
    checker.check(result.images, recipes)  # warm up
    check = _best(lambda: (checker.check(result.images, recipes), engine._synchronize()), repeat)
    return {"model": engine.model_id, "device": str(engine.device), "checker": checker_kind,
            "size": size, "steps": steps, "images": images,
            "generation_s_per_image": generation / images,
            "checker_s_per_image": check / images, "ratio": check / generation}


def counted(*, size: int, steps: int) -> dict[str, Any]:
    """SD 1.5's TFLOP per image (UNet with CFG × steps + VAE decode) and the checker's."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode

    from bot.inference.checkpoints import config_folder

    folder = Path(config_folder("sd1"))
    latent = size // 8
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        checker = build_checker("sd1", "meta").checker

        def flops(run: Any) -> float:
            with FlopCounterMode(display=False) as counter:
                run()
            return counter.get_total_flops() / 1e12

        step = flops(lambda: unet(torch.randn(2, 4, latent, latent), torch.tensor([500, 500]),
                                  encoder_hidden_states=torch.randn(2, 77, 768)))
        decode = flops(lambda: vae.decode(torch.randn(1, 4, latent, latent)))
        check = flops(lambda: checker.visual_projection(
            checker.vision_model(torch.randn(1, 3, 224, 224))[1]))
    generation = step * steps + decode
    return {"size": size, "steps": steps, "unet_cfg_tflop_per_step": step,
            "vae_decode_tflop": decode, "generation_tflop": generation,
            "checker_tflop": check, "ratio": check / generation}
