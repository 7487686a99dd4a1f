"""Generation: validate a request, record and queue its jobs, follow and cancel them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.errors import UserError
from bot.domain.jobs import Job, Requester
from bot.domain.recipe import Recipe
from bot.domain.requests import Defaults, DreamRequest, batch_recipes, build_recipe
from bot.domain.scheduling import Caps, check_admission
from bot.domain.validation import Limits
from bot.queue.events import JobEvent
from bot.queue.queue import JobQueue
from bot.render.queue_view import QueueEntry


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """A user's jobs in the queue and how long the whole queue is."""

    entries: list[QueueEntry]
    total: int


class GenerationService:
    """The entry point for ``/dream`` and ``neurostream dream``."""

    def __init__(self, queue: JobQueue, *, defaults: Defaults, limits: Limits,
                 model_id: str, caps: Caps | None = None) -> None:
        self.queue = queue
        self.caps = caps or Caps()
        self.defaults = defaults
        self.limits = limits
        self.model_id = model_id

    def prepare(self, request: DreamRequest, *, count: int = 1,
                user_id: int | None = None) -> list[Recipe]:
        """Validate a request and check the caps (no I/O: safe before Discord's 3 s ack)."""
        recipe = build_recipe(request, defaults=self.defaults, limits=self.limits,
                              model=self.model_id)
        recipes = batch_recipes(recipe, count)
        self.admit(user_id, len(recipes))
        return recipes

    def admit(self, user_id: int | None, count: int) -> None:
        """Refuse (UserError) if ``count`` more jobs would pass the per-user or total cap."""
        check_admission(self.queue.waiting(), user_id, count, self.caps)

    async def submit(self, recipes: Sequence[Recipe], requester: Requester, *,
                     parent_id: int | None = None, priority: int = 0) -> list[Job]:
        """Record and queue prepared recipes; each job is committed before this returns."""
        return [await self.queue.submit(r, requester, parent_id=parent_id, priority=priority)
                for r in recipes]

    async def dream(self, request: DreamRequest, requester: Requester, *, count: int = 1,
                    parent_id: int | None = None, priority: int = 0) -> list[Job]:
        """Validate (nothing is recorded if it fails), then record and queue ``count`` jobs."""
        recipes = self.prepare(request, count=count, user_id=requester.user_id)
        return await self.submit(recipes, requester,
                                 parent_id=parent_id, priority=priority)

    def watch(self, job_id: int) -> asyncio.Queue[JobEvent]:
        """Events of a job (position, progress, the end); call ``unwatch`` when done."""
        return self.queue.subscribe(job_id)

    def unwatch(self, job_id: int, events: asyncio.Queue[JobEvent]) -> None:
        """Stop following a job."""
        self.queue.unsubscribe(job_id, events)

    async def wait(self, job_id: int) -> Job:
        """Wait for a job to finish."""
        return await self.queue.wait(job_id)

    def status(self, user_id: int | None = None) -> QueueStatus:
        """The queue as ``user_id`` sees it (None: everyone's jobs)."""
        jobs = self.queue.running() + self.queue.waiting()
        entries = [QueueEntry(job, self.queue.position(job.id) or 0,
                              self.queue.estimate_wait(job.id))
                   for job in jobs if user_id is None or job.requester.user_id == user_id]
        return QueueStatus(entries, total=len(jobs))

    async def cancel(self, job_id: int | None, *, user_id: int | None = None,
                     moderator: bool = False) -> Job:
        """Cancel a job: the user's own (their newest if ``job_id`` is None), or any for mods."""
        in_queue = {job.id: job for job in self.queue.running() + self.queue.waiting()}
        if job_id is None:
            own = [job for job in in_queue.values() if job.requester.user_id == user_id]
            if not own:
                raise UserError("you have no job waiting or running")
            job_id = max(job.id for job in own)
        job = in_queue.get(job_id)
        if job is None:
            raise UserError(f"job {job_id} is not waiting or running, so it cannot be cancelled")
        if job.requester.user_id != user_id and not moderator and user_id is not None:
            raise UserError(f"job {job_id} is someone else's; only members with Manage Messages "
                            "can cancel it")
        cancelled = await self.queue.cancel(job_id)
        if cancelled is None:
            raise UserError(f"job {job_id} finished before it could be cancelled")
        return cancelled
