"""Generation: the one door every request goes through, and following and cancelling jobs.

Every origin — ``/dream``, a result's buttons, the CLI, a stream (and later grids and parties) —
builds a ``JobRequest`` and makes one call, ``submit``, which in this order:

1. validates once (naming the bad value) and applies the channel's theme or a preset;
2. runs the request rules in order (the queue caps first; blocklists, deny-lists and quotas
   plug in the same way) — pure and cheap, so a refusal comes before any acknowledgement;
3. acknowledges (``acknowledge``: Discord's defer; the CLI's model load), then notes the words
   the text encoder will cut (with the model's own tokenizer once it is loaded);
4. records the jobs (committed), their links and group, and queues them.

Nothing is recorded if any step before 4 refuses.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.errors import UserError
from bot.domain.jobs import Job, QueueEntry
from bot.domain.lineage import JobGroup
from bot.domain.recipe import Recipe
from bot.domain.requests import Defaults, JobRequest, batch_recipes
from bot.domain.rules import QueueCaps, RequestRule, RuleContext, run_rules
from bot.domain.scheduling import Caps
from bot.domain.themes import Theme, TokenCounter, build_themed_recipe, with_cut_note
from bot.domain.validation import Limits, validate_recipe
from bot.queue.events import EventKind, JobEvent
from bot.queue.queue import JobQueue
from bot.storage.jobs import JobRepository
from bot.storage.lineage import LineageRepository

if TYPE_CHECKING:
    from bot.services.themes import ThemeService

Acknowledge = Callable[[], Awaitable[object]]

__all__ = ["EventKind", "GenerationService", "JobEvent", "QueueStatus"]


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """A user's jobs in the queue and how long the whole queue is."""

    entries: list[QueueEntry]
    total: int


class GenerationService:
    """The entry point for every request, and for following and cancelling jobs."""

    def __init__(self, queue: JobQueue, *, defaults: Defaults, limits: Limits,
                 model_id: str, caps: Caps | None = None, jobs: JobRepository | None = None,
                 lineage: LineageRepository | None = None,
                 themes: ThemeService | None = None) -> None:
        self.queue = queue
        self._jobs = jobs
        self._lineage = lineage
        self.themes = themes
        # The request rules, in order; the caps come first (others are appended at start-up).
        self.rules: list[RequestRule] = [QueueCaps(caps or Caps())]
        # Jobs between the rules and the queue (their insert is being awaited): they count
        # against the caps too, or a burst of requests would all pass the check at once.
        self._in_flight: Counter[int | None] = Counter()
        self.defaults = defaults
        self.limits = limits
        self.model_id = model_id
        # Counts prompt tokens for the 77-token note (None: a pure estimate); set once the
        # model is loaded.
        self.count_tokens: TokenCounter | None = None

    # -- the one door ----------------------------------------------------------------------

    async def submit(self, request: JobRequest, *,
                     acknowledge: Acknowledge | None = None) -> list[Job]:
        """Validate, theme, rule, acknowledge, record and queue; see the module's docstring.

        A ``UserError`` (a bad value, a rule's refusal) is raised before ``acknowledge`` runs,
        so its message can still be the first and only answer.
        """
        # 1-2. Validate once and apply the theme; then every rule, with no await in between so
        #      the in-flight reservation is atomic with the caps' check.
        recipes = self._recipes(request)
        user_id = request.requester.user_id
        run_rules(self.rules, RuleContext(
            recipes=tuple(recipes), requester=request.requester, priority=request.priority,
            origin=request.requester.source, waiting=self.queue.waiting(),
            in_flight=self._in_flight[user_id], in_flight_total=sum(self._in_flight.values())))
        self._in_flight[user_id] += len(recipes)
        jobs: list[Job] = []
        try:
            # 3. Acknowledge, then note cut words (the tokenizer may have loaded meanwhile).
            if acknowledge is not None:
                await acknowledge()
            recipes = [with_cut_note(recipe, self.count_tokens) for recipe in recipes]
            # 4. Record (committed before anyone is told) and queue.
            group = await self._group(request)
            parent_id = request.links[0].parent_id if request.links else None
            for position, recipe in enumerate(recipes):
                job = await self.queue.submit(recipe, request.requester, parent_id=parent_id,
                                              priority=request.priority)
                self._in_flight[user_id] -= 1
                jobs.append(job)
                if self._lineage is not None:
                    await self._lineage.add_links(job.id, request.links)
                    if group is not None:
                        await self._lineage.add_member(group.id, job.id, position)
            return jobs
        finally:
            self._in_flight[user_id] -= len(recipes) - len(jobs)
            if self._in_flight[user_id] <= 0:
                del self._in_flight[user_id]

    def _recipes(self, request: JobRequest) -> list[Recipe]:
        """The validated, themed recipes of a request (pure; ValidationError names the value)."""
        what = request.what
        if isinstance(what, Recipe):
            # Built and themed before (a Reroll): validated again, never themed twice.
            recipe = validate_recipe(dataclasses.replace(what, model=self.model_id, notes=()),
                                     self.limits)
        else:
            recipe = build_themed_recipe(what, self._theme(request), defaults=self.defaults,
                                         limits=self.limits, model=self.model_id,
                                         note_cut_words=False)
        return batch_recipes(recipe, request.count)

    def _theme(self, request: JobRequest) -> Theme | None:
        if self.themes is None:
            return None
        if request.preset is not None:
            return self.themes.catalog.get(request.preset).theme
        requester = request.requester
        themed = self.themes.theme_for(requester.channel_id, request.thread_parent_id)
        return themed.theme if themed is not None else None

    async def _group(self, request: JobRequest) -> JobGroup | None:
        if request.group is None or self._lineage is None:
            return None
        requester = request.requester
        return await self._lineage.add_group(request.group, guild_id=requester.guild_id,
                                             channel_id=requester.channel_id,
                                             created_by=requester.user_id)

    # -- jobs --------------------------------------------------------------------------------

    async def job(self, job_id: int) -> Job:
        """A recorded job; UserError if there is none with that number."""
        job = await self._jobs.get(job_id) if self._jobs is not None else None
        if job is None:
            raise UserError(f"job {job_id} is not in this bot's records any more")
        return job

    async def record_status_message(self, job_id: int, message_id: int) -> None:
        """Remember the message that shows a job's progress (kept across restarts)."""
        if self._jobs is not None:
            await self._jobs.update(job_id, status_message_id=message_id)

    def place(self, job_id: int) -> tuple[int | None, float | None]:
        """A job's place (0: running, None: not in the queue) and its expected wait."""
        return self.queue.position(job_id), self.queue.estimate_wait(job_id)

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

    async def cancel_all(self, jobs: Sequence[Job]) -> None:
        """Cancel whichever of ``jobs`` still wait or run (the CLI, interrupted)."""
        for job in jobs:
            await self.queue.cancel(job.id)

