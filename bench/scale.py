"""Scale-out on Ray Serve (issue 16).

replicas: images/s through the real queue and the Ray Serve backend with 1, then 2 CPU
          replicas of the tiny model (one torch thread each), on a local Ray instance; the
          ratio of the two, and the in-process worker (one torch thread) as the reference.
          On two busy cores the ratio says more about the neighbours than about Ray: read it
          with the machine's load, which is printed.
ceiling:  the dispatcher alone, with bench/queue_pool.py's sleep backend standing for 64
          replicas: images/s against the ideal 64/T (goal ≥ 0.9).

    python bench/scale.py                       # both; 8 jobs of 128², 10 steps; T = 1 s
    python bench/scale.py replicas --jobs 16 --size 256 --steps 20
    python bench/scale.py ceiling --slots 64 --seconds 1 --rounds 4
On a lent GPU: ``replicas --device cuda --gpus-per-replica 1 --replicas 1`` against
``python bench/queue.py throughput --device cuda`` gives Ray against in-process per GPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path[0] = str(ROOT)  # bench/queue.py would shadow the standard library's queue

import argparse
import asyncio
import functools
import json
import os
import tempfile
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


async def _through_queue(backend: Any, args: argparse.Namespace, workdir: Path,
                         name: str) -> float:
    """Seconds for ``args.jobs`` jobs through the real queue on ``backend`` (one warm-up)."""
    from bot.domain.jobs import JobState, Requester
    from bot.domain.recipe import Recipe
    from bot.queue.queue import JobQueue
    from bot.storage.database import Database
    from bot.storage.jobs import JobRepository

    database = await Database.open(workdir / f"{name}.db")
    queue = JobQueue(JobRepository(database), backend, workdir / name, sources=("cli",),
                     max_batch=1)
    recipe = Recipe(prompt="a lighthouse at dusk", width=args.size, height=args.size,
                    steps=args.steps, model=backend.model_id)
    try:
        await queue.start(recover=False)
        warm = await queue.submit(recipe.with_seed(10_000), Requester(user_id=0, source="cli"))
        await queue.wait(warm.id)
        started = time.perf_counter()
        jobs = [await queue.submit(recipe.with_seed(i), Requester(user_id=i, source="cli"))
                for i in range(args.jobs)]
        done = [await queue.wait(job.id) for job in jobs]
        seconds = time.perf_counter() - started
    finally:
        await queue.close()
        await database.close()
    assert all(job.state is JobState.DONE for job in done), [job.error for job in done]
    return seconds


async def _replicas(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from ray import serve

    from bot.domain.models import ModelCatalog, ModelSpec
    from bot.inference.ray_cluster import ClusterShape, renderer_app, start_local, stop_local
    from bot.inference.ray_serve import APP_NAME, ROUTE, RendererConfig
    from bot.queue.ray_backend import RayServeBackend

    config = RendererConfig(ModelCatalog([ModelSpec(args.model, device=args.device)]),
                            torch_threads=1, max_batch_size=1)
    counts = sorted({1, args.replicas})
    loop = asyncio.get_running_loop()
    base = await loop.run_in_executor(None, start_local, config, ClusterShape(
        counts[-1], args.cpus_per_replica, args.gpus_per_replica))
    runs: dict[int, float] = {}
    try:
        for count in counts:
            shape = ClusterShape(count, args.cpus_per_replica, args.gpus_per_replica)
            await loop.run_in_executor(None, functools.partial(
                serve.run, renderer_app(config, shape), name=APP_NAME, route_prefix=ROUTE))
            backend = RayServeBackend(model_id=args.model, slots=count, url=base + ROUTE)
            await backend.start()
            try:
                runs[count] = args.jobs / await _through_queue(backend, args, workdir,
                                                               f"ray-{count}")
            finally:
                await backend.close()
    finally:
        await loop.run_in_executor(None, stop_local)
    return {"ray_images_per_s": {str(count): rate for count, rate in runs.items()},
            "ratio": runs[counts[-1]] / runs[1]}


async def _in_process(args: argparse.Namespace, workdir: Path) -> float:
    import torch

    from bot.inference import load_engine
    from bot.inference.worker import InferenceWorker
    from bot.queue.backend import InProcessBackend

    def load() -> Any:
        torch.set_num_threads(1)
        return load_engine(args.model, device=args.device)

    worker: Any = InferenceWorker(load)
    await worker.start()
    try:
        return args.jobs / await _through_queue(InProcessBackend(worker), args, workdir, "local")
    finally:
        await worker.close()


def replicas(args: argparse.Namespace) -> dict[str, Any]:
    """1 and N Ray replicas against the in-process worker, images/s."""
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(_replicas(args, Path(tmp)))
        result["in_process_images_per_s"] = asyncio.run(_in_process(args, Path(tmp)))
    return {"bench": "replicas", "model": args.model, "device": args.device, "jobs": args.jobs,
            "size": args.size, "steps": args.steps, "load_average": os.getloadavg()[0],
            **result}


def ceiling(args: argparse.Namespace) -> dict[str, Any]:
    """The dispatcher with ``--slots`` simulated replicas (bench/queue_pool.py's backend)."""
    from bench.queue_pool import _one

    pool_args = argparse.Namespace(seconds=args.seconds, max_batch=1, size=64,
                                   rounds=args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        run = asyncio.run(_one(args.slots, pool_args, Path(tmp)))
    return {"bench": "ceiling", "seconds_per_batch": args.seconds, **run,
            "goal_met": run["ratio_to_ideal"] >= 0.9 and run["each_job_once"]}


def main() -> None:
    """Run the chosen benchmarks, print their figures, write bench/results/scale.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", choices=("replicas", "ceiling", "all"),
                        default="all")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--cpus-per-replica", type=float, default=1.0)
    parser.add_argument("--gpus-per-replica", type=float, default=0.0)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    results = []
    if args.which in ("replicas", "all"):
        result = replicas(args)
        rates = result["ray_images_per_s"]
        print(f"replicas: {args.jobs} jobs of {args.size}², {args.steps} steps, "
              f"load average {result['load_average']:.1f}")
        for count, rate in rates.items():
            print(f"  Ray, {count} replica(s): {rate:6.2f} images/s")
        print(f"  ratio {max(rates, key=int)} : 1 replicas = {result['ratio']:.2f}; "
              f"in-process worker {result['in_process_images_per_s']:6.2f} images/s")
        results.append(result)
    if args.which in ("ceiling", "all"):
        result = ceiling(args)
        print(f"ceiling: {result['slots']} simulated replicas, T = {args.seconds} s: "
              f"{result['images_per_s']:.1f} images/s, ideal {result['ideal_images_per_s']:.1f}"
              f", ratio {result['ratio_to_ideal']:.3f} (goal >= 0.9: {result['goal_met']})")
        results.append(result)
    out = ROOT / "bench" / "results" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
