"""Benchmark: a party's gallery export, and the live wall under 50 browsers.

``export``: a party of N images (default 300) recorded in a fresh database, each a real result
of the tiny model (a few distinct renders at the given size, copied, since noise-like pixels
compress worst), exported as ``neurostream export`` does: seconds and the HTML's size.

``wall``: ``neurostream wall`` as its own process on localhost, 50 simulated browsers (server-
sent event streams, in a third process), while this process plays the bot: it records a new
result every ``--every`` seconds and measures its own event loop's lag. Reported: the delay
from a result's finish to each browser receiving it (p50/p99), and the bot loop's lag.

    python bench/party.py export [--images 300] [--size 512]
    python bench/party.py wall [--clients 50] [--images 40] [--every 0.2]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path[0] = str(ROOT)  # bench/queue.py would shadow the standard library's queue

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import tempfile
import time
from typing import Any

RESULTS = ROOT / "bench" / "results"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def _record_results(db_path: Path, folder: Path, count: int, size: int, distinct: int,
                          channel: int) -> tuple[Any, list[int]]:
    """``count`` finished results in ``channel`` (PNG files of ``distinct`` tiny renders)."""
    from bot.domain import JobState, Recipe, Requester
    from bot.inference import load_engine
    from bot.render.png import write_png
    from bot.storage import Database, JobRepository

    engine = load_engine("tiny", device="cpu")
    renders = []
    for seed in range(distinct):
        image = engine.txt2img(prompt=f"two old people {seed}", width=size, height=size,
                               steps=2, guidance=7.5, seed=seed).images[0]
        path = folder / f"render-{seed}.png"
        write_png(path, image, f"two old people {seed}")
        renders.append(path)
    db = await Database.open(db_path)
    jobs = JobRepository(db)
    ids = []
    for index in range(count):
        job = await jobs.add(Recipe(prompt=f"two old people, step {index}", seed=index,
                                    width=size, height=size, steps=2),
                             Requester(user_id=1 + index % 7, user_name=f"guest {index % 7}",
                                       guild_id=1, channel_id=channel, source="discord"))
        path = folder / f"{job.id}.png"
        shutil.copy(renders[index % distinct], path)
        await jobs.transition(job.id, JobState.RUNNING)
        await jobs.transition(job.id, JobState.DONE, output_path=str(path),
                              finished_at=time.time())
        ids.append(job.id)
    return db, ids


async def export(args: argparse.Namespace) -> dict[str, Any]:
    """Record a party of ``args.images`` results and time its export."""
    from bot.domain.lineage import GroupKind, Link, LinkKind
    from bot.services.party import PartyService
    from bot.storage.lineage import LineageRepository
    from bot.storage.party import PartyRepository

    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        db, ids = await _record_results(folder / "ns.db", folder, args.images, args.size,
                                        args.distinct, channel=10)
        lineage, parties = LineageRepository(db), PartyRepository(db)
        group = await lineage.add_group(GroupKind.PARTY, guild_id=1, channel_id=10,
                                        created_by=1)
        party = await parties.add(guild_id=1, channel_id=10, topic="loneliness", theme=None,
                                  group_id=group.id, started_by=1, started_by_name="pm",
                                  ends_at=None)
        for index, job_id in enumerate(ids):
            await lineage.add_member(group.id, job_id, job_id, commit=False)
            if index:  # a chain of rerolls and refinements, branching every few steps
                kind = LinkKind.REFINE if index % 3 else LinkKind.REROLL
                await lineage.add_links(job_id, [Link(ids[index // 2], kind)], commit=False)
            await parties.toggle_vote(job_id, index % 5) if index % 4 == 0 else None
        await db.connection.commit()
        service = PartyService(parties, lineage, None, output_dir=folder)
        started = time.perf_counter()
        published = await service.export(party.id, folder / "out")
        seconds = time.perf_counter() - started
        html = published.html_path.stat().st_size
        zipped = published.zip_path.stat().st_size if published.zip_path else None
        service.close()
        await db.close()
    return {"images": args.images, "size": args.size, "export_seconds": round(seconds, 2),
            "html_mib": round(html / 2**20, 2),
            "zip_mib": round(zipped / 2**20, 2) if zipped else None}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _clients(url: str, count: int, expected: int) -> None:
    """The browsers: ``count`` event streams; prints each receipt as JSON lines at the end."""
    import aiohttp

    received: list[tuple[int, float, float]] = []

    async def one(session: aiohttp.ClientSession) -> None:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as response:
            seen = 0
            async for raw in response.content:
                line = raw.decode()
                if line.startswith("data: "):
                    data = json.loads(line[6:])
                    received.append((data["id"], data["at"], time.time()))
                    seen += 1
                    if seen >= expected:
                        return

    async with aiohttp.ClientSession() as session:
        print("connected", flush=True)
        await asyncio.gather(*(one(session) for _ in range(count)))
    print(json.dumps(received), flush=True)


async def wall(args: argparse.Namespace) -> dict[str, Any]:
    """The wall process, its browsers, and this process recording results like the bot."""
    from bot.domain import JobState, Recipe, Requester
    from bot.storage import JobRepository
    from bot.storage.party import PartyRepository

    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        db_path = folder / "ns.db"
        db, _ = await _record_results(db_path, folder, 4, 64, 1, channel=20)
        await PartyRepository(db).set_wall(20, guild_id=1, enabled_by=1, enabled=True)
        port = _free_port()
        config = folder / "config.toml"
        config.write_text(f'[storage]\ndatabase = "ns.db"\n[wall]\nport = {port}\n')
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "wall", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, env=env, cwd=ROOT)
        assert server.stdout is not None
        await server.stdout.readline()  # "the wall is at …": listening
        clients = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "_clients", f"http://127.0.0.1:{port}/events",
            str(args.clients), str(args.images), stdout=asyncio.subprocess.PIPE, env=env)
        assert clients.stdout is not None
        await clients.stdout.readline()  # sessions made; give the streams a moment to open
        await asyncio.sleep(1.0)
        lags: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - before - 0.01)

        tick = asyncio.create_task(ticker())
        jobs = JobRepository(db)
        source = folder / "1.png"
        for index in range(args.images):
            job = await jobs.add(Recipe(prompt=f"wall image {index}", seed=index, width=64,
                                        height=64, steps=2),
                                 Requester(user_id=1, user_name="bot", guild_id=1,
                                           channel_id=20, source="discord"))
            await jobs.transition(job.id, JobState.RUNNING)
            await jobs.transition(job.id, JobState.DONE, output_path=str(source),
                                  finished_at=time.time())
            await asyncio.sleep(args.every)
        out, _ = await asyncio.wait_for(clients.communicate(), 60)
        stop.set()
        await tick
        server.terminate()
        await asyncio.wait_for(server.wait(), 10)
        await db.close()
    receipts = json.loads(out.decode().strip().splitlines()[-1])
    delays = [(received - finished) * 1000 for _, finished, received in receipts]
    return {"clients": args.clients, "images": args.images, "every_s": args.every,
            "events": len(receipts), "delay_ms_p50": round(_percentile(delays, 0.5), 1),
            "delay_ms_p99": round(_percentile(delays, 0.99), 1),
            "bot_loop_lag_ms_p99": round(_percentile(lags, 0.99) * 1000, 2),
            "bot_loop_lag_ms_max": round(max(lags) * 1000, 2),
            "bot_loop_lag_ms_mean": round(statistics.fmean(lags) * 1000, 2)}


def main() -> None:
    """Run one benchmark and write its JSON under bench/results/."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("export")
    one.add_argument("--images", type=int, default=300)
    one.add_argument("--size", type=int, default=512)
    one.add_argument("--distinct", type=int, default=6)
    two = commands.add_parser("wall")
    two.add_argument("--clients", type=int, default=50)
    two.add_argument("--images", type=int, default=40)
    two.add_argument("--every", type=float, default=0.2)
    hidden = commands.add_parser("_clients")
    hidden.add_argument("url")
    hidden.add_argument("count", type=int)
    hidden.add_argument("expected", type=int)
    args = parser.parse_args()
    if args.command == "_clients":
        asyncio.run(_clients(args.url, args.count, args.expected))
        return
    result = asyncio.run(export(args) if args.command == "export" else wall(args))
    for key, value in result.items():
        print(f"{key:>22}: {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"party-{args.command}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
