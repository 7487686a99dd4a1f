"""The job queue: every job is in the database before anyone is told it is queued.

One dispatcher task takes the next batch by the pure policy in ``bot.domain.scheduling``, marks
it running and awaits the backend (with a watchdog on step progress). A finished batch's PNGs are
written and its jobs recorded as done (``bot.queue.saving``) while the next batch generates, so
saving never leaves the model idle. Failures are contained: an out-of-memory batch is split in
halves, any other failing batch is retried job by job, and a failing job fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain import scheduling
from bot.domain.errors import GenerationCancelled, NeurostreamError, OutOfMemory
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.recipe import Recipe
from bot.queue.backend import Backend
from bot.queue.events import EventKind, JobEvent
from bot.queue.saving import ResultSaver, RunBlocking
from bot.storage.jobs import JobRepository

if TYPE_CHECKING:
    from bot.inference.engine import GenerationResult, StepProgress

log = logging.getLogger(__name__)


class StepTimeout(NeurostreamError):
    """A denoising step took longer than the watchdog allows."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a batch failed, and whether it was the device's memory."""

    reason: str
    out_of_memory: bool = False


class JobQueue:
    """A persisted, single-dispatcher queue in front of one backend."""

    def __init__(self, jobs: JobRepository, backend: Backend, output_dir: Path, *,
                 sources: Iterable[str] = ("cli",), max_batch: int = 1,
                 compress_level: int = 1, max_attempts: int = 3,
                 step_timeout: float = 300.0,
                 run_blocking: RunBlocking | None = None) -> None:
        self._jobs = jobs
        self._backend = backend
        self._sources = frozenset(sources)
        self.max_batch = max(1, max_batch)
        self._max_attempts = max_attempts
        self._step_timeout = step_timeout
        self._waiting: dict[int, Job] = {}
        self._running: dict[int, Job] = {}  # in the pipeline call now
        self._saver = ResultSaver(output_dir, compress_level=compress_level,
                                  run_blocking=run_blocking)
        self._cancel_running: threading.Event | None = None
        self._cancelled: set[int] = set()
        self._running_step = 0
        # Measured seconds per denoising step per pixel (exponential average), for ETAs.
        self._step_cost: float | None = None
        self._live_cost: float | None = None  # from the running job, before the first finishes
        self._subscribers: dict[int, list[asyncio.Queue[JobEvent]]] = {}
        # When each user and server last had a job started (a counter), for round-robin.
        self._last_served: dict[tuple[object, ...], float] = {}
        self._served_count = 0
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, recover: bool = True) -> list[Job]:
        """Start dispatching; with ``recover``, re-queue this queue's unfinished jobs first.

        A job that was running when the process died has used an attempt; one that has used
        ``max_attempts`` is failed instead (a poison job must not crash the bot forever).
        """
        recovered: list[Job] = []
        if recover:
            crashed = await self._jobs.in_states([JobState.RUNNING], sources=self._sources)
            for job in crashed:
                if job.attempts >= self._max_attempts:
                    await self._jobs.transition(
                        job.id, JobState.FAILED, finished_at=time.time(),
                        error=f"stopped after {job.attempts} attempts: the bot stopped while "
                              "rendering this request each time")
                    log.error("job %d failed as a poison job after %d attempts", job.id,
                              job.attempts)
            recovered = await self._jobs.requeue_unfinished(self._sources)
            for job in recovered:
                self._waiting[job.id] = job
            if recovered:
                log.info("re-queued %d unfinished job(s) after a restart", len(recovered))
        self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="job-dispatcher")
        self._wake.set()
        return recovered

    async def close(self) -> None:
        """Stop dispatching; a running batch is cancelled and its jobs go back to queued.

        Returns once the model has stopped (at its next step): nothing generates after this.
        """
        if self._cancel_running is not None:
            self._cancel_running.set()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        await self._saver.close()

    # -- requests ----------------------------------------------------------------------------

    async def submit(self, recipe: Recipe, requester: Requester, *, parent_id: int | None = None,
                     priority: int = 0) -> Job:
        """Record a job (committed) and queue it; the recipe must already be validated."""
        job = await self._jobs.add(recipe, requester, parent_id=parent_id, priority=priority)
        self._waiting[job.id] = job
        self._wake.set()
        return job

    def waiting(self) -> list[Job]:
        """Jobs waiting to run, in the order they will run."""
        return scheduling.ordered(list(self._waiting.values()), self._last_served)

    def running(self) -> list[Job]:
        """Jobs started and not finished: those being saved, then those generating."""
        return [*self._saver.saving.values(), *self._running.values()]

    def _started(self, job_id: int) -> bool:
        return job_id in self._running or job_id in self._saver.saving

    def position(self, job_id: int) -> int | None:
        """1-based place among waiting jobs (0 while running), or None when not in the queue."""
        if self._started(job_id):
            return 0
        return scheduling.position(list(self._waiting.values()), job_id,
                                   self._last_served)

    def estimate_wait(self, job_id: int) -> float | None:
        """Seconds until ``job_id`` starts (0 if running), None before anything was measured."""
        if self._started(job_id):
            return 0.0
        waiting = self.waiting()
        ids = [job.id for job in waiting]
        if job_id not in ids:
            return None
        return self._etas(waiting[: ids.index(job_id) + 1])[-1]

    def _etas(self, order: Sequence[Job]) -> list[float | None]:
        """Seconds until each job of ``order`` (a prefix of the waiting order) starts."""
        cost = self._step_cost or self._live_cost
        if cost is None:
            return [None] * len(order)
        running = next(iter(self._running.values()), None)
        steps_left = pixels = 0
        if running is not None:
            steps_left = max(0, running.recipe.steps - self._running_step)
            pixels = running.recipe.width * running.recipe.height
        etas: list[float | None] = []
        elapsed = scheduling.estimate_wait([], steps_left, pixels, cost)
        for job in order:
            etas.append(elapsed)
            elapsed += scheduling.estimate_wait([job], 0, 0, cost)
        return etas

    async def cancel(self, job_id: int) -> Job | None:
        """Cancel a waiting or running job; returns it, or None if it was not in the queue."""
        if job_id in self._waiting:
            self._waiting.pop(job_id)
            job = await self._jobs.transition(job_id, JobState.CANCELLED, finished_at=time.time())
            self._publish(JobEvent(EventKind.CANCELLED, job))
            return job
        if job_id in self._running and self._cancel_running is not None:
            # The engine checks between steps; the dispatcher records the cancellation and puts
            # the other jobs of the batch back.
            self._cancelled.add(job_id)
            self._cancel_running.set()
            return self._running[job_id]
        return None

    def subscribe(self, job_id: int) -> asyncio.Queue[JobEvent]:
        """A queue of this job's events from now on."""
        events: asyncio.Queue[JobEvent] = asyncio.Queue()
        self._subscribers.setdefault(job_id, []).append(events)
        return events

    def unsubscribe(self, job_id: int, events: asyncio.Queue[JobEvent]) -> None:
        """Stop receiving a job's events."""
        listeners = self._subscribers.get(job_id, [])
        if events in listeners:
            listeners.remove(events)
        if not listeners:
            self._subscribers.pop(job_id, None)

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

    # -- dispatching -------------------------------------------------------------------------

    def _publish(self, event: JobEvent) -> None:
        for events in self._subscribers.get(event.job.id, []):
            events.put_nowait(event)

    def _publish_positions(self) -> None:
        order = self.waiting()
        for place, (job, eta) in enumerate(zip(order, self._etas(order), strict=True), start=1):
            if job.id in self._subscribers:
                self._publish(JobEvent(EventKind.QUEUED, job, position=place, eta=eta))

    async def _dispatch_forever(self) -> None:
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = scheduling.pick_batch(list(self._waiting.values()), self.max_batch,
                                          self._last_served)
            for job in batch:
                self._waiting.pop(job.id)
            try:
                await self._run_contained(batch)
            except asyncio.CancelledError:
                await asyncio.shield(self._requeue(list(self._running.values())))
                raise
            except Exception:  # the dispatcher must survive anything a batch does
                log.exception("dispatching jobs %s failed", [job.id for job in batch])

    async def _run_contained(self, batch: list[Job]) -> None:
        """Run a batch; on failure split it (halves on OOM, else one by one)."""
        failure = await self._run_batch(batch)
        if failure is None:
            return
        if len(batch) == 1:
            await self._finish(batch, JobState.FAILED, EventKind.FAILED, error=failure.reason)
            return
        # The attempt of a failed batch is not held against its jobs: they run again now.
        half = len(batch) // 2
        parts = ([batch[:half], batch[half:]] if failure.out_of_memory
                 else [[job] for job in batch])
        log.warning("batch %s failed (%s); retrying as %s", [j.id for j in batch],
                    failure.reason, [[j.id for j in part] for part in parts])
        for part in parts:
            fresh = [await self._jobs.transition(job.id, JobState.QUEUED, started_at=None,
                                                 attempts=max(0, job.attempts - 1))
                     for job in part]
            await self._run_contained(fresh)

    async def _requeue(self, jobs: Sequence[Job]) -> list[Job]:
        """Put running jobs back to queued in the table; returns them as now recorded."""
        requeued = []
        for job in jobs:
            current = await self._jobs.get(job.id)
            if current is not None and current.state is JobState.RUNNING:
                # A shutdown is not the job's fault: it does not count as an attempt.
                requeued.append(await self._jobs.transition(
                    job.id, JobState.QUEUED, started_at=None,
                    attempts=max(0, current.attempts - 1)))
        self._running.clear()
        return requeued

    async def _run_batch(self, batch: list[Job]) -> Failure | None:
        """Run one pipeline call; returns a failure reason, or None when it is all settled."""
        # 1. Mark running (the attempt is counted before the model is touched).
        started = time.time()
        running = [await self._jobs.transition(job.id, JobState.RUNNING, started_at=started,
                                               attempts=job.attempts + 1) for job in batch]
        self._running = {job.id: job for job in running}
        for job in running:
            self._served_count += 1
            self._last_served[scheduling.user_key(job)] = self._served_count
            self._last_served[scheduling.guild_key(job)] = self._served_count
        cancel = threading.Event()
        self._cancel_running = cancel
        self._cancelled.clear()
        self._running_step = 0
        for job in running:
            self._publish(JobEvent(EventKind.STARTED, job, position=0))
        self._publish_positions()

        # 2. Generate on the backend, under the step watchdog.
        try:
            result = await self._generate(running, cancel)
        except GenerationCancelled:
            cancelled = [job for job in running if job.id in self._cancelled]
            await self._finish(cancelled, JobState.CANCELLED, EventKind.CANCELLED)
            others = [job for job in running if job.id not in self._cancelled]
            # Back in line as the table now has them (queued, attempt given back), not as the
            # running copies: those would count the attempt twice when they start again.
            for job in await self._requeue(others):
                self._waiting[job.id] = job
            return None
        except OutOfMemory as error:
            return Failure(str(error), out_of_memory=True)
        except NeurostreamError as error:
            return Failure(str(error))
        except Exception as error:
            log.exception("job(s) %s failed", [job.id for job in running])
            return Failure(f"unexpected error ({type(error).__name__}: {error})")
        finally:
            self._cancel_running = None

        # 3. Learn the step cost for ETAs; the saver writes and records while the next batch
        #    generates. One batch is saved at a time, so finished images never pile up in memory.
        #    The jobs pass from generating to saving at once (no await between): a shutdown
        #    while the batch before is still being saved must save these, not re-queue them.
        self._learn_step_cost(running[0].recipe, result.step_seconds)
        for job in running:
            self._running.pop(job.id)
        await self._saver.save(running, result, functools.partial(
            self._record_saved, step_seconds=result.step_seconds))
        return None

    async def _record_saved(self, job: Job, recipe: Recipe, path: Path | None,
                            error: str | None, *, step_seconds: float) -> None:
        if path is None:
            await self._finish([job], JobState.FAILED, EventKind.FAILED, error=error)
            return
        done = await self._jobs.transition(
            job.id, JobState.DONE, recipe=recipe, output_path=str(path),
            finished_at=time.time(), step_seconds=step_seconds)
        self._publish(JobEvent(EventKind.DONE, done))

    async def _generate(self, running: list[Job], cancel: threading.Event) -> GenerationResult:
        last_step = time.monotonic()

        def on_progress(progress: StepProgress) -> None:
            nonlocal last_step
            last_step = time.monotonic()
            self._running_step = progress.step
            recipe = running[0].recipe
            self._live_cost = progress.elapsed / progress.step / (recipe.width * recipe.height)
            for job in running:
                self._publish(JobEvent(EventKind.PROGRESS, job, step=progress.step,
                                       total=progress.total, preview=progress.preview))

        task = asyncio.ensure_future(self._backend.generate(
            [job.recipe for job in running], on_progress=on_progress, cancel=cancel))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._step_timeout / 4)
                if done:
                    return task.result()
                if time.monotonic() - last_step > self._step_timeout:
                    # A thread cannot be killed: ask it to stop at the next step, fail the job.
                    cancel.set()
                    _discard_outcome(task)
                    raise StepTimeout(f"a denoising step took longer than "
                                      f"{self._step_timeout:g} s; the job was stopped")
        except asyncio.CancelledError:
            # Shutting down: the model stops at its next step. Wait for that (no longer than
            # the watchdog would), so the model is free when close() returns and the
            # generation's GenerationCancelled is not left for the loop to log as "never
            # retrieved".
            cancel.set()
            patience = self._step_timeout - (time.monotonic() - last_step)
            await asyncio.wait({task}, timeout=max(0.0, patience))
            _discard_outcome(task)
            raise

    def _learn_step_cost(self, recipe: Recipe, step_seconds: float) -> None:
        if step_seconds <= 0:
            return
        cost = step_seconds / (recipe.width * recipe.height)
        self._step_cost = cost if self._step_cost is None else 0.7 * self._step_cost + 0.3 * cost

    async def _finish(self, jobs: Sequence[Job], state: JobState, kind: EventKind, *,
                      error: str | None = None) -> None:
        for job in jobs:
            ended = await self._jobs.transition(job.id, state, finished_at=time.time(),
                                                error=error)
            self._running.pop(job.id, None)
            self._publish(JobEvent(kind, ended))


def _discard_outcome(task: asyncio.Future[GenerationResult]) -> None:
    """Retrieve an abandoned generation's outcome (now or when it ends) so it is not logged."""
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
