"""Benchmark: the raw engine call vs the same request through service, job table and worker.

Also measures event-loop lag while generating (a 10 ms ticker) and the cost of the per-step
preview. Runs alternate (raw, queued, raw, queued, ...) in one process so that machine noise
hits both sides alike; the ratio of medians is the figure to read.

    python bench/engine.py                       # tiny, 512², 20 steps, 3 runs each
    python bench/engine.py --model <hub id> --device cuda --runs 5
    python bench/engine.py --preview-only --busy 2   # the preview alone, default threads vs
                                                     # 1, with two busy-loop processes beside it
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    # Run from the repository root's view: bench/queue.py would shadow the standard library's
    # queue module, and bench._models and tests.fake_discord import from the root.
    sys.path[0] = str(ROOT)

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import tempfile
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _alternate(engine: Any, request: dict[str, Any], runs: int, workdir: Path,
                     raw: Any) -> tuple[list[float], list[float], list[float], list[float]]:
    """Alternate raw calls and requests through GenerationService → JobQueue → worker thread."""
    from bot.domain.jobs import JobState, Requester
    from bot.domain.requests import Defaults, DreamRequest, JobRequest
    from bot.inference.worker import InferenceWorker
    from bot.queue.backend import InProcessBackend
    from bot.queue.queue import JobQueue
    from bot.services.generation import GenerationService
    from bot.storage.database import Database
    from bot.storage.jobs import JobRepository

    loop = asyncio.get_running_loop()
    lateness: list[float] = []
    raw_times: list[float] = []
    queued_times: list[float] = []
    thread_times: list[float] = []
    database = await Database.open(workdir / "bench.db")
    worker = InferenceWorker(lambda: engine)
    await worker.start()
    queue = JobQueue(JobRepository(database), InProcessBackend(worker), workdir / "out")
    service = GenerationService(queue, defaults=Defaults(), limits=engine.limits,
                                model_id=engine.model_id)
    await queue.start(recover=False)

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.01)
            lateness.append(max(0.0, loop.time() - before - 0.01))

    try:
        for _ in range(runs):
            raw_times.append(raw())  # blocks the loop on purpose: nothing else runs meanwhile
            # The same raw call on the worker thread (no queue, no database, no watcher):
            # separates the cost of the thread hop from the cost of the queue around it.
            start = time.perf_counter()
            await worker.call(lambda engine: raw())
            thread_times.append(time.perf_counter() - start)
            stop = asyncio.Event()
            tick = asyncio.create_task(ticker(stop))
            start = time.perf_counter()
            (job,) = await service.submit(JobRequest(DreamRequest(**request), Requester()))
            # A watcher, as the CLI and the bot have: progress events with previews flow.
            events = service.watch(job.id)
            done = await service.wait(job.id)
            queued_times.append(time.perf_counter() - start)
            service.unwatch(job.id, events)
            stop.set()
            await tick
            assert done.state is JobState.DONE, done.error
    finally:
        await queue.close()
        await worker.close()
        await database.close()
    return raw_times, queued_times, thread_times, lateness


def _torch_matmul_preview(latents: Any, family: str) -> Any:
    """The previous preview: the 4×3 map as a torch matmul (kept to compare against)."""
    import torch
    from PIL import Image

    from bot.inference.preview import _factors

    rows, bias = _factors(family)
    first = latents[0].detach().to(torch.float32)
    rgb = first.permute(1, 2, 0) @ torch.from_numpy(rows).to(first.device)
    rgb = rgb + torch.from_numpy(bias).to(first.device)
    return Image.fromarray(((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).cpu().numpy())


def _preview_costs(engine: Any, width: int, height: int) -> dict[str, float]:
    """Median ms of one latent→RGB preview at this size: the real one and the torch matmul,
    each with torch's default thread count and with one thread.

    On a CPU whose other cores are busy (a step running, another process), torch's matmul
    wakes its whole OpenMP pool for the 4×3 product and waits for descheduled threads.
    """
    import torch

    from bot.inference.preview import latent_preview

    latents = torch.randn(1, 4, height // 8, width // 8, device=engine.device, dtype=engine.dtype)
    default_threads = torch.get_num_threads()
    costs = {}
    for name, preview in (("preview", latent_preview), ("torch_matmul", _torch_matmul_preview)):
        for threads, label in ((default_threads, f"threads_{default_threads}"),
                               (1, "threads_1")):
            torch.set_num_threads(threads)
            preview(latents, engine.family)  # warm-up
            timings = []
            for _ in range(50):
                start = time.perf_counter()
                preview(latents, engine.family)
                if engine.device.type == "cuda":
                    torch.cuda.synchronize()
                timings.append(time.perf_counter() - start)
            costs[f"{name}_ms_{label}"] = statistics.median(timings) * 1000
    torch.set_num_threads(default_threads)
    return costs


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table; write JSON to --json."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = default")
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/engine.json")
    parser.add_argument("--preview-only", action="store_true",
                        help="measure only the preview's cost (seconds, not minutes)")
    parser.add_argument("--busy", type=int, default=0,
                        help="with --preview-only: busy-loop processes running meanwhile, "
                             "to measure on a loaded machine")
    args = parser.parse_args(argv)

    import torch

    from bench._models import load_model, report

    if args.threads:
        torch.set_num_threads(args.threads)
    engine = load_model(args.model, args.device, args.dtype)
    if args.preview_only:
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(args.busy)]
        try:
            costs = _preview_costs(engine, args.size, args.size)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        threads = torch.get_num_threads()
        report(f"preview of {args.size}² on {engine.device} ({engine.dtype}), {threads} threads "
               f"by default, {args.busy} busy processes beside it",
               [(name, f"{value:.3f} ms") for name, value in costs.items()],
               {"model": args.model, "device": str(engine.device), "size": args.size,
                "torch_threads": threads, "busy_processes": args.busy, **costs},
               args.json.with_name("engine_preview.json"))
        return 0
    request = {"prompt": "a lighthouse at dusk, oil painting", "width": args.size,
               "height": args.size, "steps": args.steps, "guidance": 7.5, "seed": 1234}

    def raw() -> float:
        start = time.perf_counter()
        engine.txt2img(**request)
        if engine.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    raw()  # warm-up: first-call allocations and kernel selection
    with tempfile.TemporaryDirectory() as tmp:
        raw_times, queued_times, thread_times, lateness = asyncio.run(
            _alternate(engine, request, args.runs, Path(tmp), raw))
    step_seconds = statistics.median(raw_times) / args.steps
    previews = _preview_costs(engine, args.size, args.size)
    preview = previews[f"preview_ms_threads_{torch.get_num_threads()}"] / 1000
    result = {
        "model": args.model, "device": str(engine.device), "dtype": str(engine.dtype),
        "size": args.size, "steps": args.steps, "runs": args.runs,
        "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
        "gpu": torch.cuda.get_device_name(0) if engine.device.type == "cuda" else None,
        "raw_seconds": raw_times, "queued_seconds": queued_times,
        "worker_thread_seconds": thread_times,
        "worker_thread_median": statistics.median(thread_times),
        "raw_median": statistics.median(raw_times),
        "queued_median": statistics.median(queued_times),
        "ratio": statistics.median(queued_times) / statistics.median(raw_times),
        "loop_lag_max_ms": max(lateness) * 1000 if lateness else None,
        "loop_lag_p99_ms": _percentile(lateness, 0.99) * 1000 if lateness else None,
        "preview_ms": preview * 1000,
        "step_ms": step_seconds * 1000,
        "preview_share_of_step": preview / step_seconds,
        **previews,
    }
    rows = [
        ("raw engine call, median", f"{result['raw_median']:.3f} s"),
        ("same call on the worker thread, median", f"{result['worker_thread_median']:.3f} s"),
        ("service + job table + worker, median", f"{result['queued_median']:.3f} s"),
        ("ratio queued / raw (goal <= 1.05)", f"{result['ratio']:.3f}"),
        ("event-loop lag max (goal < 50 ms)", f"{result['loop_lag_max_ms']:.1f} ms"),
        ("event-loop lag p99", f"{result['loop_lag_p99_ms']:.1f} ms"),
        ("preview per step", f"{result['preview_ms']:.3f} ms"),
        ("preview per step, 1 torch thread", f"{previews['preview_ms_threads_1']:.3f} ms"),
        ("old torch-matmul preview, default threads",
         f"{previews[f'torch_matmul_ms_threads_{torch.get_num_threads()}']:.3f} ms"),
        ("old torch-matmul preview, 1 torch thread",
         f"{previews['torch_matmul_ms_threads_1']:.3f} ms"),
        ("preview / step (goal < 1%)", f"{100 * result['preview_share_of_step']:.3f} %"),
    ]
    report(f"{args.model} on {result['device']} ({result['dtype']}), {args.size}², "
           f"{args.steps} steps, {args.runs} runs each",
           rows, result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
