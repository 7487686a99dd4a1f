"""Benchmark: what a model switch and a LoRA cost, as ratios to rendering one image.

    python bench/models.py                          # tiny, 128², 4 steps, 3 runs each
    python bench/models.py --model /models/sd15 --device cuda --size 512 --steps 25
    python bench/models.py --gpu-peak               # on a GPU: compile speed-up and the share
                                                    # of bf16 peak, SD 1.5's size (random-sd1)

A switch is measured through the real pool (``ModelPool``): the least recently used model is
unloaded and the other loaded, as when a job of another model comes. A LoRA is measured three
ways: its first use (the file loaded as an adapter), a later use (adapters kept, only switched
on and off), and the unload-after-each-job mode that a compiled UNet needs; and how much
slower a job without LoRAs is while adapters stay loaded (switched off).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path[0] = str(ROOT)  # bench/queue.py would shadow the standard library's queue

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _median_seconds(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Seconds of one image, a switch and the LoRA modes, and their ratios."""
    from bot.domain.models import ModelCatalog, ModelSpec
    from bot.domain.recipe import Recipe
    from bot.inference.lora_files import LoraFiles
    from bot.inference.loras import LoraAdapters, make_random_lora
    from bot.inference.models import ModelPool, load_model

    folder = Path(tempfile.mkdtemp(prefix="neurostream-bench-loras-"))
    lora = Path(args.lora) if args.lora else make_random_lora(folder / "bench.safetensors")
    files = LoraFiles([lora.parent])
    name = lora.name.removesuffix(".safetensors")
    specs = [ModelSpec(label, source=args.model, device=args.device, dtype=args.dtype)
             for label in ("first", "second")]
    pool = ModelPool(ModelCatalog(specs), lambda spec: load_model(spec, loras=files),
                     capacity=1)
    engine = pool.engine("first")
    recipe = Recipe(prompt="a lighthouse at dusk", width=args.size, height=args.size,
                    steps=args.steps, seed=1, model="first")

    def image(loras: tuple[tuple[str, float], ...] = ()) -> None:
        engine.generate([dataclasses.replace(recipe, loras=loras)])

    image()  # warm-up
    one = _median_seconds(image, args.runs)
    switches = []
    for _ in range(args.runs):  # each pool.engine() call unloads one model and loads the other
        for label in ("second", "first"):
            started = time.perf_counter()
            pool.engine(label)
            switches.append(time.perf_counter() - started)
    engine = pool.engine("first")
    switch = statistics.median(switches)
    assert engine.loras is not None
    started = time.perf_counter()
    image(((name, 1.0),))  # the file is read and loaded as an adapter here
    first_use = time.perf_counter() - started - one
    kept = _median_seconds(lambda: image(((name, 1.0),)), args.runs) - one
    # Jobs without LoRAs while adapters stay loaded (switched off), against an engine that
    # never had any: alternated, so that machine noise hits both alike.
    plain = load_model(specs[1])
    with_adapters: list[float] = []
    without: list[float] = []
    for _ in range(args.runs):
        for target, times in ((engine, with_adapters), (plain, without)):
            started = time.perf_counter()
            target.generate([recipe])
            times.append(time.perf_counter() - started)
    adapters_overhead = statistics.median(with_adapters) / statistics.median(without) - 1
    del plain
    engine.loras.unload(engine.pipeline)
    engine.loras = LoraAdapters(files, keep=0)
    unloading = _median_seconds(lambda: image(((name, 1.0),)), args.runs) - one
    return {
        "model": args.model, "device": str(engine.device), "size": args.size,
        "steps": args.steps, "runs": args.runs, "image_s": one, "switch_s": switch,
        "switch_over_image": switch / one, "lora_first_use_s": first_use,
        "lora_first_use_over_image": first_use / one, "lora_kept_s": kept,
        "lora_kept_over_image": kept / one, "lora_unload_each_s": unloading,
        "lora_unload_each_over_image": unloading / one,
        "idle_adapters_slowdown": adapters_overhead,
    }


def gpu_peak(args: argparse.Namespace) -> dict[str, Any]:
    """On a GPU: SD 1.5-size UNet step time eager and compiled at batch 1 and 8, and the
    share of the GPU's bf16 peak (``--peak-tflops``) those steps reach."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bench._models import load_model as bench_model
    from bot.domain.models import ModelSpec
    from bot.domain.requests import Defaults
    from bot.inference.speed import apply_speed

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA GPU here"}
    results: dict[str, Any] = {"peak_tflops": args.peak_tflops}
    engine = bench_model("random-sd1", device="cuda", dtype="bf16")
    unet = engine.pipeline.unet
    text = torch.randn(1, 77, 768, device="cuda", dtype=torch.bfloat16)

    def step_seconds(batch: int) -> tuple[float, float]:
        # CFG: each step runs the UNet on 2 × batch latents.
        latents = torch.randn(2 * batch, 4, 64, 64, device="cuda", dtype=torch.bfloat16)
        context = text.expand(2 * batch, -1, -1)
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            unet(latents, 500, context)
        flops = counter.get_total_flops()
        with torch.inference_mode():
            for _ in range(3):
                unet(latents, 500, context)
            torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(10):
                unet(latents, 500, context)
            torch.cuda.synchronize()
        return (time.perf_counter() - started) / 10, flops

    for batch in (1, 8):
        seconds, flops = step_seconds(batch)
        results[f"eager_b{batch}"] = {"step_s": seconds,
                                      "share_of_peak": flops / seconds / 1e12 / args.peak_tflops}
    spec = ModelSpec("random-sd1", defaults=Defaults(width=512, height=512), compile=True,
                     channels_last=True)
    started = time.perf_counter()
    apply_speed(engine, spec, batch_sizes=(1, 8))
    results["compile_and_warm_up_s"] = time.perf_counter() - started
    for batch in (1, 8):
        seconds, flops = step_seconds(batch)
        results[f"compiled_b{batch}"] = {
            "step_s": seconds, "share_of_peak": flops / seconds / 1e12 / args.peak_tflops,
            "speed_up": results[f"eager_b{batch}"]["step_s"] / seconds}
    return results


def main() -> None:
    """Parse the options, measure, print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lora", help="a LoRA file for --model (default: a random one for tiny)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: up to 2); 1 is steadier on a busy machine")
    parser.add_argument("--gpu-peak", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="the GPU's dense bf16 peak (H100/H200 SXM: 989)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "models.json"))
    args = parser.parse_args()

    import torch

    from bench._models import report

    torch.set_num_threads(args.threads or max(1, min(2, os.cpu_count() or 1)))
    result = gpu_peak(args) if args.gpu_peak else measure(args)
    rows = [(key, f"{value:.3f}" if isinstance(value, float) else str(value))
            for key, value in result.items()]
    report("models: switch and LoRA costs" if not args.gpu_peak else "models: GPU peak", rows,
           result, Path(args.out))


if __name__ == "__main__":
    main()
