"""Benchmark: the image tools against a plain text-to-image render of the same size and steps.

Each round renders, in this order, a plain txt2img (the reference), a sketch (img2img at 0.6),
an inpaint (half the image, strength 1), a variation (0.35), a morph frame (noise and prompt
embeddings blended), a zoom-out, an upscale 2× in one pass and one in tiles (limits = the
size), and a 4-image batch, all through ``Engine.generate`` (the worker's call). The median of
each over the rounds is divided by the reference's median from the same run.

    python bench/tools.py                              # tiny, 512², 20 steps, 3 rounds
    python bench/tools.py --size 256 --steps 4 --rounds 1
    python bench/tools.py --model random-sd1 --device cuda --rounds 5

Prints a table and writes bench/results/tools.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path[0] = str(ROOT)  # bench/queue.py would shadow the standard library's queue module

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _cases(engine: Any, size: int, steps: int) -> dict[str, tuple[Callable[[], Any], int, int]]:
    """name → (one render, images it makes, pixels of each image)."""
    from PIL import Image

    from bot.domain.recipe import Mode, Recipe
    from bot.domain.tools import morph_recipes
    from bot.domain.validation import Limits
    from bot.inference.engine import Engine

    base = Recipe(prompt="a lighthouse at dusk, oil painting", width=size, height=size,
                  steps=steps, seed=1)
    picture = engine.generate([base]).images[0]
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (size // 2, 0, size, size))
    end = dataclasses.replace(base, prompt="a red fox in snow", seed=2)
    frame = morph_recipes(base, end, 3)[1]
    tiled = Engine(engine.pipeline, model_id=engine.model_id, family=engine.family,
                   device=engine.device, dtype=engine.dtype,
                   limits=Limits(width_max=size, height_max=size))
    img2img = dataclasses.replace(base, mode=Mode.IMG2IMG, strength=0.6, init_image="<memory>")
    inpaint = dataclasses.replace(base, mode=Mode.INPAINT, strength=1.0,
                                  init_image="<memory>", mask_image="<memory>")
    whole = size * size
    return {
        "txt2img": (lambda: engine.generate([base]), 1, whole),
        "sketch (img2img 0.6)": (lambda: engine.generate([img2img], images=[picture]), 1, whole),
        "inpaint (half, 1.0)": (lambda: engine.generate([inpaint], images=[picture],
                                                        masks=[mask]), 1, whole),
        "vary (0.35)": (lambda: engine.vary(base, 0.35, variation_seed=9), 1, whole),
        "morph frame": (lambda: engine.generate([frame]), 1, whole),
        "zoom out 1.5x": (lambda: engine.zoom_out(picture, base.prompt, steps=steps, seed=1),
                          1, whole),
        "upscale 2x, one pass": (lambda: engine.upscale(picture, base.prompt, steps=steps,
                                                        seed=1), 1, 4 * whole),
        "upscale 2x, tiled": (lambda: tiled.upscale(picture, base.prompt, steps=steps, seed=1),
                              1, 4 * whole),
        "batch of 4": (lambda: engine.generate([dataclasses.replace(base, seed=seed)
                                                for seed in range(4)]), 4, whole),
    }


def main() -> None:
    """Run the rounds and print seconds per image and the ratio to txt2img."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="tiny, random-sd1, or an engine source")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=512, help="image side (multiple of 8)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 = default")
    args = parser.parse_args()

    import torch

    from bench._models import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    engine = load_model(args.model, device=args.device)
    cases = _cases(engine, args.size, args.steps)
    for render, _count, _pixels in cases.values():  # warm-up: pipelines built, kernels picked
        render()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (render, count, _pixels) in cases.items():
            started = time.perf_counter()
            render()
            engine._synchronize()
            times[name].append((time.perf_counter() - started) / count)
    reference = statistics.median(times["txt2img"])
    report: dict[str, Any] = {
        "model": args.model, "device": str(engine.device), "size": args.size,
        "steps": args.steps, "rounds": args.rounds, "torch_threads": torch.get_num_threads(),
        "tools": {name: {"seconds_per_image": statistics.median(times[name]),
                         "ratio_to_txt2img": statistics.median(times[name]) / reference,
                         "pixels_per_image": pixels}
                  for name, (_render, _count, pixels) in cases.items()}}
    print(f"# {args.model} on {engine.device} ({platform.processor() or platform.machine()}, "
          f"torch threads {torch.get_num_threads()}), {args.size}², {args.steps} steps, "
          f"median of {args.rounds} round(s)")
    print(f"{'tool':<24} {'s/image':>9} {'× txt2img':>10} {'pixels/image':>14}")
    for name, (_render, _count, pixels) in cases.items():
        per_image = statistics.median(times[name])
        print(f"{name:<24} {per_image:>9.3f} {per_image / reference:>10.2f} {pixels:>14,}")
    batch = statistics.median(times["batch of 4"]) * 4
    print(f"batch of 4, whole call: {batch:.3f} s = {batch / reference:.2f}× one image")
    report["batch_of_4_ratio_to_one_image"] = batch / reference
    out = ROOT / "bench" / "results" / "tools.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
