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
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.errors import UserError, ValidationError
from bot.domain.jobs import Job, QueueEntry
from bot.domain.lineage import JobGroup
from bot.domain.loras import LoraShelf, with_loras
from bot.domain.models import ModelCatalog, ModelSpec, fit_to_model
from bot.domain.recipe import SEED_MAX, Recipe
from bot.domain.requests import Defaults, DreamRequest, JobRequest, batch_recipes
from bot.domain.rules import QueueCaps, RequestRule, RuleContext, run_rules
from bot.domain.scheduling import Caps
from bot.domain.styles import StyleCatalog, apply_styles
from bot.domain.themes import Theme, TokenCounter, build_themed_recipe, with_cut_note
from bot.domain.validation import Limits, validate_recipe
from bot.queue.events import EventKind, JobEvent
from bot.queue.queue import JobQueue
from bot.storage.jobs import JobRepository
from bot.storage.lineage import LineageRepository

if TYPE_CHECKING:
    from bot.domain.party import Party, PartyLookup
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
        # The style presets ``/dream style:`` names (set at start-up; None: none loaded).
        self.styles: StyleCatalog | None = None
        # The named models (set at start-up; None: only ``model_id``) and the installed LoRAs
        # that prompts name as <lora:name:weight> (None: none).
        self.models: ModelCatalog | None = None
        self.loras: LoraShelf | None = None
        # Told of every job as it is recorded (the moderation service counts quotas with it).
        self.on_recorded: list[Callable[[Job], None]] = []
        # The party running in a channel (set at start-up): while one runs there, every job
        # made there joins the party's group and the party's theme applies.
        self.parties: PartyLookup | None = None

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
            in_flight=self._in_flight[user_id], in_flight_total=sum(self._in_flight.values()),
            now=time.time(), grouped=request.group is not None and len(recipes) > 1))
        self._in_flight[user_id] += len(recipes)
        jobs: list[Job] = []
        try:
            # 3. Acknowledge, then note cut words (the tokenizer may have loaded meanwhile).
            if acknowledge is not None:
                await acknowledge()
            recipes = [with_cut_note(recipe, self.count_tokens) for recipe in recipes]
            # 4. Record (committed before anyone is told) and queue.
            group = await self._group(request)
            party = self._party(request)
            parent_id = request.links[0].parent_id if request.links else None
            for position, recipe in enumerate(recipes):
                job = await self.queue.submit(recipe, request.requester, parent_id=parent_id,
                                              priority=request.priority)
                self._in_flight[user_id] -= 1
                jobs.append(job)
                for recorded in self.on_recorded:  # no await since the in-flight count fell
                    recorded(job)
                if self._lineage is not None:
                    await self._lineage.add_links(job.id, request.links)
                    if group is not None:
                        await self._lineage.add_member(group.id, job.id, position)
                    if party is not None:  # ordered by job id in the party
                        await self._lineage.add_member(party.group_id, job.id, job.id)
            return jobs
        finally:
            self._in_flight[user_id] -= len(recipes) - len(jobs)
            if self._in_flight[user_id] <= 0:
                del self._in_flight[user_id]

    def preview(self, request: JobRequest) -> list[Recipe]:
        """The recipes ``submit`` would queue (validated, styled, themed), without running the
        rules or recording anything: what ``/prompt check`` shows."""
        return self._recipes(request)

    def _recipes(self, request: JobRequest) -> list[Recipe]:
        """The validated, themed recipes of a request (pure; ValidationError names the value)."""
        if request.cells:  # a grid: one job per cell, all ruled together
            if request.count != 1:
                raise ValidationError(f"a grid makes one image per cell, got count {request.count}")
            return [self._recipe(cell, request) for cell in request.cells]
        recipe = self._recipe(request.what, request)
        if recipe.seed is None and request.count > 1:
            # Seeds seed, seed+1, … (as A1111 and the CLI's --n do) from one drawn seed, so a
            # grid's cells are neighbours that a user can reproduce one by one.
            recipe = recipe.with_seed(secrets.randbelow(SEED_MAX - request.count + 2))
        return batch_recipes(recipe, request.count)

    def _recipe(self, what: DreamRequest | Recipe, request: JobRequest) -> Recipe:
        if isinstance(what, Recipe):
            # Built and themed before (a Reroll): validated again, never themed twice; it keeps
            # its model while this bot still has it.
            spec = self.model(what.model if what.model in self.model_names() else None)
            recipe = validate_recipe(dataclasses.replace(what, model=spec.name, notes=()),
                                     spec.limits)
            return with_loras(fit_to_model(recipe, spec), self.loras)
        if what.style is not None:  # /dream style: presets' words follow the user's words
            what = apply_styles(what, self.styles or StyleCatalog())
        theme = self._theme(request)
        # The user's model:, else the theme's (a themed channel or a stream's preset).
        if what.model is None and theme is not None and theme.model is not None:
            try:
                spec = self.model(theme.model)
            except ValidationError as error:
                raise ValidationError(f"the theme {theme.label!r} names a model this bot does "
                                      f"not have: {error}") from None
        else:
            spec = self.model(what.model)
        recipe = build_themed_recipe(what, theme, defaults=spec.defaults, limits=spec.limits,
                                     model=spec.name, note_cut_words=False)
        return with_loras(fit_to_model(recipe, spec), self.loras)

    def model_names(self) -> list[str]:
        """The models requests may name, the default first."""
        if self.models is None:
            return [self.model_id]
        return self.models.with_default_name(self.model_id).names()

    def lora_names(self) -> list[str]:
        """The installed LoRAs' names (for /models and autocomplete)."""
        return self.loras.names() if self.loras is not None else []

    def model(self, name: str | None = None, *, what: str = "model") -> ModelSpec:
        """The model called ``name`` (None: the default); ValidationError with close matches.

        The default model takes this service's ``defaults`` and ``limits`` (from ``[model]``)
        and ``model_id`` (the loaded engine's name).
        """
        catalog = (self.models or ModelCatalog.single(ModelSpec(self.model_id))
                   ).with_default_name(self.model_id)
        spec = catalog.get(name, what=what)
        if spec is catalog.default:
            spec = dataclasses.replace(spec, defaults=self.defaults, limits=self.limits)
        return spec

    def _party(self, request: JobRequest) -> Party | None:
        if self.parties is None:
            return None
        return self.parties.party_in(request.requester.channel_id)

    def _theme(self, request: JobRequest) -> Theme | None:
        party = self._party(request)
        if party is not None and party.theme is not None:  # a party's theme wins
            return party.theme
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
                                             created_by=requester.user_id,
                                             title=request.group_title, data=request.group_data)

    # -- jobs --------------------------------------------------------------------------------

    async def job(self, job_id: int) -> Job:
        """A recorded job; UserError if there is none with that number."""
        # An id from a custom_id or an option is checked like any input: SQLite's integers
        # are 64-bit, and a forged "ns:reroll:99…9" must be a refusal, not an OverflowError.
        if not 1 <= job_id < 2**63:
            raise UserError(f"there is no job {job_id}")
        job = await self._jobs.get(job_id) if self._jobs is not None else None
        if job is None:
            raise UserError(f"job {job_id} is not in this bot's records any more")
        return job

    async def job_for(self, job_id: int, guild_id: int | None) -> Job:
        """A recorded job of the server ``guild_id`` (None: outside any server), for a button or
        an option naming a job: a forged custom_id that points at another server's job is
        refused with the same words as a job that does not exist, so it reveals nothing."""
        try:
            job: Job | None = await self.job(job_id)
        except UserError:
            job = None
        if job is None or job.requester.guild_id != guild_id:
            raise UserError(f"job {job_id} is not in this server's records")
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

