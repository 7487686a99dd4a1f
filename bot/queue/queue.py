"""The job queue: every job is in the database before anyone is told it is queued.

A thin front over its parts, each with one responsibility:

- ``policy``: whom the queue served last (fairness, read by the pure order of
  ``bot.domain.scheduling``) and the measured step cost, turned into ETAs over N slots;
- ``events``: the bus that carries each job's events to its subscribers;
- ``dispatch``: one task per backend slot, each taking the next batch by the policy and running
  it under its own watchdog, cancel flag and failure containment, its PNGs saved while its next
  batch generates;
- ``recovery``: after a restart, unfinished jobs go back in line (apart from dispatching, so
  it can happen while the model still loads).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterable
from pathlib import Path

from bot.domain.jobs import Job, JobState, Requester
from bot.domain.recipe import Recipe
from bot.queue.backend import Backend
from bot.queue.dispatch import Dispatcher, Failure, StepTimeout
from bot.queue.events import EventBus, EventKind, JobEvent
from bot.queue.policy import QueuePolicy
from bot.queue.recovery import recover_unfinished
from bot.queue.saving import ResultSaver, RunBlocking
from bot.storage.jobs import JobRepository

__all__ = ["Failure", "JobQueue", "StepTimeout"]


class JobQueue:
    """A persisted queue in front of one backend, running as many batches as it has slots."""

    def __init__(self, jobs: JobRepository, backend: Backend, output_dir: Path, *,
                 sources: Iterable[str] = ("cli",), max_batch: int = 1,
                 compress_level: int = 1, max_attempts: int = 3,
                 step_timeout: float = 300.0,
                 run_blocking: RunBlocking | None = None) -> None:
        self._jobs = jobs
        self._sources = frozenset(sources)
        self._max_attempts = max_attempts
        self._policy = QueuePolicy()
        # A backend that loads models on demand says what a switch costs, for the ETAs.
        self._policy.switch_seconds = getattr(backend, "switch_seconds", None)
        self._events = EventBus()
        self._dispatch = Dispatcher(
            jobs, backend, self._policy, self._events,
            functools.partial(ResultSaver, output_dir, compress_level=compress_level,
                              run_blocking=run_blocking),
            max_batch=max_batch, step_timeout=step_timeout)
        self._recovered: list[Job] | None = None

    @property
    def max_batch(self) -> int:
        """The most compatible jobs one pipeline call renders."""
        return self._dispatch.max_batch

    @max_batch.setter
    def max_batch(self, value: int) -> None:
        self._dispatch.max_batch = max(1, value)

    @property
    def slots(self) -> int:
        """How many batches run at once (the backend's slots)."""
        return len(self._dispatch.slots)

    # -- lifecycle -----------------------------------------------------------------------------

    async def recover(self) -> list[Job]:
        """Put this queue's unfinished jobs back in line (once); returns them.

        Needs no model: the app calls it at once, so positions count re-queued jobs while the
        model loads. A poison job (``max_attempts`` used) is failed instead.
        """
        if self._recovered is None:
            self._recovered = await recover_unfinished(self._jobs, self._sources,
                                                       max_attempts=self._max_attempts)
            for job in self._recovered:
                self._dispatch.add(job)
        return self._recovered

    async def start(self, *, recover: bool = True) -> list[Job]:
        """Start dispatching; with ``recover``, re-queue this queue's unfinished jobs first."""
        recovered = await self.recover() if recover else []
        self._dispatch.start()
        return recovered

    async def close(self) -> None:
        """Stop dispatching; running batches are cancelled and their jobs go back to queued.

        Returns once every slot's model has stopped (at its next step): nothing generates after
        this.
        """
        await self._dispatch.close()

    # -- requests ------------------------------------------------------------------------------

    async def submit(self, recipe: Recipe, requester: Requester, *, parent_id: int | None = None,
                     priority: int = 0) -> Job:
        """Record a job (committed) and queue it; the recipe must already be validated."""
        job = await self._jobs.add(recipe, requester, parent_id=parent_id, priority=priority)
        self._dispatch.add(job)
        return job

    def waiting(self) -> list[Job]:
        """Jobs waiting to run, in the order they will run."""
        return self._policy.ordered(list(self._dispatch.waiting.values()))

    def running(self) -> list[Job]:
        """Jobs started and not finished: those being saved, then those generating."""
        return self._dispatch.running()

    def position(self, job_id: int) -> int | None:
        """1-based place among waiting jobs (0 while running), or None when not in the queue."""
        if self._dispatch.started(job_id):
            return 0
        return self._policy.position(list(self._dispatch.waiting.values()), job_id)

    def estimate_wait(self, job_id: int) -> float | None:
        """Seconds until ``job_id`` starts (0 if running), None before anything was measured."""
        if self._dispatch.started(job_id):
            return 0.0
        waiting = self.waiting()
        ids = [job.id for job in waiting]
        if job_id not in ids:
            return None
        return self._dispatch.etas(waiting[: ids.index(job_id) + 1])[-1]

    async def cancel(self, job_id: int) -> Job | None:
        """Cancel a waiting or running job; returns it, or None if it was not in the queue."""
        if self._dispatch.waiting.pop(job_id, None) is not None:
            job = await self._jobs.transition(job_id, JobState.CANCELLED, finished_at=time.time())
            self._events.publish(JobEvent(EventKind.CANCELLED, job))
            return job
        return self._dispatch.cancel_running(job_id)

    def subscribe(self, job_id: int) -> asyncio.Queue[JobEvent]:
        """A queue of this job's events from now on."""
        return self._events.subscribe(job_id)

    def unsubscribe(self, job_id: int, events: asyncio.Queue[JobEvent]) -> None:
        """Stop receiving a job's events."""
        self._events.unsubscribe(job_id, events)

    async def wait(self, job_id: int) -> Job:
        """Wait until the job has finished (done, failed or cancelled) and return it."""
        events = self.subscribe(job_id)
        try:
            job = await self._jobs.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id}")
            while not job.state.finished:
                event = await events.get()
                job = event.job
                if event.kind.final:
                    break
            return job
        finally:
            self.unsubscribe(job_id, events)
