"""Benchmark: how soon after start the bot's commands are synced, whatever the model's size.

Starts ``neurostream run`` as a child process (a fresh interpreter: imports included) against
the wire-level fake Discord of the tests, and measures from the spawn to the fake receiving the
dev guild's command sync (``PUT .../guilds/{id}/commands``), and to the model being loaded (the
child's "loaded; the queue is running" log line). Two loaders: the built-in tiny model, and the
tiny model behind an artificial delay (``--slow-load``, 20 s) standing in for a large checkpoint:
the sync time should not move.

    python bench/startup.py                 # 3 runs of each loader, alternating
    python bench/startup.py --runs 1 --slow-load 20
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    # bench/queue.py would shadow the standard library's queue module; tests.fake_discord and
    # bot import from the root.
    sys.path[0] = str(ROOT)

import argparse
import asyncio
import os
import signal
import statistics
import tempfile
import time
from typing import Any

LOADED_LINE = "loaded; the queue is running"


def _child(config: Path, slow_load: float) -> int:
    """The bot, as ``neurostream run`` starts it, with the model loader delayed."""
    import bot.app
    from bot.__main__ import main

    if slow_load:
        real_factory = bot.app.engine_factory

        def slow_factory(settings: Any) -> Any:
            load = real_factory(settings)

            def delayed() -> Any:
                time.sleep(slow_load)  # a large checkpoint being read from disk
                return load()

            return delayed

        bot.app.engine_factory = slow_factory  # type: ignore[assignment]
    return main(["run", "--config", str(config)])


async def _one_run(fake: Any, guild_id: int, workdir: Path, slow_load: float,
                   wait_loaded: bool) -> dict[str, Any]:
    config = workdir / "bench.toml"
    await asyncio.to_thread(
        config.write_text, f'[model]\nid = "tiny"\n[discord]\ndev_guild_ids = [{guild_id}]\n'
                           '[storage]\ndatabase = "startup.db"\n')
    environment = {**os.environ, **fake.env(), "DISCORD_TOKEN": fake.token,
                   "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    sync_path = f"/applications/{fake.application_id}/guilds/{guild_id}/commands"
    seen = len(fake.requests)
    started = time.monotonic()
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "startup.py"), "--child", str(config),
        "--slow-load", str(slow_load), env=environment, cwd=workdir,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    loaded = asyncio.get_running_loop().create_future()
    lines: list[str] = []

    async def read_log() -> None:
        assert child.stderr is not None
        async for raw in child.stderr:
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            if LOADED_LINE in line and not loaded.done():
                loaded.set_result(time.monotonic())

    reader = asyncio.create_task(read_log())

    def synced() -> Any:
        return next((r for r in fake.requests[seen:] if r.method == "PUT"
                     and r.path == sync_path and r.status == 200), None)

    try:
        request = await fake.wait_for(lambda: synced() or child.returncode is not None,
                                      timeout=300, what="command sync")
        if child.returncode is not None:
            raise RuntimeError("the bot exited:\n" + "\n".join(lines[-20:]))
        synced_after = request.at - started
        loaded_before_sync = loaded.done()
        loaded_after = None
        if wait_loaded:
            loaded_after = await asyncio.wait_for(loaded, 600) - started
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
        await child.wait()
        await reader
    return {"slow_load": slow_load, "synced_after": synced_after,
            "loaded_after": loaded_after, "loaded_before_sync": loaded_before_sync}


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from tests.fake_discord import FakeDiscord, build_world

    runs: list[dict[str, Any]] = []
    async with FakeDiscord(token="bench-token") as fake:
        world = build_world(fake)
        for index in range(args.runs):
            # Alternate which loader goes first, so machine noise hits both alike.
            order = [0.0, args.slow_load] if index % 2 == 0 else [args.slow_load, 0.0]
            for slow in order:
                with tempfile.TemporaryDirectory() as tmp:
                    runs.append(await _one_run(fake, world.guild.id, Path(tmp), slow,
                                               wait_loaded=not slow))
                print(f"  run {index + 1}, load delay {slow:g} s: commands synced after "
                      f"{runs[-1]['synced_after']:.2f} s", flush=True)
    tiny = [r for r in runs if not r["slow_load"]]
    slow = [r for r in runs if r["slow_load"]]
    return {
        "runs": runs, "slow_load": args.slow_load,
        "tiny_synced_median": statistics.median(r["synced_after"] for r in tiny),
        "tiny_loaded_median": statistics.median(r["loaded_after"] for r in tiny),
        "slow_synced_median": statistics.median(r["synced_after"] for r in slow),
        "slow_loaded_before_sync": any(r["loaded_before_sync"] for r in slow),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, be the bot), print a table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slow-load", type=float, default=20.0,
                        help="seconds the slow loader sleeps before loading the tiny model")
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/startup.json")
    parser.add_argument("--child", type=Path, metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.slow_load)

    from bench._models import report

    result = asyncio.run(_bench(args))
    rows = [
        ("tiny model: commands synced, median (goal < 6 s)",
         f"{result['tiny_synced_median']:.2f} s"),
        ("tiny model: model loaded, median", f"{result['tiny_loaded_median']:.2f} s"),
        (f"+{args.slow_load:g} s loader: commands synced, median",
         f"{result['slow_synced_median']:.2f} s"),
        (f"+{args.slow_load:g} s loader: loaded before the sync?",
         "yes" if result["slow_loaded_before_sync"] else "no"),
    ]
    report(f"start-up of `neurostream run` (from spawn), {args.runs} run(s) of each loader",
           rows, result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
