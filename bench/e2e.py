"""Benchmark: `/dream` end to end over the wire-level fake Discord vs the raw engine call.

Measures, in one process: the time from dispatching INTERACTION_CREATE to the fake receiving the
result's upload, against the raw engine call with the same parameters (runs alternate, so machine
noise hits both alike); the event-loop lag (10 ms ticker) and the gateway heartbeat round trip
while generating.

    python bench/e2e.py                 # tiny, 512², 20 steps, 3 runs each
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
import statistics
import tempfile
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


async def _bench(engine: Any, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import torch

    from bot.app import open_app
    from bot.client.bot import NeurostreamBot
    from bot.config import settings_from_dict
    from tests.fake_discord import FakeDiscord, build_world, run_client

    options = {"prompt": "a lighthouse at dusk, oil painting", "width": args.size,
               "height": args.size, "steps": args.steps, "guidance": 7.5, "seed": 1234}
    raw_times: list[float] = []
    e2e_times: list[float] = []
    lateness: list[float] = []
    heartbeats: list[float] = []
    async with FakeDiscord(token="bench-token", heartbeat_interval_ms=250) as fake:
        fake.patch_discord()
        world = build_world(fake)
        settings = settings_from_dict(
            {"storage": {"database": "bench.db", "output_dir": "out"},
             "discord": {"dev_guild_ids": [world.guild.id]}, "queue": {"max_batch": 1}},
            base_dir=workdir)
        async with open_app(settings, sources=("discord",), recover=False,
                            factory=lambda: engine) as app:
            bot = NeurostreamBot(app, settings, guild_ready_timeout=0.05)
            async with run_client(fake, bot):
                loop = asyncio.get_running_loop()
                def raw_call() -> float:
                    start = time.perf_counter()
                    engine.txt2img(**options)
                    if engine.device.type == "cuda":
                        torch.cuda.synchronize()
                    return time.perf_counter() - start

                for _ in range(args.runs):
                    # 1. The raw call, on a thread of its own so that the gateway's heartbeats
                    # keep flowing (a blocked loop would show up as heartbeat latency later).
                    raw_times.append(await loop.run_in_executor(None, raw_call))

                    # 2. The same request as a slash command, with a ticker and heartbeats.
                    stop = asyncio.Event()

                    async def ticker(stop: asyncio.Event = stop) -> None:
                        while not stop.is_set():
                            before = loop.time()
                            await asyncio.sleep(0.01)
                            lateness.append(max(0.0, loop.time() - before - 0.01))
                            if bot.latency == bot.latency:  # not NaN
                                heartbeats.append(bot.latency)

                    tick = asyncio.create_task(ticker())
                    sent = time.monotonic()
                    handle = await fake.send_command(world.guild, world.channel, world.alice,
                                                     "dream", options)
                    path = f"/webhooks/{fake.application_id}/{handle.token}/messages/"

                    def upload(path: str = path, sent: float = sent) -> Any:
                        return next((r for r in fake.requests
                                     if r.path.startswith(path) and r.at >= sent and any(
                                         str(f.get("filename", "")).endswith(".png")
                                         for f in r.files)), None)

                    request = await fake.wait_for(upload, timeout=600, what="result upload")
                    e2e_times.append(request.at - sent)
                    stop.set()
                    await tick
                    await handle.wait_original(lambda m: bool(m.attachments and m.embeds),
                                               timeout=60)
    raw = statistics.median(raw_times)
    e2e = statistics.median(e2e_times)
    return {
        "model": engine.model_id, "device": str(engine.device), "size": args.size,
        "steps": args.steps, "runs": args.runs, "torch_threads": torch.get_num_threads(),
        "raw_seconds": raw_times, "e2e_seconds": e2e_times, "raw_median": raw,
        "e2e_median": e2e, "ratio": e2e / raw,
        "loop_lag_max_ms": 1000 * max(lateness), "loop_lag_p99_ms":
            1000 * sorted(lateness)[int(0.99 * (len(lateness) - 1))],
        "heartbeat_max_ms": 1000 * max(heartbeats) if heartbeats else None,
        "heartbeat_median_ms": 1000 * statistics.median(heartbeats) if heartbeats else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/e2e.json")
    args = parser.parse_args(argv)

    from bench._models import load_model, report

    engine = load_model(args.model, args.device)
    engine.txt2img(prompt="warm-up", width=args.size, height=args.size, steps=2, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(_bench(engine, args, Path(tmp)))
    rows = [
        ("raw engine call, median", f"{result['raw_median']:.3f} s"),
        ("INTERACTION_CREATE → result upload, median", f"{result['e2e_median']:.3f} s"),
        ("ratio e2e / raw (goal <= 1.10)", f"{result['ratio']:.3f}"),
        ("event-loop lag max (goal < 50 ms)", f"{result['loop_lag_max_ms']:.1f} ms"),
        ("event-loop lag p99", f"{result['loop_lag_p99_ms']:.1f} ms"),
        ("gateway heartbeat round trip max", f"{result['heartbeat_max_ms']:.1f} ms"
         if result["heartbeat_max_ms"] is not None else "n/a"),
    ]
    report(f"{args.model} on {result['device']}, {args.size}², {args.steps} steps, "
           f"{args.runs} runs each",
           rows, result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
