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
from bot.domain.requests import DreamRequest, JobRequest
from bot.services.generation import EventKind, GenerationService


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
    request = JobRequest(request_from_args(args), Requester(), count=args.n, preset=args.theme)
    async with open_app(settings, sources=("cli",), recover=False, wait_for_model=False,
                        start_model=False) as app:
        # One call: a bad argument is refused before the model loads (the load is the CLI's
        # acknowledgement), and the 77-token note then uses the model's own tokenizer.
        jobs = await app.generation.submit(request, acknowledge=app.load_model)
        show_notes(jobs)
        total = sum(job.recipe.steps for job in jobs)
        with tqdm(total=total, unit="step", desc=f"dreaming {len(jobs)} image(s)",
                  file=sys.stderr, disable=None) as bar:
            try:
                finished = await _follow(app.generation, jobs, bar)
            except (asyncio.CancelledError, KeyboardInterrupt):
                await app.generation.cancel_all(jobs)
                raise
    failures = 0
    for job in finished:
        if job.state is JobState.DONE and job.output_path:
            print(Path(job.output_path))
            if job.flagged:  # stdout stays one path a line, for scripts
                print(f"neurostream dream: note: the safety checker flagged {job.output_path}",
                      file=sys.stderr)
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


__all__ = ["UserError", "dream"]
