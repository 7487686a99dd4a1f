"""Benchmark: a 4 × 4 ``/styles`` grid vs one ``/dream`` of the same size, over the fake Discord.

Reports seconds per grid cell ÷ seconds of one ``/dream`` (both from dispatching the interaction
to the finished message), measured in one run on one engine, the dreams before and after the
grid so that machine noise hits both. Goal: ≤ 1.0 on a CPU; on a GPU ≤ 0.5 (batching).

    python bench/grid.py                        # tiny, 256², 20 steps, 4 × 4
    python bench/grid.py --model random-sd1 --device cuda --max-batch 8
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path[0] = str(ROOT)  # bench/queue.py would shadow the standard library's queue module

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

ARTISTS = "Edvard Munch, Pablo Picasso, Salvador Dalí, Vincent van Gogh"
TECHNIQUES = "oil painting, watercolor, pastel drawing, pencil sketch"


async def _bench(engine: Any, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from bot.app import open_app
    from bot.client.bot import NeurostreamBot
    from bot.config import settings_from_dict
    from tests.fake_discord import FakeDiscord, build_world, run_client

    side = args.side
    async with FakeDiscord(token="bench-token") as fake:
        fake.patch_discord()
        world = build_world(fake)
        settings = settings_from_dict(
            {"storage": {"database": "bench.db", "output_dir": "out"},
             "discord": {"dev_guild_ids": [world.guild.id]},
             "queue": {"max_batch": args.max_batch, "max_per_user": 0}},
            base_dir=workdir)
        async with open_app(settings, sources=("discord",), recover=False,
                            factory=lambda: engine) as app:
            bot = NeurostreamBot(app, settings, guild_ready_timeout=0.05)
            async with run_client(fake, bot):
                async def timed(name: str, options: dict[str, Any], done: Any) -> float:
                    start = time.perf_counter()
                    handle = await fake.send_command(world.guild, world.channel, world.alice,
                                                     name, options)
                    await handle.wait_original(done, timeout=3600)
                    return time.perf_counter() - start

                size = {"width": args.size, "height": args.size, "steps": args.steps}
                dream = {"prompt": "a spoon, oil painting, by Edvard Munch", "seed": 1, **size}
                styles = {"subject": "a spoon", "seed": 1, **size,
                          "artists": ", ".join(ARTISTS.split(", ")[:side]),
                          "techniques": ", ".join(TECHNIQUES.split(", ")[:side])}

                def result(message: Any) -> bool:
                    return bool(message.attachments and message.embeds)

                def grid(message: Any) -> bool:
                    return bool(message.attachments and "✅" in message.content)

                await timed("dream", dream, result)  # warm-up: first-call costs
                dreams = [await timed("dream", dream, result) for _ in range(args.runs)]
                grid_seconds = await timed("styles", styles, grid)
                dreams += [await timed("dream", dream, result) for _ in range(args.runs)]
    cells = side * side
    one = statistics.median(dreams)
    return {"model": args.model, "size": args.size, "steps": args.steps, "cells": cells,
            "max_batch": args.max_batch, "dream_s": round(one, 3),
            "grid_s": round(grid_seconds, 3), "per_cell_s": round(grid_seconds / cells, 3),
            "ratio": round(grid_seconds / cells / one, 3)}


def main() -> None:
    """Run the benchmark, print a table and write bench/results/grid.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--side", type=int, default=4, help="rows and columns (at most 4)")
    parser.add_argument("--runs", type=int, default=2, help="/dreams before and after the grid")
    parser.add_argument("--max-batch", type=int, default=1, help="[queue] max_batch")
    args = parser.parse_args()
    from bench._models import load_model

    engine = load_model(args.model, args.device)
    with tempfile.TemporaryDirectory() as folder:
        report = asyncio.run(_bench(engine, args, Path(folder)))
    for key, value in report.items():
        print(f"{key:>12}: {value}")
    out = ROOT / "bench" / "results" / "grid.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
