"""``bench/queue.py pool``: the queue driving N backend slots at once.

A sleep-based fake backend with N slots takes T seconds per batch (as a replica would, the
wait is on the event loop, no CPU used); everything else is real: the job table in SQLite, the
policy, the events, the savers writing each PNG. Reports images/s against the ideal N/T
(goal ≥ 0.9) and whether the jobs started in the order the pure policy gives, one pick after
another (fairness unchanged by running batches side by side).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from bot.domain.errors import GenerationCancelled
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.recipe import Recipe
from bot.inference.results import GenerationResult, StepProgress
from bot.queue.backend import ProgressCallback
from bot.queue.events import JobEvent


class SleepBackend:
    """``slots`` replicas, each taking ``seconds`` per batch; records the order of the calls."""

    model_id = "sleep"

    def __init__(self, slots: int, seconds: float) -> None:
        self.slots = slots
        self.seconds = seconds
        self.started: list[int] = []  # the seeds of each call's recipes, call after call
        self.in_flight = self.most_in_flight = 0

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: ProgressCallback | None,
                       cancel: threading.Event) -> GenerationResult:
        """Wait ``seconds`` (a progress report halfway), then return blank images."""
        self.started.extend(recipe.seed or 0 for recipe in recipes)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for step in (1, 2):
                await asyncio.sleep(self.seconds / 2)
                if cancel.is_set():
                    raise GenerationCancelled(f"cancelled after step {step - 1}")
                if on_progress is not None:
                    on_progress(StepProgress(step, 2, step * self.seconds / 2, None))
        finally:
            self.in_flight -= 1
        images = [Image.new("RGB", (r.width, r.height), (40, 80, 120)) for r in recipes]
        return GenerationResult(images=images, recipes=list(recipes), seconds=self.seconds,
                                step_seconds=self.seconds / 2)


def _policy_order(jobs: list[Job], max_batch: int) -> list[int]:
    """The seeds in the order the pure policy starts them, one pick after another."""
    from bot.queue.policy import QueuePolicy

    policy, waiting, order = QueuePolicy(), list(jobs), []
    while waiting:
        batch = policy.pick(waiting, max_batch)
        picked = {job.id for job in batch}
        waiting = [job for job in waiting if job.id not in picked]
        order += [job.recipe.seed or 0 for job in batch]
    return order


async def _final(events: asyncio.Queue[JobEvent]) -> Job:
    """The job as its final event has it."""
    while not (event := await events.get()).kind.final:
        pass
    return event.job


async def _one(slots: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from bot.queue.queue import JobQueue
    from bot.storage.database import Database
    from bot.storage.jobs import JobRepository

    database = await Database.open(workdir / f"pool-{slots}.db")
    backend = SleepBackend(slots, args.seconds)
    queue = JobQueue(JobRepository(database), backend, workdir / f"out-{slots}",
                     sources=("discord",), max_batch=args.max_batch)
    recipe = Recipe(prompt="a lighthouse", width=args.size, height=args.size, steps=2,
                    model="sleep")
    count = slots * args.max_batch * args.rounds
    try:
        # Users of several servers with uneven loads, all waiting before the queue starts, so
        # the whole start order is the policy's to decide.
        jobs = []
        for i in range(count):
            user = i % 7 if i % 3 else 100 + i % 2  # two heavy users among light ones
            jobs.append(await queue.submit(recipe.with_seed(i), Requester(
                user_id=user, guild_id=user % 3, source="discord")))
        expected = _policy_order(jobs, args.max_batch)
        # Every job watched, as the bot's delivery watches each: positions and ETAs are
        # published to all waiting jobs at each start. The outcome comes with the final event
        # (no table reads added by the benchmark).
        watches = [queue.subscribe(job.id) for job in jobs]
        start = time.perf_counter()
        await queue.start(recover=False)
        done = [await _final(events) for events in watches]
        elapsed = time.perf_counter() - start
    finally:
        await queue.close()
        await database.close()
    assert all(job.state is JobState.DONE for job in done), [j.error for j in done]
    ideal = slots * args.max_batch / args.seconds
    seeds = [job.recipe.seed or 0 for job in jobs]
    return {"slots": slots, "jobs": count, "seconds": elapsed,
            "images_per_s": count / elapsed, "ideal_images_per_s": ideal,
            "ratio_to_ideal": count / elapsed / ideal,
            "most_batches_at_once": backend.most_in_flight,
            "each_job_once": sorted(backend.started) == sorted(seeds),
            "start_order_is_policy_order": backend.started == expected}


async def _pool(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    runs = [await _one(slots, args, workdir) for slots in args.slots]
    return {"bench": "pool", "seconds_per_batch": args.seconds, "max_batch": args.max_batch,
            "size": args.size, "rounds": args.rounds, "runs": runs,
            "goal_met": all(run["ratio_to_ideal"] >= 0.9 and run["start_order_is_policy_order"]
                            and run["each_job_once"] for run in runs)}


def pool(args: argparse.Namespace) -> dict[str, Any]:
    """N slots of a sleep-based backend: images/s against N/T, and the start order."""
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_pool(args, Path(tmp)))


def print_pool(result: dict[str, Any]) -> None:
    """One line per slot count."""
    print(f"  T = {result['seconds_per_batch']} s per batch, max_batch {result['max_batch']}, "
          f"{result['size']}² PNGs written")
    for run in result["runs"]:
        print(f"  N={run['slots']:<3} {run['jobs']:>4} jobs  {run['images_per_s']:7.2f} images/s"
              f"  ideal {run['ideal_images_per_s']:7.2f}  ratio {run['ratio_to_ideal']:.3f}"
              f"  at once {run['most_batches_at_once']:>2}  once {run['each_job_once']}"
              f"  policy order {run['start_order_is_policy_order']}")
    print(f"  goal (ratio >= 0.9, policy order, each once) met: {result['goal_met']}")
