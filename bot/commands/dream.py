"""``neurostream dream``: render offline through the same services, job table and worker."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

from tqdm import tqdm

from bot.app import open_app
from bot.config import Settings
from bot.domain.errors import UserError
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.requests import DreamRequest
from bot.queue.events import EventKind
from bot.services.generation import GenerationService


def request_from_args(args: argparse.Namespace) -> DreamRequest:
    """The dream request the arguments describe."""
    return DreamRequest(prompt=args.prompt, negative=args.negative, width=args.width,
                        height=args.height, steps=args.steps, guidance=args.guidance,
                        seed=args.seed, scheduler=args.scheduler)


def settings_for_args(settings: Settings, args: argparse.Namespace) -> Settings:
    """``--model`` and ``--out`` override the config file."""
    if args.model:
        settings = dataclasses.replace(settings, model=dataclasses.replace(settings.model,
                                                                           id=args.model))
    if args.out:
        storage = dataclasses.replace(settings.storage, output_dir=str(args.out.resolve()))
        settings = dataclasses.replace(settings, storage=storage)
    return settings


async def _follow(generation: GenerationService, jobs: list[Job], bar: tqdm) -> list[Job]:
    """Advance the progress bar with every step; return the finished jobs in order."""
    finished = []
    for job in jobs:
        events = generation.watch(job.id)
        try:
            current = job
            done_steps = 0
            while not current.state.finished:
                event = await events.get()
                current = event.job
                if event.kind is EventKind.PROGRESS:
                    bar.update(event.step - done_steps)
                    done_steps = event.step
                if event.kind.final:
                    break
            bar.update(job.recipe.steps - done_steps)
            finished.append(current)
        finally:
            generation.unwatch(job.id, events)
    return finished


async def dream(settings: Settings, args: argparse.Namespace) -> int:
    """Render the requested images; print each PNG path; 0 if all succeeded, 1 otherwise."""
    settings = settings_for_args(settings, args)
    request = request_from_args(args)
    async with open_app(settings, sources=("cli",), recover=False) as app:
        theme = app.themes.catalog.get(args.theme).theme if args.theme else None
        # Submitted once the model is loaded, so the 77-token check uses its own tokenizer.
        jobs = await app.generation.dream(request, Requester(), count=args.n, theme=theme)
        show_notes(jobs)
        total = sum(job.recipe.steps for job in jobs)
        with tqdm(total=total, unit="step", desc=f"dreaming {len(jobs)} image(s)",
                  file=sys.stderr, disable=None) as bar:
            try:
                finished = await _follow(app.generation, jobs, bar)
            except (asyncio.CancelledError, KeyboardInterrupt):
                for job in jobs:
                    await app.queue.cancel(job.id)
                raise
    failures = 0
    for job in finished:
        if job.state is JobState.DONE and job.output_path:
            print(Path(job.output_path))
        else:
            failures += 1
            print(f"job {job.id} {job.state.value}: {job.error or 'no reason given'}",
                  file=sys.stderr)
    return 1 if failures else 0


def show_notes(jobs: list[Job]) -> None:
    """Print each note of the request once on stderr (the words a long prompt loses, values a
    theme locked); every image of one request carries the same notes."""
    seen: dict[str, None] = {}
    for job in jobs:
        seen.update(dict.fromkeys(job.recipe.notes))
    for note in seen:
        print(f"neurostream dream: note: {note}", file=sys.stderr)


def validate_early(settings: Settings, args: argparse.Namespace) -> None:
    """Check the request before loading any model, so bad arguments fail in milliseconds."""
    from bot.app import defaults_from
    from bot.domain.requests import batch_recipes
    from bot.domain.themes import build_themed_recipe
    from bot.inference.source_check import check_source
    from bot.services.themes import load_presets, preset_folders

    check_source(args.model or settings.model.id)  # before torch is imported (seconds)

    theme = None
    if args.theme:  # an unknown name fails here, before the model loads
        catalog = load_presets(preset_folders(settings), settings.model.limits)
        theme = catalog.get(args.theme).theme
    recipe = build_themed_recipe(request_from_args(args), theme,
                                 defaults=defaults_from(settings),
                                 limits=settings.model.limits,
                                 model=args.model or settings.model.id)
    batch_recipes(recipe, args.n)


__all__ = ["UserError", "dream", "validate_early"]
