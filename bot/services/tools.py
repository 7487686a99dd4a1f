"""Iterating on a finished image: vary, upscale, zoom out, remix and morph.

Each tool reads its parent job(s), builds the new recipes with the pure rules of
``bot.domain.tools`` and makes ONE ``GenerationService.submit`` call with the lineage links (and
a group for a morph), so validation, the request rules and the caps apply as to any request.
An input image the new job starts from (the parent's result for an upscale, the zoom-out's
canvas and mask) is kept in the attachments store first, so the job re-runs after a restart.
Refusals (an unknown or unfinished parent, a bad value) come before the acknowledgement.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from PIL import Image

from bot.domain.errors import UserError
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.lineage import Attachment, GroupKind, Link, LinkKind
from bot.domain.recipe import SEED_MAX, Mode, Recipe
from bot.domain.requests import JobRequest
from bot.domain.tools import (
    MORPH_FRAMES,
    check_frames,
    check_vary_strength,
    morph_recipes,
    remix_recipe,
    upscale_recipe,
    variation_recipe,
    zoom_recipe,
)
from bot.domain.validation import Limits
from bot.render.animation import morph_animation, morph_contact_sheet
from bot.render.canvas import zoom_canvas
from bot.render.texts import MASK_FILE, SOURCE_FILE
from bot.services.generation import Acknowledge, GenerationService
from bot.storage.attachments import AttachmentStore
from bot.storage.lineage import LineageRepository

_T = TypeVar("_T")
# Stands for an input image while a rule is checked, before the image is stored.
_PENDING = "sha256:" + "0" * 64


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _zoom_inputs(path: str) -> tuple[bytes, bytes]:
    """The zoom-out canvas and mask of the image at ``path``, as PNG bytes (blocking)."""
    with Image.open(path) as image:
        canvas, mask = zoom_canvas(image)
    return _png(canvas), _png(mask)


def _read_inputs(locate: Callable[[str], Path], inputs: list[tuple[str, str | None]]
                 ) -> list[tuple[str, bytes]]:
    """(``name`` + the stored file's suffix, its bytes) of each stored input image."""
    files = []
    for name, ref in inputs:
        path = locate(ref or "")
        files.append((name + path.suffix, path.read_bytes()))
    return files


def _read_frames(paths: list[str]) -> list[Image.Image]:
    frames = []
    for path in paths:
        with Image.open(path) as image:
            frames.append(image.convert("RGB"))
    return frames


@dataclass(frozen=True, slots=True)
class RecipeCard:
    """What the 📋 Recipe button shows of a job: the job, its lineage links (first parent
    first), and the input images it started from as (file name, bytes), when they fit."""

    job: Job
    parents: tuple[Link, ...] = ()
    files: tuple[tuple[str, bytes], ...] = ()


class ToolService:
    """The image tools on finished jobs; the API the Discord buttons, ``/vary``, ``/morph`` and
    the CLI call."""

    def __init__(self, generation: GenerationService, attachments: AttachmentStore,
                 lineage: LineageRepository) -> None:
        self._generation = generation
        self._attachments = attachments
        self._lineage = lineage
        # Reading results, drawing canvases and encoding animations block; a thread of its own.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-tools")

    def close(self) -> None:
        """Stop the service's thread."""
        self._pool.shutdown(wait=True)

    # -- parents -------------------------------------------------------------------------------

    async def job(self, job_id: int, requester: Requester) -> Job:
        """A job as ``requester`` may see it: any for the CLI, else one of their server's."""
        if requester.source == "cli":
            return await self._generation.job(job_id)
        return await self._generation.job_for(job_id, requester.guild_id)

    def recipe_of(self, job: Job) -> Recipe:
        """The recipe a tool starts from (a remix form shows its ``prompt`` and ``negative``:
        the full prompt, theme words included, as the remix takes it)."""
        return job.recipe

    async def _parent(self, job_id: int, requester: Requester, tool: str) -> Job:
        """A finished job with its image on disk; UserError naming the job otherwise."""
        job = await self.job(job_id, requester)
        if job.state is not JobState.DONE:
            raise UserError(f"job {job_id} is {job.state.value}; {tool} needs a finished image")
        path = job.output_path
        if not path or not await self._run(Path(path).is_file):
            raise UserError(f"job {job_id} has no image any more (its file is gone), so there "
                            f"is nothing to {tool}")
        return job

    def _limits(self, recipe: Recipe) -> Limits:
        """The size limits of the recipe's model (the default model's for an unknown one)."""
        names = self._generation.model_names()
        return self._generation.model(recipe.model if recipe.model in names else None).limits

    async def recipe_card(self, job_id: int, requester: Requester, *,
                          limit: int) -> RecipeCard:
        """Job ``job_id`` with its lineage and, for a job that starts from an uploaded image
        (a sketch, an inpaint, a zoom-out), that image and its mask from the attachments
        store, so that its command can be run again; left out when together they pass
        ``limit`` bytes (the upload limit) or are no longer stored."""
        job = await self.job(job_id, requester)
        parents = tuple(await self._lineage.parents(job.id))
        recipe = job.recipe
        if recipe.mode not in (Mode.IMG2IMG, Mode.INPAINT) or recipe.is_morph_frame:
            return RecipeCard(job, parents)
        inputs = [(SOURCE_FILE, recipe.init_image)]
        if recipe.mode is Mode.INPAINT:
            inputs.append((MASK_FILE, recipe.mask_image))
        try:
            files = await self._run(_read_inputs, self._attachments.locate, inputs)
        except (FileNotFoundError, ValueError):  # gone, or not a stored image's reference
            return RecipeCard(job, parents)
        if sum(len(data) for _, data in files) > limit:
            return RecipeCard(job, parents)
        return RecipeCard(job, parents, tuple(files))

    # -- the tools -----------------------------------------------------------------------------

    async def vary(self, job_id: int, requester: Requester, *, strength: float,
                   variation_seed: int | None = None,
                   acknowledge: Acknowledge | None = None) -> list[Job]:
        """A variation of job ``job_id``: its noise moved ``strength`` (``VARY_SUBTLE``,
        ``VARY_STRONG``, or 0–1) towards a variation seed's (drawn when None)."""
        strength = check_vary_strength(strength)
        parent = await self._parent(job_id, requester, "vary")
        seed = secrets.randbelow(SEED_MAX + 1) if variation_seed is None else variation_seed
        recipe = variation_recipe(parent.recipe, strength=strength, variation_seed=seed)
        return await self._submit(recipe, requester, Link(parent.id, LinkKind.VARIATION),
                                  acknowledge)

    async def upscale(self, job_id: int, requester: Requester, *,
                      acknowledge: Acknowledge | None = None) -> list[Job]:
        """Job ``job_id``'s image at twice its size, redrawn at a low strength."""
        parent = await self._parent(job_id, requester, "upscale")
        limits = self._limits(parent.recipe)
        upscale_recipe(parent.recipe, init_image=_PENDING, limits=limits)  # refuse before I/O
        stored = await self._store_file(parent.output_path or "")
        recipe = upscale_recipe(parent.recipe, init_image=stored.ref, limits=limits)
        return await self._submit(recipe, requester, Link(parent.id, LinkKind.UPSCALE),
                                  acknowledge)

    async def zoom_out(self, job_id: int, requester: Requester, *,
                       acknowledge: Acknowledge | None = None) -> list[Job]:
        """Job ``job_id``'s image shrunk 1.5× into a canvas of its size, the border painted."""
        parent = await self._parent(job_id, requester, "zoom out")
        limits = self._limits(parent.recipe)
        zoom_recipe(parent.recipe, canvas=_PENDING, mask=_PENDING, limits=limits)
        canvas_png, mask_png = await self._run(_zoom_inputs, parent.output_path or "")
        canvas = await self._attachments.put(canvas_png)
        mask = await self._attachments.put(mask_png)
        recipe = zoom_recipe(parent.recipe, canvas=canvas.ref, mask=mask.ref, limits=limits)
        return await self._submit(recipe, requester, Link(parent.id, LinkKind.ZOOM),
                                  acknowledge)

    async def remix(self, job_id: int, requester: Requester, *, prompt: str,
                    negative: str | None, acknowledge: Acknowledge | None = None) -> list[Job]:
        """Job ``job_id`` again with an edited prompt (and negative; None keeps it): the same
        seed, noise, size and settings."""
        parent = await self._parent(job_id, requester, "remix")
        recipe = remix_recipe(parent.recipe, prompt=prompt, negative=negative)
        return await self._submit(recipe, requester, Link(parent.id, LinkKind.REMIX),
                                  acknowledge)

    async def morph(self, from_id: int, to_id: int, requester: Requester, *,
                    frames: int = MORPH_FRAMES,
                    acknowledge: Acknowledge | None = None) -> list[Job]:
        """``frames`` jobs (one morph group, in order) from job ``from_id``'s image to job
        ``to_id``'s; every frame links to both ends (``from`` at position 0, ``to`` at 1)."""
        frames = check_frames(frames)
        start = await self._parent(from_id, requester, "morph")
        end = await self._parent(to_id, requester, "morph")
        recipes = morph_recipes(start.recipe, end.recipe, frames,
                                names=(f"job {from_id}", f"job {to_id}"))
        request = JobRequest(what=recipes[0], requester=requester, cells=tuple(recipes),
                             links=(Link(from_id, LinkKind.MORPH, 0),
                                    Link(to_id, LinkKind.MORPH, 1)),
                             group=GroupKind.MORPH, group_title=f"morph {from_id} → {to_id}",
                             group_data={"from": from_id, "to": to_id, "frames": frames})
        return await self._generation.submit(request, acknowledge=acknowledge)

    async def morph_frames(self, group_id: int) -> list[Job]:
        """The frame jobs of morph ``group_id``, in order; UserError if there is no such morph."""
        group = await self._lineage.group(group_id)
        if group is None or group.kind is not GroupKind.MORPH:
            raise UserError(f"there is no morph {group_id}")
        return [await self._generation.job(job_id) for job_id in group.members]

    async def morph_of(self, job_id: int) -> int:
        """The morph group a frame job belongs to; UserError if it is no morph's frame."""
        for group_id in await self._lineage.groups_of(job_id):
            group = await self._lineage.group(group_id)
            if group is not None and group.kind is GroupKind.MORPH:
                return group_id
        raise UserError(f"job {job_id} is not a frame of a morph")

    async def morph_animation(self, group_id: int) -> tuple[bytes, bytes]:
        """Morph ``group_id``'s finished frames as an animated WebP (a GIF where Pillow has no
        WebP; ``bot.render.animation.animation_suffix`` tells which) and a contact sheet PNG."""
        jobs = await self.morph_frames(group_id)
        missing = [job.id for job in jobs if job.state is not JobState.DONE or not job.output_path]
        if missing:
            raise UserError(f"morph {group_id} is not finished: frame job(s) "
                            f"{', '.join(map(str, missing))} have no image yet")
        paths = [job.output_path or "" for job in jobs]

        def encode() -> tuple[bytes, bytes]:
            frames = _read_frames(paths)
            return morph_animation(frames), morph_contact_sheet(frames)

        return await self._run(encode)

    # -- helpers -------------------------------------------------------------------------------

    async def _submit(self, recipe: Recipe, requester: Requester, link: Link,
                      acknowledge: Acknowledge | None) -> list[Job]:
        request = JobRequest(what=dataclasses.replace(recipe, notes=()), requester=requester,
                             links=(link,))
        return await self._generation.submit(request, acknowledge=acknowledge)

    async def _store_file(self, path: str) -> Attachment:
        """A result PNG kept in the attachments store (by content: stored once)."""
        data = await self._run(Path(path).read_bytes)
        return await self._attachments.put(data)

    async def _run(self, work: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
