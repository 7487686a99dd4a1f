"""Benchmarks of the queue.

throughput: N identical jobs through the queue (batched as ``--max-batch`` allows) against a
            sequential loop of raw engine calls with the same parameters (images/s ratio), and
            against the same loop writing the PNGs the queue writes.
burst:      M ``/dream``s from U users at once over the wire-level fake Discord: caps hold, the
            light users' median wait, the peak memory of the process (bench/queue_burst.py).
lateness:   how late the event loop answers (a 10 ms ticker) while N jobs generate and their
            PNGs are written: the figure the old test held under 50 ms; on a busy machine it
            drifts, so it is measured here and never asserted.
pool:       a sleep-based backend with N slots, T seconds per batch: images/s against N/T
            for N = 1, 4, 16, and the start order against the policy's (bench/queue_pool.py).

    python bench/queue.py throughput                      # tiny, 512², 20 steps, 32 jobs, CPU
    python bench/queue.py throughput --model random-sd1 --device cuda --max-batch 0
    python bench/queue.py burst                           # 500 /dreams from 50 users
    python bench/queue.py lateness                        # 4 jobs, 512², 4 steps
    python bench/queue.py pool                            # N = 1, 4, 16; T = 0.2 s
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
import json
import os
import statistics
import tempfile
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench._models import load_model

# -- throughput ---------------------------------------------------------------------------------

async def _through_queue(worker: Any, recipe: Any, jobs: int, max_batch: int,
                         workdir: Path) -> tuple[float, list[int]]:
    from bot.app import on_worker_if_cpu
    from bot.domain.jobs import JobState, Requester
    from bot.queue.backend import InProcessBackend
    from bot.queue.queue import JobQueue
    from bot.storage.database import Database
    from bot.storage.jobs import JobRepository

    database = await Database.open(workdir / "bench.db")
    backend = InProcessBackend(worker)
    sizes: list[int] = []
    original = backend.generate

    async def recording(recipes: Any, **kwargs: Any) -> Any:
        sizes.append(len(recipes))
        return await original(recipes, **kwargs)

    backend.generate = recording  # type: ignore[method-assign]
    queue = JobQueue(JobRepository(database), backend, workdir / "out", max_batch=max_batch,
                     run_blocking=on_worker_if_cpu(worker))  # as the app does
    try:
        submitted = [await queue.submit(recipe.with_seed(i), Requester()) for i in range(jobs)]
        start = time.perf_counter()
        await queue.start(recover=False)
        done = [await queue.wait(job.id) for job in submitted]
        elapsed = time.perf_counter() - start
        assert all(job.state is JobState.DONE for job in done), [j.error for j in done]
    finally:
        await queue.close()
        await database.close()
    return elapsed, sizes


async def _throughput(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import torch

    from bot.domain.a1111 import format_parameters
    from bot.domain.recipe import Recipe
    from bot.inference.batching import auto_batch_size
    from bot.inference.worker import InferenceWorker
    from bot.render.png import write_png

    # Both sides run on the one inference thread, which also loads the model, as in the bot:
    # torch on a second thread would give OpenMP a second thread pool, and with more pool
    # threads than cores libgomp stops spinning at barriers (measured ~12 % slower on 2 cores).
    worker: Any = InferenceWorker(lambda: load_model(args.model, args.device))
    await worker.start()
    engine = worker.engine
    recipe = Recipe(prompt="a lighthouse at dusk, oil painting", width=args.size,
                    height=args.size, steps=args.steps, model=engine.model_id)

    def raw_loop(count: int, save: bool = False) -> float:
        start = time.perf_counter()
        for i in range(count):
            result = engine.generate([recipe.with_seed(i)])
            if save:  # what the queue writes for each job, done by hand
                write_png(workdir / "raw" / f"{i}.png", result.images[0],
                          format_parameters(result.recipes[0]))
        if engine.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    # Time inside the engine's calls on the queue's side, to split its time into generating
    # (which drifts with the machine) and the queue's own per-job cost.
    generating = [0.0]
    plain_generate = engine.generate

    def timed_generate(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return plain_generate(*args, **kwargs)
        finally:
            generating[0] += time.perf_counter() - start

    try:
        await worker.call(lambda _: raw_loop(1))  # warm-up
        max_batch = args.max_batch or await worker.call(
            lambda e: auto_batch_size(e, recipe.width, recipe.height))
        # Short rounds take turns between a raw loop, a raw loop that also saves the PNGs the
        # queue saves, and the queue, over the same number of jobs, rotating which goes first,
        # so that drift in a shared machine's speed hits every side alike.
        raw = saved = queued = 0.0
        sizes: list[int] = []
        rounds = max(1, min(args.rounds or args.jobs // (max_batch * 2), args.jobs))
        sides = ["raw", "saved", "queue"]
        for round_ in range(rounds):
            jobs = args.jobs // rounds + (1 if round_ < args.jobs % rounds else 0)
            for side in sides[round_ % 3:] + sides[: round_ % 3]:
                if side == "raw":
                    raw += await worker.call(lambda _, n=jobs: raw_loop(n))
                    continue
                if side == "saved":
                    saved += await worker.call(lambda _, n=jobs: raw_loop(n, save=True))
                    continue
                engine.generate = timed_generate
                try:
                    seconds, batch_sizes = await _through_queue(
                        worker, recipe, jobs, max_batch, workdir / str(round_))
                finally:
                    engine.generate = plain_generate
                queued += seconds
                sizes += batch_sizes
    finally:
        await worker.close()
    return {
        "bench": "throughput", "model": engine.model_id, "device": str(engine.device),
        "dtype": str(engine.dtype),
        "gpu": torch.cuda.get_device_name(0) if engine.device.type == "cuda" else None,
        "size": args.size, "steps": args.steps, "jobs": args.jobs, "rounds": rounds,
        "max_batch": max_batch, "batch_sizes": sizes,
        "raw_seconds": raw, "queue_seconds": queued,
        "raw_images_per_s": args.jobs / raw, "queue_images_per_s": args.jobs / queued,
        "ratio": raw / queued,
        "raw_saving_pngs_seconds": saved, "ratio_to_raw_saving_pngs": saved / queued,
        "queue_generating_seconds": generating[0],
        "queue_own_ms_per_job": (queued - generating[0]) / args.jobs * 1000,
        "raw_ms_per_job": raw / args.jobs * 1000,
    }


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    """N jobs through the queue vs a sequential loop of raw engine calls on the same thread."""
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_throughput(args, Path(tmp)))


# -- lateness ------------------------------------------------------------------------------------

async def _lateness(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from bot.app import on_worker_if_cpu
    from bot.domain.jobs import JobState, Requester
    from bot.domain.recipe import Recipe
    from bot.inference.worker import InferenceWorker
    from bot.queue.backend import InProcessBackend
    from bot.queue.queue import JobQueue
    from bot.storage.database import Database
    from bot.storage.jobs import JobRepository

    worker: Any = InferenceWorker(lambda: load_model(args.model, args.device))
    await worker.start()
    database = await Database.open(workdir / "bench.db")
    queue = JobQueue(JobRepository(database), InProcessBackend(worker), workdir / "out",
                     run_blocking=on_worker_if_cpu(worker))  # as the app does
    loop = asyncio.get_running_loop()
    lateness: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.01)
            lateness.append(loop.time() - before - 0.01)

    recipe = Recipe(prompt="lag", width=args.size, height=args.size, steps=args.steps,
                    model=worker.engine.model_id)
    tick = asyncio.create_task(ticker())
    try:
        await queue.start(recover=False)
        jobs = [await queue.submit(recipe.with_seed(i), Requester()) for i in range(args.jobs)]
        done = [await queue.wait(job.id) for job in jobs]
        assert all(job.state is JobState.DONE for job in done), [j.error for j in done]
    finally:
        stop.set()
        await tick
        await queue.close()
        await database.close()
        await worker.close()
    ordered = sorted(lateness)
    return {"jobs": args.jobs, "size": args.size, "steps": args.steps, "ticks": len(ordered),
            "max_lateness_ms": ordered[-1] * 1000,
            "p99_lateness_ms": ordered[int(len(ordered) * 0.99)] * 1000,
            "median_lateness_ms": statistics.median(ordered) * 1000}


def lateness(args: argparse.Namespace) -> dict[str, Any]:
    """The event loop's lateness while the queue generates and saves."""
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_lateness(args, Path(tmp)))


def main(argv: list[str] | None = None) -> int:
    """Run one benchmark, print its figures and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["throughput", "burst", "lateness", "pool"])
    parser.add_argument("--model", default="tiny", help="tiny, random-sd1, or any model source")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=None,
                        help="jobs to run (throughput: 32, lateness: 4)")
    parser.add_argument("--rounds", type=int, default=0,
                        help="alternate raw and queued runs in this many rounds "
                             "(0: rounds of two batches)")
    parser.add_argument("--max-batch", type=int, default=1, help="0 = auto")
    parser.add_argument("--dreams", type=int, default=500)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--cap", type=int, default=5)
    parser.add_argument("--total-cap", type=int, default=1000)
    parser.add_argument("--slots", type=int, nargs="+", default=[1, 4, 16],
                        help="pool: backend slot counts to run")
    parser.add_argument("--seconds", type=float, default=0.2, help="pool: seconds per batch")
    parser.add_argument("--pool-rounds", type=int, default=12,
                        help="pool: batches per slot")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.which == "pool":
        from bench.queue_pool import pool, print_pool

        args.size, args.rounds = args.size or 64, args.pool_rounds
        args.max_batch = max(1, args.max_batch)
        result = pool(args)
        print_pool(result)
    elif args.which == "throughput":
        args.size, args.steps = args.size or 512, args.steps or 20
        args.jobs = args.jobs or 32
        result = throughput(args)
    elif args.which == "lateness":
        args.size, args.steps = args.size or 512, args.steps or 4
        args.jobs = args.jobs or 4
        result = lateness(args)
    else:  # the burst is about the queue, not the pixels: small images by default
        from bench.queue_burst import burst

        args.size, args.steps = args.size or 64, args.steps or 2
        result = burst(args)
    for key, value in result.items() if args.which != "pool" else ():
        print(f"  {key:<28} {value:.3f}" if isinstance(value, float) else
              f"  {key:<28} {value}")
    path = args.json or ROOT / f"bench/results/queue-{args.which}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
