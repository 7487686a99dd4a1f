"""Craft: style presets, ``/prompt check``, and the grids that teach (``/styles``, ``/xy``).

A grid's cells are one job group submitted through the one door in one call (validated,
themed and ruled together); the grid image is composed from the finished cells, with a neutral
placeholder for the others, so it can be shown as a progress mosaic and drawn again after a
restart from what the database recorded.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import random
import time
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from bot.domain.errors import UserError
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.lineage import GroupKind
from bot.domain.prompt_craft import TIPS, PromptCheck, check_prompt
from bot.domain.recipe import SEED_MAX
from bot.domain.requests import DreamRequest, JobRequest
from bot.domain.styles import StyleCatalog, StyleFileError, styles_from_dict
from bot.domain.xy import GridPlan, plan_styles, plan_xy
from bot.render.fit import Encoded, fit_result
from bot.render.grid import compose_grid
from bot.render.png import encode_preview
from bot.services.generation import Acknowledge, GenerationService
from bot.storage.lineage import LineageRepository

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

BUILTIN_STYLES = Path(__file__).resolve().parents[1] / "data" / "styles"
GRID_SIDE_MAX = 2048  # the grid image's longest side; cells are shown smaller to fit
PREVIEW_SIDE = 768  # the progress mosaic's longest side
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024


def load_styles(folders: Iterable[Path]) -> StyleCatalog:
    """Read every ``*.toml`` style file of ``folders``; a broken file is reported (path and
    key) and skipped, the others still load. Later folders win on equal names."""
    catalog = StyleCatalog()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                with path.open("rb") as file:
                    catalog.add(styles_from_dict(tomllib.load(file)))
            except tomllib.TOMLDecodeError as error:
                catalog.problems.append(f"{path}: not valid TOML: {error}")
            except StyleFileError as error:
                catalog.problems.append(f"{path}: {error}")
    for problem in catalog.problems:
        log.error("broken style file skipped: %s", problem)
    return catalog


def style_folders(settings: Settings) -> list[Path]:
    """The style folders the settings name: the shipped one first, then ``[styles] dirs``."""
    folders = [BUILTIN_STYLES] if settings.styles.builtin_presets else []
    extra = [settings.path(folder) for folder in settings.styles.preset_dirs]
    for folder in extra:
        if not folder.is_dir():
            log.error("style folder %s does not exist", folder)
    return folders + extra


@dataclass(frozen=True, slots=True)
class Grid:
    """A submitted grid: its group, its cells' jobs (row by row) and its labels."""

    group_id: int | None
    kind: GroupKind
    title: str
    jobs: tuple[Job, ...]
    columns: int
    row_labels: tuple[str, ...] | None
    column_labels: tuple[str, ...] | None

    @property
    def rows(self) -> int:
        """How many rows the grid has."""
        return -(-len(self.jobs) // self.columns)

    def cell_label(self, index: int) -> str:
        """What a cell shows: its row's and column's labels ("Edvard Munch · watercolor")."""
        parts = []
        if self.row_labels:
            parts.append(self.row_labels[index // self.columns])
        if self.column_labels:
            parts.append(self.column_labels[index % self.columns])
        return " · ".join(parts) or f"cell {index + 1}"


@dataclass(frozen=True, slots=True)
class GridImage:
    """The grid as drawn now: the encoded image, its file name and how many cells are done."""

    data: bytes
    filename: str
    size: tuple[int, int]
    done: int
    failed: int
    total: int

    @property
    def finished(self) -> bool:
        """Whether every cell has an outcome."""
        return self.done + self.failed == self.total


def display_cell_size(jobs: Sequence[Job], columns: int) -> tuple[int, int]:
    """The size each cell is shown at: the largest cell, scaled so the grid fits 2048 px."""
    width = max(job.recipe.width for job in jobs)
    height = max(job.recipe.height for job in jobs)
    rows = -(-len(jobs) // columns)
    scale = min(1.0, GRID_SIDE_MAX / (columns * width), GRID_SIDE_MAX / (rows * height))
    return max(16, int(width * scale)), max(16, int(height * scale))


def _cell_image(job: Job) -> Image.Image | None:
    # A cell the safety checker flagged is drawn as a placeholder (its file is kept).
    if job.state is not JobState.DONE or not job.output_path or job.flagged:
        return None
    try:
        with Image.open(job.output_path) as image:
            return image.convert("RGB")
    except OSError:
        log.warning("grid cell job %d: its result file cannot be read", job.id)
        return None


def encode_grid(image: Image.Image, limit: int) -> tuple[bytes, str]:
    """PNG, or JPEG when the PNG is over ``limit`` bytes (a grid is a preview of its cells; the
    cells keep their full PNGs with the recipe)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    if buffer.tell() <= limit:
        return buffer.getvalue(), ".png"
    for quality in (90, 75, 60):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        if buffer.tell() <= limit:
            break
    return buffer.getvalue(), ".jpg"


def render_grid(grid: Grid, jobs: Sequence[Job], limit: int, *,
                preview: bool = False) -> GridImage:
    """Compose and encode the grid from its cells' jobs as they stand. Blocking.

    A ``preview`` (the progress mosaic) is a small JPEG, cheap to upload every few seconds.
    """
    cells = [_cell_image(job) for job in jobs]
    image = compose_grid(cells, grid.columns, cell_size=display_cell_size(jobs, grid.columns),
                         row_labels=grid.row_labels, column_labels=grid.column_labels)
    if preview:
        data, suffix = encode_preview(image, size=min(PREVIEW_SIDE, max(image.size))), ".jpg"
    else:
        data, suffix = encode_grid(image, limit)
    name = f"{grid.kind.value}-{grid.group_id or jobs[0].id}{suffix}"
    return GridImage(data, name, image.size,
                     done=sum(job.state is JobState.DONE for job in jobs),
                     failed=sum(job.state.finished and job.state is not JobState.DONE
                                for job in jobs), total=len(jobs))


@dataclass(frozen=True, slots=True)
class CellResult:
    """One cell of a grid at full size: its job and its encoded result."""

    job: Job
    data: bytes
    filename: str
    note: str = ""


class StyleService:
    """Style presets, prompt checks and teaching grids; every job goes through the one door."""

    def __init__(self, generation: GenerationService, catalog: StyleCatalog, *,
                 lineage: LineageRepository, max_side: int = 6,
                 cell_size: int = 512) -> None:
        self.generation = generation
        self.catalog = catalog
        self._lineage = lineage
        self.max_side = max_side
        self.cell_size = cell_size
        # Grids are composed and encoded here, off the loop (tens of ms per update).
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-grid")

    def close(self) -> None:
        """Stop the composing thread."""
        self._pool.shutdown(wait=True)

    # -- presets and prompt craft ------------------------------------------------------------

    def suggest(self, typed: str) -> list[tuple[str, str]]:
        """Autocomplete for ``style:``: at most 25 (label, value) pairs, grouped by kind."""
        return self.catalog.suggest(typed)

    def tips(self) -> str:
        """The advice of ``/prompt tips``."""
        return TIPS

    def check(self, prompt: str, requester: Requester, *, style: str | None = None,
              width: int | None = None, height: int | None = None,
              thread_parent_id: int | None = None) -> PromptCheck:
        """What ``/dream`` would make of ``prompt`` here: the final prompt after the channel's
        theme and the styles, its tokens against the window, and warnings."""
        request = DreamRequest(prompt=prompt, style=style, width=width, height=height)
        recipe = self.generation.preview(JobRequest(request, requester,
                                                    thread_parent_id=thread_parent_id))[0]
        return check_prompt(recipe, prompt, count_tokens=self.generation.count_tokens,
                            usual_size=min(self.generation.defaults.width,
                                           self.generation.defaults.height))

    # -- grids -------------------------------------------------------------------------------

    @staticmethod
    def _seed(seed: int | None) -> int:
        # One seed for every cell, drawn here when none is given, so only the style changes.
        return random.randrange(SEED_MAX + 1) if seed is None else seed

    async def styles_grid(self, subject: str, requester: Requester, *,
                          artists: str | None = None, techniques: str | None = None,
                          seed: int | None = None, steps: int | None = None,
                          width: int | None = None, height: int | None = None,
                          thread_parent_id: int | None = None, preset: str | None = None,
                          acknowledge: Acknowledge | None = None) -> Grid:
        """Submit a style grid (rows: artists, columns: techniques) as one job group."""
        base = DreamRequest(prompt=subject, steps=steps, width=width or self.cell_size,
                            height=height or self.cell_size)
        plan = plan_styles(subject, artists, techniques, seed=self._seed(seed),
                           max_side=self.max_side, catalog=self.catalog, base=base)
        return await self._submit(plan, requester, thread_parent_id, preset, acknowledge)

    async def xy_grid(self, prompt: str, requester: Requester, *, x: str, x_values: str,
                      y: str | None = None, y_values: str | None = None,
                      seed: int | None = None, thread_parent_id: int | None = None,
                      preset: str | None = None, acknowledge: Acknowledge | None = None) -> Grid:
        """Submit an X/Y plot as one job group."""
        base = DreamRequest(prompt=prompt, width=self.cell_size, height=self.cell_size)
        plan = plan_xy(prompt, x, x_values, y, y_values, seed=self._seed(seed),
                       max_side=self.max_side, catalog=self.catalog, base=base)
        return await self._submit(plan, requester, thread_parent_id, preset, acknowledge)

    async def _submit(self, plan: GridPlan, requester: Requester, thread_parent_id: int | None,
                      preset: str | None, acknowledge: Acknowledge | None) -> Grid:
        request = JobRequest(plan.cells[0], requester, cells=plan.cells, group=plan.kind,
                             group_title=plan.title[:200], group_data=plan.to_data(),
                             thread_parent_id=thread_parent_id, preset=preset)
        jobs = await self.generation.submit(request, acknowledge=acknowledge)
        groups = await self._lineage.groups_of(jobs[0].id)
        return Grid(groups[-1] if groups else None, plan.kind, plan.title, tuple(jobs),
                    plan.columns, plan.row_labels, plan.column_labels)

    async def grid(self, group_id: int) -> Grid:
        """A recorded grid (after a restart too); UserError if there is none."""
        group = await self._lineage.group(group_id)
        if group is None or group.kind not in (GroupKind.STYLES, GroupKind.XY):
            raise UserError(f"grid {group_id} is not in this bot's records any more")
        jobs = [await self.generation.job(job_id) for job_id in group.members]
        data = group.data

        def labels(key: str) -> tuple[str, ...] | None:
            value = data.get(key)
            return tuple(value) if value else None

        return Grid(group.id, group.kind, group.title, tuple(jobs), int(data["columns"]),
                    labels("row_labels"), labels("column_labels"))

    async def render(self, grid: Grid, *, limit: int = DEFAULT_UPLOAD_LIMIT,
                     preview: bool = False) -> GridImage:
        """The grid as it stands (finished cells drawn, the others placeholders); a
        ``preview`` is a small JPEG for the progress mosaic."""
        jobs = [await self.generation.job(job.id) for job in grid.jobs]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, functools.partial(render_grid, grid, jobs, limit, preview=preview))

    async def follow(self, grid: Grid,
                     on_update: Callable[[GridImage], Awaitable[None]] | None = None, *,
                     on_progress: Callable[[int], Awaitable[None]] | None = None,
                     interval: float = 3.0, limit: int = DEFAULT_UPLOAD_LIMIT) -> GridImage:
        """Wait for every cell; return the finished grid.

        As cells finish, ``on_progress`` gets how many have, and ``on_update`` the mosaic so
        far, at most every ``interval`` seconds (Discord rate-limits message edits).
        """
        waits = [asyncio.ensure_future(self.generation.wait(job.id)) for job in grid.jobs]
        last = time.monotonic()
        try:
            pending = set(waits)
            while pending:
                done, pending = await asyncio.wait(pending,
                                                   return_when=asyncio.FIRST_COMPLETED)
                for wait in done:
                    if wait.exception() is not None:  # the job vanished: drawn as failed
                        log.warning("grid cell wait failed: %s", wait.exception())
                if on_progress is not None:
                    await on_progress(len(waits) - len(pending))
                if on_update is not None and pending and time.monotonic() - last >= interval:
                    await on_update(await self.render(grid, limit=limit, preview=True))
                    last = time.monotonic()
        finally:
            for wait in waits:
                wait.cancel()
        return await self.render(grid, limit=limit)

    async def cell(self, job_id: int, *, limit: int = DEFAULT_UPLOAD_LIMIT) -> CellResult:
        """A grid cell's job and its result encoded under ``limit`` bytes (keeping the recipe
        in its metadata); UserError if it has none."""
        job = await self.generation.job(job_id)
        if job.state is not JobState.DONE or not job.output_path:
            raise UserError(f"cell {job_id} has no image ({job.state.value})")
        if job.flagged:
            raise UserError(f"the image of cell {job_id} is withheld: the safety checker "
                            "flagged it")
        path = Path(job.output_path)

        def encode() -> Encoded:
            return fit_result(path.read_bytes(), job.recipe, limit)

        try:
            encoded = await asyncio.get_running_loop().run_in_executor(self._pool, encode)
        except OSError:
            raise UserError(f"the image of cell {job_id} is missing on the server") from None
        return CellResult(job, encoded.data, f"{path.stem}{encoded.suffix}", encoded.note)
