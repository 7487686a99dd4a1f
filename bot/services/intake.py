"""Image tools that start from an upload: ``/sketch`` (image-to-image) and ``/inpaint``.

Attachments are taken safely, in this order, each step only if the one before passed:

1. the declared facts (size, type, sides when known) are checked before a byte is read;
2. the file is read (only through the ``read`` the caller hands over: the interaction's own
   resolved attachment, never a link from text), within ``budget`` seconds;
3. its header is checked (PNG/JPEG/WebP only, sides, pixels; Pillow's bomb guard on), then
   the pixels decoded, converted to RGB(A), fitted to the size the job runs at, and kept in
   the attachments store by content hash. An inpaint's image (and mask) within the size
   limits is kept at its own size, even with sides that are not multiples of 8: the job
   renders at the multiples of 8 below them and pastes the render back into the image, so
   the result is the image's size (``Recipe.source_size``).

Then the request goes through the one door (``GenerationService.submit``): validation, the
channel's theme, the request rules, the acknowledgement, the record. Steps 1-3 come before the
acknowledgement too, so every refusal can be the first, ephemeral answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image

from bot.domain.errors import ValidationError
from bot.domain.images import (
    NO_MASK,
    DeclaredFile,
    Fit,
    InputLimits,
    Sizing,
    check_byte_size,
    check_declared,
    check_mask_coverage,
    mask_size_note,
    working_size,
)
from bot.domain.jobs import Job
from bot.domain.lineage import Attachment
from bot.domain.recipe import Mode
from bot.domain.requests import DreamRequest, JobRequest
from bot.render.masks import coverage, mask_from_alpha, mask_from_upload
from bot.render.uploads import decode_upload, encode_stored, fit_to, flatten
from bot.services.generation import Acknowledge, GenerationService
from bot.storage.attachments import AttachmentStore

SKETCH_STRENGTH = 0.6  # A1111 users' usual denoising for a sketch: its shapes stay, detail comes
INPAINT_STRENGTH = 1.0  # the masked area is drawn anew (the engine's own default)
STRENGTH_MIN = 0.05
# Discord wants an answer within 3 s of the interaction; reading and checking the files must end
# in time for the refusal (or the defer) to be that answer.
INTAKE_BUDGET = 2.0
SKETCH_BACKGROUND = (255, 255, 255)  # a sketch drawn on a transparent layer is on white paper
HIDDEN_BACKGROUND = (127, 127, 127)  # under an inpainting's transparent (repainted) pixels

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Upload:
    """An attached file: what Discord declares about it, and how to read its bytes."""

    declared: DeclaredFile
    read: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """The stored inputs of an image tool and the size the job runs at."""

    image: Attachment
    mask: Attachment | None
    sizing: Sizing
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Submitted:
    """The jobs a tool queued, and what the user should know about their inputs."""

    jobs: list[Job]
    notes: tuple[str, ...] = ()


class IntakeService:
    """Takes uploaded images in safely and queues the jobs that start from them."""

    def __init__(self, store: AttachmentStore, generation: GenerationService, *,
                 limits: InputLimits | None = None, budget: float = INTAKE_BUDGET) -> None:
        self._store = store
        self._generation = generation
        self.limits = limits or InputLimits()
        self.budget = budget
        # Decoding and resizing are blocking; one thread of the service's own does them.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-intake")

    def close(self) -> None:
        """Stop the service's thread."""
        self._pool.shutdown(wait=True)

    # -- the tools -----------------------------------------------------------------------------

    async def sketch(self, request: JobRequest, image: Upload, *, strength: float | None = None,
                     acknowledge: Acknowledge | None = None) -> Submitted:
        """Image-to-image from an uploaded sketch; ``request.what`` holds the prompt and options.

        Without width and height the result keeps the sketch's size (see ``working_size``);
        with one of them the other follows the sketch's aspect.
        """
        what = _dream(request)
        strength = _strength(strength, SKETCH_STRENGTH)
        prepared = await self.prepare_sketch(image)
        width, height = _requested_size(what, prepared.sizing)
        dream = dataclasses.replace(what, mode=Mode.IMG2IMG, init_image=prepared.image.ref,
                                    mask_image=None, strength=strength, width=width,
                                    height=height)
        jobs = await self._generation.submit(dataclasses.replace(request, what=dream),
                                             acknowledge=acknowledge)
        return Submitted(jobs, prepared.notes)

    async def inpaint(self, request: JobRequest, image: Upload, mask: Upload | None = None, *,
                      strength: float | None = None,
                      acknowledge: Acknowledge | None = None) -> Submitted:
        """Repaint the white part of ``mask`` (no mask: the image's transparent pixels); the
        result has the image's size (scaled down to the limits if larger) and keeps everything
        outside the mask's soft edge."""
        what = _dream(request)
        strength = _strength(strength, INPAINT_STRENGTH)
        prepared = await self.prepare_inpaint(image, mask)
        assert prepared.mask is not None
        sizing = prepared.sizing
        dream = dataclasses.replace(what, mode=Mode.INPAINT, init_image=prepared.image.ref,
                                    mask_image=prepared.mask.ref, strength=strength,
                                    width=sizing.width, height=sizing.height,
                                    source_size=_inpainted_size(sizing))
        jobs = await self._generation.submit(dataclasses.replace(request, what=dream),
                                             acknowledge=acknowledge)
        return Submitted(jobs, prepared.notes)

    # -- taking files in -----------------------------------------------------------------------

    async def prepare_sketch(self, image: Upload) -> Prepared:
        """Check, read, decode and store a sketch (RGB, at the size the job runs at)."""
        check_declared("the image", image.declared, self.limits)
        data = await self._read_all(image)
        sizing, fitted = await self._run(self._sketch_pixels, data[0])
        return Prepared(await self._store.put(fitted), None, sizing,
                        tuple(n for n in (sizing.note,) if n))

    async def prepare_inpaint(self, image: Upload, mask: Upload | None) -> Prepared:
        """Check, read, decode and store an image and its mask (from the upload, or the image's
        transparent pixels); both at the image's own size, or scaled down to the size the job
        runs at when the image is larger than the size limits."""
        check_declared("the image", image.declared, self.limits)
        if mask is not None:
            check_declared("the mask", mask.declared, self.limits, min_side=1)
        data = await self._read_all(image, *([mask] if mask is not None else []))
        sizing, picture, stencil, notes = await self._run(
            self._inpaint_pixels, data[0], data[1] if mask is not None else None)
        stored_image = await self._store.put(picture)
        stored_mask = await self._store.put(stencil)
        return Prepared(stored_image, stored_mask, sizing, notes)

    async def _read_all(self, *uploads: Upload) -> list[bytes]:
        """Every upload's bytes, read at once, within the budget."""
        try:
            async with asyncio.timeout(self.budget):
                data = await asyncio.gather(*(upload.read() for upload in uploads))
        except TimeoutError:
            raise ValidationError(f"reading the attachment took longer than {self.budget:g} s, "
                                  "and Discord needs an answer within 3 s; please try again "
                                  "(a smaller file is faster)") from None
        for upload, content in zip(uploads, data, strict=True):
            what = "the mask" if upload is not uploads[0] else "the image"
            check_byte_size(what, len(content), self.limits)  # the declared size could lie
        return list(data)

    async def _run(self, work: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    # -- pixels (on the service's thread) ------------------------------------------------------

    def _sketch_pixels(self, data: bytes) -> tuple[Sizing, bytes]:
        image = decode_upload(data, "the image", self.limits)
        sizing = working_size(image.width, image.height, self._generation.limits)
        return sizing, encode_stored(fit_to(flatten(image, SKETCH_BACKGROUND), sizing))

    def _inpaint_pixels(self, data: bytes, mask_data: bytes | None
                        ) -> tuple[Sizing, bytes, bytes, tuple[str, ...]]:
        image = decode_upload(data, "the image", self.limits)
        sizing = working_size(image.width, image.height, self._generation.limits)
        # Within the size limits the image is kept at its own size, sides not multiples of 8
        # included: the engine renders at ``sizing``'s size and pastes the render back into
        # it (Recipe.source_size). Beyond them it is scaled down, and so is the result.
        notes = [note for note in (sizing.note,) if note and sizing.fit is Fit.SCALED]
        if mask_data is not None:
            upload = decode_upload(mask_data, "the mask", self.limits, min_side=1)
            if note := mask_size_note(upload.size, image.size):
                notes.append(note)
            mask = mask_from_upload(upload)
            if mask.size != image.size:
                mask = mask.resize(image.size, Image.Resampling.NEAREST)  # stays binary
        elif image.mode == "RGBA":
            mask = mask_from_alpha(image)
        else:
            raise ValidationError(NO_MASK)
        picture = flatten(image, HIDDEN_BACKGROUND)
        if sizing.fit is Fit.SCALED:
            mask, picture = fit_to(mask, sizing, mask=True), fit_to(picture, sizing)
        check_mask_coverage(*coverage(mask), from_alpha=mask_data is None)
        return sizing, encode_stored(picture), encode_stored(mask), tuple(notes)


def _dream(request: JobRequest) -> DreamRequest:
    if not isinstance(request.what, DreamRequest):
        raise TypeError("an image tool's request holds what the user typed (a DreamRequest)")
    return request.what


def _strength(strength: float | None, default: float) -> float:
    value = default if strength is None else strength
    if not STRENGTH_MIN <= value <= 1.0:
        raise ValidationError(f"strength must be between {STRENGTH_MIN:g} and 1, got {value:g}")
    return value


def _inpainted_size(sizing: Sizing) -> tuple[int, int] | None:
    """The size an inpaint's result keeps when it is not the render's: the image's own when
    its sides are not multiples of 8 (it is stored as it is, and pasted back into)."""
    return sizing.source if sizing.fit is Fit.CROPPED else None


def _requested_size(what: DreamRequest, sizing: Sizing) -> tuple[int, int]:
    """The user's width/height; a missing one follows the sketch's aspect."""
    if what.width is not None and what.height is not None:
        return what.width, what.height
    if what.width is not None:
        return what.width, _side(what.width * sizing.height / sizing.width)
    if what.height is not None:
        return _side(what.height * sizing.width / sizing.height), what.height
    return sizing.width, sizing.height


def _side(value: float) -> int:
    """A side derived from the aspect: a multiple of 8, at least 64 (validation caps it)."""
    return max(64, int(value) // 8 * 8)
