"""Models for the benchmarks: any engine source, plus ``random-sd1``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_model(model: str, device: str = "auto", dtype: str = "auto") -> Any:
    """An engine: ``random-sd1`` is SD 1.5's real-size architecture with random weights."""
    from bot.inference import load_engine

    if model != "random-sd1":
        return load_engine(model, device=device, dtype=dtype)
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from bot.inference.checkpoints import config_folder
    from bot.inference.engine import Engine
    from bot.inference.sources import resolve_device, resolve_dtype
    from bot.inference.tokenizer import clip_tokenizer

    folder = Path(config_folder("sd1"))
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    torch.manual_seed(0)
    with torch.device(torch_device):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        text = CLIPTextModel(CLIPTextConfig.from_json_file(folder / "text_encoder/config.json"))
    scheduler = EulerAncestralDiscreteScheduler.from_pretrained(folder, subfolder="scheduler")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=clip_tokenizer(),
                                   unet=unet, scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe = pipe.to(torch_device, torch_dtype)
    return Engine(pipe, model_id="random-sd1", family="sd1", device=torch_device,
                  dtype=torch_dtype)


def report(title: str, rows: list[tuple[str, str]], result: dict[str, Any], path: Path) -> None:
    """Print a benchmark's table and write its JSON."""
    import json

    print(title)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"JSON: {path}")
