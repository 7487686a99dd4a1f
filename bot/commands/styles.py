"""``neurostream styles`` and ``neurostream xy``: a teaching grid offline, through the same
services, job table and worker as the bot; writes the grid PNG next to its cells' PNGs."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from tqdm import tqdm

from bot.app import open_app
from bot.commands.dream import settings_for_args, show_notes
from bot.config import Settings
from bot.domain.jobs import JobState, Requester

NO_UPLOAD_LIMIT = 1 << 62  # a file on disk: always the PNG


async def grid(settings: Settings, args: argparse.Namespace) -> int:
    """Render the grid; print the grid PNG's path, then each cell's; 0 if every cell was made."""
    settings = settings_for_args(settings, args)
    async with open_app(settings, sources=("cli",), recover=False, wait_for_model=False,
                        start_model=False) as app:
        craft = app.craft
        # One call: a bad argument is refused before the model loads (the load is the CLI's
        # acknowledgement).
        if args.command == "styles":
            made = await craft.styles_grid(
                args.subject, Requester(), artists=args.artists, techniques=args.techniques,
                seed=args.seed, steps=args.steps, width=args.width, height=args.height,
                preset=args.theme, acknowledge=app.load_model)
        else:
            made = await craft.xy_grid(
                args.prompt, Requester(), x=args.x, x_values=args.x_values, y=args.y,
                y_values=args.y_values, seed=args.seed, preset=args.theme,
                acknowledge=app.load_model)
        show_notes(list(made.jobs))
        total = sum(job.recipe.steps for job in made.jobs)
        with tqdm(total=len(made.jobs), unit="cell", desc=f"{len(made.jobs)} cells "
                  f"({total} steps)", file=sys.stderr, disable=None) as bar:
            async def advance(finished: int) -> None:
                bar.update(finished - bar.n)

            try:
                image = await craft.follow(made, on_progress=advance, limit=NO_UPLOAD_LIMIT)
            except (asyncio.CancelledError, KeyboardInterrupt):
                await app.generation.cancel_all(list(made.jobs))
                raise
            bar.update(image.done + image.failed - bar.n)
        jobs = [await app.generation.job(job.id) for job in made.jobs]
    out = Path(jobs[0].output_path).parent if jobs[0].output_path else settings.output_dir
    path = out / image.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image.data)
    print(path)
    failures = 0
    for job in jobs:
        if job.state is JobState.DONE and job.output_path:
            print(Path(job.output_path))
        else:
            failures += 1
            print(f"job {job.id} {job.state.value}: {job.error or 'no reason given'}",
                  file=sys.stderr)
    return 1 if failures else 0
