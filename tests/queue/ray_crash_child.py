"""A bot process rendering on its own local Ray Serve: ``python -m tests.queue.ray_crash_child
WORKDIR submit|resume``.

``submit`` queues three jobs (source ``discord``) with ``[backend] kind = "ray"``, prints one
JSON line once the first is rendering on a replica, and waits for the parent's SIGKILL.
``resume`` opens the same database, lets the queue recover, waits until every job has
finished and prints one JSON line: each job's state, attempts and PNG, and how many DONE
events each job had.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.app import open_app
from bot.config import Settings, settings_from_dict
from bot.domain import Recipe, Requester
from bot.queue import EventKind

SOURCES = ("discord",)
REPO_ROOT = Path(__file__).resolve().parents[2]
# How long a child may take to start Ray, load the model and report: about a minute on an idle
# 2-core machine, several minutes on a busy one.
CHILD_BOUND_S = 420
RECIPES = [Recipe(prompt=f"lighthouse {n}", width=128, height=128, steps=60, seed=n)
           for n in range(3)]


def settings_for(workdir: Path) -> Settings:
    """The settings both processes open the app with: Ray alone, the tiny model."""
    return settings_from_dict(
        {"storage": {"database": "crash.db", "output_dir": "out"},
         "model": {"id": "tiny", "device": "cpu"}, "queue": {"max_batch": 1},
         "backend": {"kind": "ray", "replicas": 1, "cpus_per_replica": 1}},
        base_dir=workdir)


def _descendants() -> list[int]:
    """The processes this one started, theirs, and so on (Ray's head processes and agents)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if entry.name.isdigit():
                # The parent pid is the 2nd field after the ")" that ends the command name.
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [os.getpid()]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


async def submit(workdir: Path) -> None:
    """Queue the jobs; report once the first renders; wait to be killed."""
    async with open_app(settings_for(workdir), sources=SOURCES, recover=False) as app:
        requester = Requester(user_id=1, guild_id=2, channel_id=3, source="discord")
        jobs = [await app.queue.submit(recipe, requester) for recipe in RECIPES]
        events = app.queue.subscribe(jobs[0].id)
        while (event := await events.get()).kind is not EventKind.PROGRESS:
            if event.kind.final:
                print(json.dumps({"error": event.job.error}), flush=True)
                return
        print(json.dumps({"jobs": [job.id for job in jobs], "pids": _descendants()}),
              flush=True)
        await asyncio.Event().wait()


async def resume(workdir: Path) -> None:
    """Recover, render what was left, report every job."""
    async with open_app(settings_for(workdir), sources=SOURCES, recover=True,
                        wait_for_model=False) as app:
        unfinished = [job.id for job in app.queue.waiting()]
        done_events = {job_id: 0 for job_id in unfinished}

        async def count(job_id: int) -> None:
            events = app.queue.subscribe(job_id)
            while not (event := await events.get()).kind.final:
                pass
            done_events[job_id] += event.kind is EventKind.DONE
            with contextlib.suppress(asyncio.TimeoutError):  # a second DONE would show here
                await asyncio.wait_for(events.get(), 0.5)
                done_events[job_id] += 1

        # Ray's start-up and the model's load come first, then three 60-step renders on one
        # CPU replica: beside two busy loops that took 5 min, then 40 s a job.
        await asyncio.wait_for(asyncio.gather(*(count(job_id) for job_id in unfinished)),
                               2 * CHILD_BOUND_S)
        report: dict[str, Any] = {"jobs": {}, "done_events": {}}
        for job_id in unfinished:
            job = await app.jobs.get(job_id)
            assert job is not None
            report["jobs"][str(job_id)] = {"state": job.state.value, "attempts": job.attempts,
                                           "output": job.output_path, "error": job.error}
            report["done_events"][str(job_id)] = done_events[job_id]
        print(json.dumps(report), flush=True)


def _reap(pids: list[int]) -> None:
    """End the Ray processes a killed child left behind (Ray's agents outlive their raylet)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def run_child(workdir: Path, mode: str) -> dict[str, Any]:
    """Run one child; ``submit`` is killed with SIGKILL once it reported."""
    errors = workdir / f"{mode}.err"  # a file: nobody reads a pipe while the child runs
    with errors.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.queue.ray_crash_child", str(workdir), mode,
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=stderr)
    report: dict[str, Any] = {}
    try:
        assert proc.stdout is not None
        # The resuming child starts Ray, then renders what was left before it reports.
        bound = CHILD_BOUND_S * (3 if mode == "resume" else 1)
        line = await asyncio.wait_for(proc.stdout.readline(), bound)
        report = json.loads(line) if line else {"error": errors.read_text()[-3000:]}
    finally:
        if mode == "submit":
            proc.send_signal(signal.SIGKILL)  # mid-render: one job running, two waiting
        await proc.wait()
        _reap(report.get("pids", []))
    return report


if __name__ == "__main__":
    folder, command = Path(sys.argv[1]), sys.argv[2]
    asyncio.run(submit(folder) if command == "submit" else resume(folder))
