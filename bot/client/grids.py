"""Job groups shown as one message: a ``/dream count:`` grid, a ``/morph``'s frames, and the
labelled grids of ``/styles`` and ``/xy``.

The group's message is the interaction's response (through its first job, whose token and
waiting message it shares), or a channel message once the token is gone. While the jobs are
made it shows the finished images with a placeholder for the others (a JPEG without metadata,
so nobody mistakes it for a result). When all are done a grid shows its PNG with U1–U4 (that
cell at full size, its own metadata and buttons) and V1–V4 (a subtle variation of that cell); a
morph shows its animation (WebP, or GIF where Pillow lacks WebP) and its contact sheet. A
labelled grid is drawn by the craft service (row and column headers on the image), as a mosaic
while its cells are made, then with a button per cell. A restart follows the group again from
what the database recorded, through this same code.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from PIL import Image

from bot.client.labelled import labelled_embed, labelled_text
from bot.client.transport import DiscordTransport, ResultMessage
from bot.domain.jobs import Job, JobState
from bot.domain.lineage import GroupKind, JobGroup
from bot.queue.events import JobEvent
from bot.render.animation import animation_suffix, morph_animation, morph_contact_sheet
from bot.render.embeds import (
    grid_embed,
    group_marker,
    minimal_group_embed,
    morph_embed,
    waiting_text,
)
from bot.render.fit import fit_under
from bot.render.grid import compose_grid
from bot.render.png import encode_preview
from bot.render.texts import progress_text
from bot.services.craft import Grid, GridImage, StyleService
from bot.storage.jobs import JobRepository
from bot.storage.lineage import LineageRepository

if TYPE_CHECKING:
    from bot.client.delivery import JobEvents

log = logging.getLogger(__name__)

GRID_SIDE_MAX = 2048  # the grid PNG's longest side; larger cells are shown smaller in it
PREVIEW_SIDE = 512  # the progress mosaic's longest side
GUTTER = 4

# The buttons under a finished grid, given its cells in order (None: a cell without an image).
GridViewFactory = Callable[[Sequence[Job | None]], discord.ui.View]
# The buttons under a finished labelled grid (a button per cell).
LabelledViewFactory = Callable[[Grid], discord.ui.View]

LABELLED_KINDS = (GroupKind.STYLES, GroupKind.XY)  # drawn by the craft service, with labels


def grid_columns(count: int) -> int:
    """1×2 for two images, 2×2 for three or four."""
    return 1 if count == 1 else 2


def mosaic_columns(kind: GroupKind, count: int) -> int:
    """A grid's layout, or a morph's frames four to a row."""
    return grid_columns(count) if kind is GroupKind.GRID else min(count, 4)


def _cell_image(data: bytes | None) -> Image.Image | None:
    if data is None:
        return None
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def compose(cells: Sequence[bytes | None], columns: int, cell_size: tuple[int, int],
            side_max: int) -> Image.Image:
    """The grid of the encoded cells (None: a placeholder), at most ``side_max`` on a side.
    Blocking: decodes and draws."""
    rows = -(-len(cells) // columns)
    width, height = cell_size
    scale = min(1.0, side_max / max(columns * width, rows * height))
    shown = (max(1, int(width * scale)), max(1, int(height * scale)))
    images = [_cell_image(data) for data in cells]
    # Three cells fill a 2×2 grid with an empty fourth; a short last row of frames too.
    padded: list[Image.Image | None] = images + [None] * (rows * columns - len(images))
    return compose_grid(padded, columns, cell_size=shown, gutter=GUTTER)


def encode_grid(cells: Sequence[bytes | None], cell_size: tuple[int, int],
                limit: int) -> tuple[bytes, str]:
    """The finished grid as a PNG under ``limit`` bytes (lossless WebP, then lossy, if not).

    It carries no A1111 ``parameters``: it is not one image's result (each cell keeps its own,
    and U1–U4 post it)."""
    buffer = io.BytesIO()
    image = compose(cells, grid_columns(len(cells)), cell_size, GRID_SIDE_MAX)
    image.save(buffer, format="PNG", compress_level=6)
    encoded = fit_under(buffer.getvalue(), "", limit)
    return encoded.data, encoded.suffix


def encode_morph(frames: Sequence[bytes | None]) -> tuple[bytes, bytes]:
    """A finished morph's animation and contact sheet, from its frames' PNGs (a frame that
    failed is left out). Blocking."""
    images = [image for image in map(_cell_image, frames) if image is not None]
    return morph_animation(images), morph_contact_sheet(images)


def encode_mosaic(cells: Sequence[bytes | None], columns: int,
                  cell_size: tuple[int, int]) -> bytes:
    """The progress mosaic: a small JPEG without metadata."""
    return encode_preview(compose(cells, columns, cell_size, PREVIEW_SIDE), size=PREVIEW_SIDE)


class GridDelivery:
    """Follows the job groups shown as one message (``/dream count:``, ``/morph``, ``/styles``,
    ``/xy``) and keeps that message current, in a normal run and after a restart alike."""

    def __init__(self, jobs: JobRepository, lineage: LineageRepository, queue: JobEvents,
                 transport: DiscordTransport, encoder: ThreadPoolExecutor, *,
                 edit_interval: float, upload_limit: int,
                 place_text: Callable[[int, float | None], str]) -> None:
        self._jobs = jobs
        self._lineage = lineage
        self._queue = queue
        self._transport = transport
        self._encoder = encoder
        self._edit_interval = edit_interval
        self._upload_limit = upload_limit
        self.place_text = place_text
        self.view_factory: GridViewFactory | None = None
        # The labelled grids of /styles and /xy: the craft service draws them, the craft cog
        # gives their buttons. Without the service such a group's cells are posted one by one.
        self.craft: StyleService | None = None
        self.labelled_view_factory: LabelledViewFactory | None = None
        # Groups whose grid is being posted: a shutdown lets these finish and be recorded.
        self.posting: set[int] = set()

    def shows(self, group: JobGroup) -> bool:
        """Whether this group is delivered as one message (else each job is on its own)."""
        return (group.kind in (GroupKind.GRID, GroupKind.MORPH)
                or (group.kind in LABELLED_KINDS and self.craft is not None))

    async def follow(self, group: JobGroup) -> None:
        """Show the group's progress until every cell has finished, then post the grid."""
        members = list(group.members)
        queues = {job_id: self._queue.subscribe(job_id) for job_id in members}
        merged: asyncio.Queue[JobEvent] = asyncio.Queue()
        forwards = [asyncio.create_task(_forward(events, merged)) for events in queues.values()]
        try:
            # A labelled grid's cells are drawn from their files by the craft service: here a
            # cell's entry only says that it has finished.
            grid = (await self.craft.grid(group.id)
                    if self.craft is not None and group.kind in LABELLED_KINDS else None)
            jobs = {job_id: await self._jobs.get(job_id) for job_id in members}
            cells: dict[int, bytes | None] = {}
            for job_id, job in jobs.items():
                if job is None:  # not in the records any more: a cell without an image
                    cells[job_id] = None
                elif job.state.finished:
                    cells[job_id] = await self._read(job) if grid is None else None
            if group.message_id is None:
                await self._until_finished(group, jobs, cells, merged, grid)
                self.posting.add(group.id)
                try:
                    if grid is None:
                        await self._post(group, [jobs[i] for i in members], cells)
                    else:
                        await self._post_labelled(group, grid, jobs[members[0]] or grid.jobs[0])
                finally:
                    self.posting.discard(group.id)
            else:  # posted before a crash that came before its cells were marked delivered
                for job_id in members:
                    await self._jobs.update(job_id, message_id=group.message_id)
        finally:
            for task in forwards:
                task.cancel()
            for job_id, events in queues.items():
                self._queue.unsubscribe(job_id, events)

    async def _read(self, job: Job) -> bytes | None:
        """A cell finished before a restart (or before it was followed): its file, once (None:
        no image to show, or one the safety checker flagged)."""
        if job.state is not JobState.DONE or not job.output_path or job.flagged:
            return None
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._encoder, Path(job.output_path).read_bytes)
        except FileNotFoundError:
            log.warning("the result file of grid cell %d is missing", job.id)
            return None

    async def _until_finished(self, group: JobGroup, jobs: dict[int, Job | None],
                              cells: dict[int, bytes | None],
                              merged: asyncio.Queue[JobEvent], grid: Grid | None) -> None:
        carrier = jobs[group.members[0]]
        if carrier is None:
            return
        progress: JobEvent | None = None
        # Nothing new to show before the first event: the waiting message has the place. A
        # labelled grid shows its (empty) mosaic at once: its headers say what will come.
        changed = grid is not None
        next_edit = 0.0
        # A labelled mosaic decodes every finished cell: drawn again only when one finishes.
        mosaic: GridImage | None = None
        while len(cells) < len(group.members):
            now = time.monotonic()
            if changed and now >= next_edit:
                if grid is None:
                    await self._show(group, carrier, cells, progress)
                else:
                    if mosaic is None or mosaic.done + mosaic.failed != len(cells):
                        assert self.craft is not None
                        mosaic = await self.craft.render(grid, preview=True)
                    await self._show_labelled(grid, carrier, mosaic, progress)
                changed, next_edit = False, time.monotonic() + self._edit_interval
                if carrier.status_message_id is None:
                    # The transport found the waiting message and recorded it: no more look-ups.
                    carrier = await self._jobs.get(carrier.id) or carrier
            timeout = max(0.0, next_edit - time.monotonic()) if changed else None
            try:
                event = await asyncio.wait_for(merged.get(), timeout)
            except TimeoutError:
                continue
            jobs[event.job.id] = event.job
            if event.kind.final and grid is not None:
                cells[event.job.id] = None
                progress = None if progress and progress.job.id == event.job.id else progress
            elif event.kind.final:
                # A flagged cell is drawn as a placeholder (its file is kept, never shown).
                output = (event.output.data if event.output is not None
                          and not event.job.flagged else None)
                cells[event.job.id] = output if output is not None else await self._read(event.job)
                progress = None if progress and progress.job.id == event.job.id else progress
            elif event.total:
                progress = event
            changed = True

    async def _show(self, group: JobGroup, carrier: Job, cells: dict[int, bytes | None],
                    progress: JobEvent | None) -> None:
        """Edit the waiting message: the mosaic so far and how far the cells are."""
        done = len(cells)
        status = f"🎨 {done}/{len(group.members)} done"
        if progress is not None:
            status += f" · {progress_text(progress.step, progress.total)}"
        elif not done and (place := self._queue.position(carrier.id)):
            status = self.place_text(place, self._queue.estimate_wait(carrier.id))
        preview = None
        if cells:
            ordered = [cells.get(job_id) for job_id in group.members]
            size = (carrier.recipe.width, carrier.recipe.height)
            preview = await asyncio.get_running_loop().run_in_executor(
                self._encoder, encode_mosaic, ordered,
                mosaic_columns(group.kind, len(ordered)), size)
        await self._transport.edit_waiting(carrier, waiting_text(carrier.recipe, status),
                                           preview=preview)

    async def _show_labelled(self, grid: Grid, carrier: Job, image: GridImage,
                             progress: JobEvent | None) -> None:
        """Edit the waiting message: the labelled mosaic so far and how far the cells are."""
        if progress is not None:
            detail = progress_text(progress.step, progress.total)
        elif not image.done and (place := self._queue.position(carrier.id)):
            detail = self.place_text(place, self._queue.estimate_wait(carrier.id))
        else:
            detail = ""
        await self._transport.edit_waiting(carrier, labelled_text(grid, image, detail),
                                           preview=image.data)

    async def _post_labelled(self, group: JobGroup, grid: Grid, carrier: Job) -> None:
        """Post the finished labelled grid with a button per cell (through its first cell's
        job, ``carrier``); record it as every cell's delivered message."""
        craft = self.craft
        assert craft is not None
        mention = f"<@{carrier.requester.user_id}>" if carrier.requester.user_id else ""

        async def render(limit: int) -> ResultMessage:
            image = await craft.render(grid, limit=limit)
            view = self.labelled_view_factory(grid) if self.labelled_view_factory else None
            return ResultMessage(image.data, image.filename, labelled_embed(grid, image),
                                 view, f"{mention} your grid is ready" if mention else "")

        def refused(error: discord.HTTPException) -> str:
            return (f"❌ {mention} Discord refused this grid's message (error {error.code}); "
                    f"its images are kept on the server as jobs "
                    f"{', '.join(str(job.id) for job in grid.jobs)}.")

        message_id = await self._transport.post_result(
            carrier, render, carrier.requester.attachment_limit or self._upload_limit,
            minimal=minimal_group_embed(group.id, group.kind), refused=refused,
            marker=group_marker(group.id, group.kind))
        await self._record(group, grid.jobs, message_id)

    async def _record(self, group: JobGroup, jobs: Sequence[Job], message_id: int | None) -> None:
        """The group's message is every member's delivered message."""
        if message_id is None:
            return
        await self._lineage.update_group(group.id, message_id=message_id)
        for job in jobs:
            await self._jobs.update(job.id, message_id=message_id)

    async def _post(self, group: JobGroup, jobs: Sequence[Job | None],
                    cells: dict[int, bytes | None]) -> None:
        """Post the finished group and record it as every job's delivered message."""
        present = [job for job in jobs if job is not None]
        if not present:
            return
        carrier = present[0]
        loop = asyncio.get_running_loop()
        ordered = [cells.get(job.id) for job in present]
        done = [job.id for job in present if cells.get(job.id) is not None]
        mention = f"<@{carrier.requester.user_id}>" if carrier.requester.user_id else ""
        ping = f"{mention} your images are ready" if mention else ""
        size = (carrier.recipe.width, carrier.recipe.height)
        noun = "grid" if group.kind is GroupKind.GRID else "morph"

        async def render_grid(limit: int) -> ResultMessage:
            view = (self.view_factory([job if job.id in done else None for job in present])
                    if self.view_factory and done else None)
            data, suffix = await loop.run_in_executor(self._encoder, encode_grid, ordered, size,
                                                      limit)
            return ResultMessage(data, f"grid-{group.id}{suffix}",
                                 grid_embed(present, group.id, done=done), view, ping)

        async def render_morph(limit: int) -> ResultMessage:
            animation, sheet = await loop.run_in_executor(self._encoder, encode_morph, ordered)
            return ResultMessage(animation, f"morph-{group.id}{animation_suffix(animation)}",
                                 morph_embed(present, group, done=done), None, ping,
                                 extra=((sheet, f"morph-{group.id}-frames.png"),))

        def refused(error: discord.HTTPException) -> str:
            return (f"❌ {mention} Discord refused this {noun}'s message (error {error.code}); "
                    f"its images are kept on the server as jobs "
                    f"{', '.join(str(job.id) for job in present)}.")

        if group.kind is GroupKind.MORPH and not done:
            message_id = await self._transport.post_text(
                carrier, f"❌ {mention} no frame of this morph could be made.")
        else:
            message_id = await self._transport.post_result(
                carrier, render_grid if group.kind is GroupKind.GRID else render_morph,
                carrier.requester.attachment_limit or self._upload_limit,
                minimal=minimal_group_embed(group.id, group.kind), refused=refused,
                marker=group_marker(group.id, group.kind))
        await self._record(group, present, message_id)


async def _forward(source: asyncio.Queue[JobEvent], target: asyncio.Queue[JobEvent]) -> None:
    """Copy one job's events into the group's queue (until cancelled)."""
    while True:
        target.put_nowait(await source.get())
