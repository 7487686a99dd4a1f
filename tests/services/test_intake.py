"""The intake service without Discord: real Pillow, a real attachments store on a temp file,
and a stand-in for the generation service that records what it was asked."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image

from bot.domain.errors import ValidationError
from bot.domain.images import DeclaredFile, InputLimits
from bot.domain.jobs import Requester
from bot.domain.recipe import Mode
from bot.domain.requests import DreamRequest, JobRequest
from bot.domain.validation import Limits
from bot.services.generation import GenerationService
from bot.services.intake import IntakeService, Upload
from bot.storage import Database
from bot.storage.attachments import AttachmentStore
from tests.client.test_sketch import png, png_header


@dataclass
class RecordingGeneration:
    """Takes the place of GenerationService: its limits, and the requests it was given."""

    limits: Limits = field(default_factory=lambda: Limits(width_max=256, height_max=192))
    requests: list[JobRequest] = field(default_factory=list)

    async def submit(self, request: JobRequest, *, acknowledge: Any = None) -> list[Any]:
        self.requests.append(request)
        return []


@dataclass
class Intake:
    service: IntakeService
    store: AttachmentStore
    generation: RecordingGeneration


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    async with await Database.open(tmp_path / "ns.db") as db:
        store = AttachmentStore(db, tmp_path / "attachments")
        generation = RecordingGeneration()
        service = IntakeService(store, cast(GenerationService, generation),
                                limits=InputLimits(max_bytes=100_000))
        try:
            yield Intake(service, store, generation)
        finally:
            service.close()
            store.close()


def upload(data: bytes, name: str = "x.png", declared: int | None = None) -> Upload:
    """An upload whose declaration says nothing about its sides (as for a JPEG on Discord)."""
    async def read() -> bytes:
        return data
    return Upload(DeclaredFile(name, len(data) if declared is None else declared), read)


def encoded(image: Image.Image, kind: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


async def stored(intake: Intake, ref: str) -> Image.Image:
    with Image.open(intake.store.locate(ref)) as image:
        return image.copy()


@pytest.mark.parametrize(("data", "needle"), [
    # Sides over the limit, read from the header: a decoder that went on would find the pixel
    # data truncated, so this message proves the header was checked first.
    (png_header(9000, 100), "9000×100 pixels; the longest side may be 8192"),
    (png_header(20000, 20000), "too large to decode safely"),  # Pillow's own bomb guard
    (b"just some text\n" * 10, "not a PNG, JPEG or WebP"),
    (encoded(Image.new("RGB", (80, 80)), "GIF"), "not a PNG, JPEG or WebP"),  # no GIF decoder
    (png((40, 80)), "40×80 pixels; each side must be at least 64"),
    (png((256, 256)), "the limit is 97.7 KB"),  # the declared size lied: the bytes count
])
async def test_bad_bytes_are_refused_by_what_they_are(intake: Intake, data: bytes,
                                                      needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        await intake.service.prepare_sketch(upload(data, declared=1000))
    assert needle in str(caught.value)
    assert not any((intake.store.root).rglob("*.png"))


async def test_a_transparent_sketch_is_drawn_on_white_and_stored_as_rgb(intake: Intake) -> None:
    sketch = Image.new("RGBA", (96, 64), (0, 0, 0, 0))
    sketch.paste((200, 10, 10, 255), (10, 10, 30, 30))
    prepared = await intake.service.prepare_sketch(upload(encoded(sketch)))
    image = await stored(intake, prepared.image.ref)
    assert image.mode == "RGB" and image.size == (96, 64)
    assert image.getpixel((50, 50)) == (255, 255, 255) and image.getpixel((15, 15)) == (200, 10, 10)


async def test_exif_orientation_is_applied(intake: Intake) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    photo = encoded(Image.new("RGB", (64, 128), "blue"), "JPEG", exif=exif.tobytes())
    prepared = await intake.service.prepare_sketch(upload(photo, "photo.jpg"))
    assert (prepared.sizing.width, prepared.sizing.height) == (128, 64)


async def test_a_large_sketch_is_scaled_down_and_the_request_follows_its_aspect(
        intake: Intake) -> None:
    big = encoded(Image.new("RGB", (512, 384), "green"))
    request = JobRequest(DreamRequest(prompt="a hill", width=128), Requester())
    submitted = await intake.service.sketch(request, upload(big))
    assert submitted.notes == ("the image is 512×384; it was scaled down to 256×192 to fit "
                               "the size limits",)
    (sent,) = intake.generation.requests
    dream = sent.what
    assert isinstance(dream, DreamRequest)
    assert (dream.mode, dream.strength, dream.width, dream.height) == (Mode.IMG2IMG, 0.6, 128, 96)
    assert (await stored(intake, dream.init_image or "")).size == (256, 192)


async def test_a_mask_is_binarised_where_diffusers_binarises_it(intake: Intake) -> None:
    mask = Image.new("L", (64, 64), 127)  # just under half: keep
    mask.paste(128, (0, 0, 32, 64))  # half: repaint
    prepared = await intake.service.prepare_inpaint(upload(png((64, 64))),
                                                    upload(encoded(mask)))
    assert prepared.mask is not None
    stencil = await stored(intake, prepared.mask.ref)
    assert stencil.getpixel((0, 0)) == 255 and stencil.getpixel((40, 0)) == 0


async def test_white_strokes_on_a_transparent_layer_are_a_mask(intake: Intake) -> None:
    layer = Image.new("RGBA", (64, 64), (255, 255, 255, 0))  # transparent white: keep
    layer.paste((255, 255, 255, 255), (8, 8, 24, 24))
    prepared = await intake.service.prepare_inpaint(upload(png((64, 64))),
                                                    upload(encoded(layer)))
    assert prepared.mask is not None
    stencil = await stored(intake, prepared.mask.ref)
    assert stencil.getpixel((10, 10)) == 255 and stencil.getpixel((40, 40)) == 0


async def test_a_slow_reader_is_cut_off_at_the_budget(intake: Intake) -> None:
    import asyncio

    async def never() -> bytes:
        await asyncio.Event().wait()
        return b""

    intake.service.budget = 0.05
    with pytest.raises(ValidationError, match=r"took longer than 0\.05 s"):
        await intake.service.prepare_sketch(Upload(DeclaredFile("x.png", 100), never))


def _half_mask(size: tuple[int, int]) -> bytes:
    mask = Image.new("L", size, 0)
    mask.paste(255, (0, 0, size[0] // 2, size[1]))
    return encoded(mask)


async def test_an_inpaint_keeps_an_image_of_sides_not_multiples_of_8_uncropped(
        intake: Intake) -> None:
    request = JobRequest(DreamRequest(prompt="a door"), Requester())
    submitted = await intake.service.inpaint(request, upload(png((203, 157))),
                                             upload(_half_mask((203, 157))))
    assert submitted.notes == ()  # nothing was cropped, so no note says so
    (sent,) = intake.generation.requests
    dream = sent.what
    assert isinstance(dream, DreamRequest)
    assert (dream.width, dream.height, dream.source_size) == (200, 152, (203, 157))
    assert (await stored(intake, dream.init_image or "")).size == (203, 157)
    assert (await stored(intake, dream.mask_image or "")).size == (203, 157)


async def test_an_inpaint_larger_than_the_limits_is_scaled_down_with_a_note(
        intake: Intake) -> None:
    request = JobRequest(DreamRequest(prompt="a door"), Requester())
    submitted = await intake.service.inpaint(request, upload(encoded(Image.new("RGB", (512, 384)))),
                                             upload(_half_mask((512, 384))))
    assert submitted.notes == ("the image is 512×384; it was scaled down to 256×192 to fit "
                               "the size limits",)
    (sent,) = intake.generation.requests
    dream = sent.what
    assert isinstance(dream, DreamRequest)
    assert (dream.width, dream.height, dream.source_size) == (256, 192, None)
    assert (await stored(intake, dream.init_image or "")).size == (256, 192)


async def test_a_mask_of_another_size_is_stored_at_the_image_size(intake: Intake) -> None:
    prepared = await intake.service.prepare_inpaint(upload(png((101, 83))),
                                                    upload(_half_mask((50, 40))))
    assert prepared.mask is not None and "the mask was resized" in prepared.notes[0]
    assert (await stored(intake, prepared.mask.ref)).size == (101, 83)
