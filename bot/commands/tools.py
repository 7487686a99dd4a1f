"""``neurostream sketch|inpaint|vary|upscale|zoom|remix|morph``: the image tools offline.

Each command makes the same one service call as its Discord counterpart (the intake service
for an uploaded image, the tool service for a finished job), then waits for the jobs and prints
the paths of the PNGs written (a morph also writes its animation and contact sheet). A job is
named by its number or by the path of its result PNG (``job-000012-seed-5.png``).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from tqdm import tqdm

from bot.app import App, open_app
from bot.commands.dream import settings_for_args, show_notes
from bot.config import Settings
from bot.domain.errors import UserError
from bot.domain.images import DeclaredFile
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.requests import DreamRequest, JobRequest
from bot.render.animation import animation_suffix
from bot.services.intake import Upload

TOOLS = ("sketch", "inpaint", "vary", "upscale", "zoom", "remix", "morph")
_RESULT_NAME = re.compile(r"job-(\d+)-seed-\d+\.png$")


def job_number(text: str) -> int:
    """A job's number from ``12`` or from its result's path (``…/job-000012-seed-5.png``)."""
    if text.strip().isdigit():
        return int(text)
    match = _RESULT_NAME.search(text)
    if match is None:
        raise UserError(f"{text!r} is neither a job number nor a result PNG's path "
                        "(job-000012-seed-5.png)")
    return int(match.group(1))


def _upload(path: Path) -> Upload:
    """A local file as an upload; its bytes are read here, before the event loop starts."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None

    async def read() -> bytes:
        return data

    return Upload(DeclaredFile(path.name, len(data)), read)


def _dream_request(args: argparse.Namespace) -> DreamRequest:
    return DreamRequest(prompt=args.prompt, negative=args.negative, width=args.width,
                        height=args.height, steps=args.steps, guidance=args.guidance,
                        seed=args.seed, scheduler=args.scheduler)


Submit = Callable[[App], Awaitable[list[Job]]]


def _submitter(args: argparse.Namespace) -> Submit:
    """The one service call the command makes (files are read now: a missing one fails
    before the database opens)."""
    cli = Requester()
    command = args.command
    if command in ("sketch", "inpaint"):
        image = _upload(args.image)
        mask = _upload(args.mask) if command == "inpaint" and args.mask else None
        request = JobRequest(_dream_request(args), cli)

        async def intake(app: App) -> list[Job]:
            if command == "sketch":
                submitted = await app.intake.sketch(request, image, strength=args.strength,
                                                    acknowledge=app.load_model)
            else:
                submitted = await app.intake.inpaint(request, image, mask,
                                                     strength=args.strength,
                                                     acknowledge=app.load_model)
            for note in submitted.notes:
                print(f"neurostream {command}: note: {note}", file=sys.stderr)
            return submitted.jobs

        return intake
    if command == "morph":
        start, end = job_number(args.start), job_number(args.end)
        return lambda app: app.tools.morph(start, end, cli, frames=args.frames,
                                           acknowledge=app.load_model)
    job_id = job_number(args.job)
    if command == "vary":
        return lambda app: app.tools.vary(job_id, cli, strength=args.strength,
                                          variation_seed=args.seed, acknowledge=app.load_model)
    if command == "upscale":
        return lambda app: app.tools.upscale(job_id, cli, acknowledge=app.load_model)
    if command == "zoom":
        return lambda app: app.tools.zoom_out(job_id, cli, acknowledge=app.load_model)
    return lambda app: app.tools.remix(job_id, cli, prompt=args.prompt, negative=args.negative,
                                       acknowledge=app.load_model)


async def _wait(app: App, jobs: list[Job], command: str) -> list[Job]:
    finished = []
    with tqdm(total=len(jobs), unit="image", desc=f"{command}: {len(jobs)} image(s)",
              file=sys.stderr, disable=None) as bar:
        try:
            for job in jobs:
                finished.append(await app.generation.wait(job.id))
                bar.update(1)
        except BaseException:
            await app.generation.cancel_all(jobs)
            raise
    return finished


async def _run(settings: Settings, args: argparse.Namespace, submit: Submit
               ) -> tuple[list[Job], list[tuple[Path, bytes]]]:
    """Submit, wait, and (for a morph) encode the animation: the jobs and the files to write."""
    out = settings.output_dir
    async with open_app(settings, sources=("cli",), recover=False, wait_for_model=False,
                        start_model=False) as app:
        # One call: a refusal comes before the model loads (the load is the acknowledgement).
        jobs = await submit(app)
        show_notes(jobs)
        finished = await _wait(app, jobs, args.command)
        if args.command != "morph" or any(job.state is not JobState.DONE for job in finished):
            return finished, []
        group = await app.tools.morph_of(finished[0].id)
        animation, sheet = await app.tools.morph_animation(group)
    return finished, [(out / f"morph-{group:06d}{animation_suffix(animation)}", animation),
                      (out / f"morph-{group:06d}-sheet.png", sheet)]


def run_tool(settings: Settings, args: argparse.Namespace) -> int:
    """Run one tool command; print each file written; 0 if every job succeeded, else 1."""
    submit = _submitter(args)
    finished, files = asyncio.run(_run(settings_for_args(settings, args), args, submit))
    failures = 0
    for job in finished:
        if job.state is JobState.DONE and job.output_path:
            print(Path(job.output_path))
        else:
            failures += 1
            print(f"job {job.id} {job.state.value}: {job.error or 'no reason given'}",
                  file=sys.stderr)
    for path, data in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(path)
    return 1 if failures else 0
