"""Generation: validate a request, record and queue its jobs, follow and cancel them."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.errors import UserError
from bot.domain.jobs import Job, Requester
from bot.domain.recipe import Recipe
from bot.domain.requests import Defaults, DreamRequest, batch_recipes
from bot.domain.scheduling import PRIORITY_PERSON, Caps, check_admission
from bot.domain.themes import Theme, TokenCounter, build_themed_recipe
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
        # Jobs between admission and the queue (their database insert is being awaited): they
        # count against the caps too, or a burst of requests would all pass the check at once.
        self._in_flight: Counter[int | None] = Counter()
        self.defaults = defaults
        self.limits = limits
        self.model_id = model_id
        # Counts prompt tokens for the 77-token warning (None: a pure estimate); set by open_app.
        self.count_tokens: TokenCounter | None = None

    def prepare(self, request: DreamRequest, *, count: int = 1, user_id: int | None = None,
                theme: Theme | None = None) -> list[Recipe]:
        """Validate a request, apply the channel's ``theme`` and check the caps (no I/O: safe
        before Discord's 3 s ack)."""
        recipe = build_themed_recipe(request, theme, defaults=self.defaults, limits=self.limits,
                                     model=self.model_id, count_tokens=self.count_tokens)
        recipes = batch_recipes(recipe, count)
        self.admit(user_id, len(recipes))
        return recipes

    def admit(self, user_id: int | None, count: int) -> None:
        """Refuse (UserError) if ``count`` more jobs would pass the per-user or total cap."""
        check_admission(self.queue.waiting(), user_id, count, self.caps,
                        in_flight=self._in_flight[user_id],
                        in_flight_total=sum(self._in_flight.values()))

    async def submit(self, recipes: Sequence[Recipe], requester: Requester, *,
                     parent_id: int | None = None, priority: int = 0) -> list[Job]:
        """Record and queue prepared recipes; each job is committed before this returns.

        The caps are checked again here, atomically with the reservation (no await between).
        """
        user_id = requester.user_id
        if priority >= PRIORITY_PERSON:
            self.admit(user_id, len(recipes))
        self._in_flight[user_id] += len(recipes)
        try:
            jobs = []
            for recipe in recipes:
                jobs.append(await self.queue.submit(recipe, requester, parent_id=parent_id,
                                                    priority=priority))
                self._in_flight[user_id] -= 1
            return jobs
        finally:
            self._in_flight[user_id] -= len(recipes) - len(jobs)
            if self._in_flight[user_id] <= 0:
                del self._in_flight[user_id]

    async def dream(self, request: DreamRequest, requester: Requester, *, count: int = 1,
                    parent_id: int | None = None, priority: int = 0,
                    theme: Theme | None = None) -> list[Job]:
        """Validate (nothing is recorded if it fails), then record and queue ``count`` jobs."""
        recipes = self.prepare(request, count=count, user_id=requester.user_id, theme=theme)
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
