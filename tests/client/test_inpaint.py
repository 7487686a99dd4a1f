"""``/inpaint`` over the wire-level fake: a mask (or the image's transparency) says what to
repaint; everything else comes back exactly as it was, at the original's size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from bot.domain.recipe import Mode
from bot.inference.masks import EDGE_REACH
from tests.client.conftest import Env
from tests.client.test_dream import _metadata, _result
from tests.client.test_sketch import job_rows, png, refusal, stored_attachments
from tests.fake_discord.models import StoredMessage, Upload

SIZE = (128, 96)
HOLE = (40, 24, 88, 72)  # the repainted box: left, top, right, bottom (exclusive)
MAX_EDGE = 16  # the bound on the softened edge


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def _with_hole(data: bytes, box: tuple[int, int, int, int] = HOLE) -> bytes:
    """The image with ``box`` made transparent."""
    with Image.open(io.BytesIO(data)) as image:
        rgba = image.convert("RGBA")
    ImageDraw.Draw(rgba).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=(0, 0, 0, 0))
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    return buffer.getvalue()


def _mask(size: tuple[int, int], box: tuple[int, int, int, int] | None) -> bytes:
    mask = Image.new("L", size, 0)
    if box is not None:
        ImageDraw.Draw(mask).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def _far_from_hole(margin: int) -> np.ndarray:
    """True where a pixel is more than ``margin`` px from the repainted box."""
    rows, cols = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    left, top, right, bottom = HOLE
    return ((cols < left - margin) | (cols >= right + margin)
            | (rows < top - margin) | (rows >= bottom + margin))


def _assert_kept_outside(result: StoredMessage, original: bytes) -> None:
    got, want = _pixels(result.attachments[0].data), _pixels(original)
    assert got.shape == want.shape == (SIZE[1], SIZE[0], 3)  # the original's size
    far = _far_from_hole(MAX_EDGE)
    assert np.array_equal(got[far], want[far])  # exactly as it was
    left, top, right, bottom = HOLE
    inside = (slice(top + EDGE_REACH, bottom - EDGE_REACH), slice(left + EDGE_REACH,
                                                                  right - EDGE_REACH))
    assert not np.array_equal(got[inside], want[inside])  # repainted


async def test_transparent_pixels_are_repainted_and_the_rest_kept(env: Env) -> None:
    world, fake = env.world, env.fake
    original = png(SIZE, seed=1)
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "inpaint", {
            "image": Upload("photo.png", _with_hole(original)), "prompt": "a red door",
            "steps": 3, "seed": 9})
        message = await _result(handle)
    _assert_kept_outside(message, original)
    meta = _metadata(message)
    assert (meta["Size"], meta["Seed"], meta["prompt"]) == ("128x96", "9", "a red door")
    ((_, recipe),) = job_rows(env)
    assert recipe.mode is Mode.INPAINT and recipe.strength == 1.0
    stored = stored_attachments(env)
    assert stored[recipe.init_image] == stored[recipe.mask_image] == SIZE


async def test_a_mask_of_another_size_is_resized_with_a_note(env: Env) -> None:
    world, fake = env.world, env.fake
    original = png(SIZE, seed=2)
    half = tuple(v // 2 for v in HOLE)
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "inpaint", {
            "image": Upload("photo.png", original), "prompt": "a window",
            "mask": Upload("mask.png", _mask((SIZE[0] // 2, SIZE[1] // 2), half)),  # type: ignore[arg-type]
            "steps": 3})
        message = await _result(handle)
        (note,) = await handle.wait_followups(1)
    assert note.is_ephemeral and "mask was resized" in note.content
    _assert_kept_outside(message, original)


@pytest.mark.parametrize(("image", "mask", "needle"), [
    (png(SIZE), _mask(SIZE, None), "the mask is all black: nothing to repaint"),
    (png(SIZE), _mask(SIZE, (0, 0, *SIZE)), "the mask is all white"),
    (png(SIZE), None, "no transparent pixels and no mask"),
    (png(SIZE, "RGBA"), None, "no transparent pixels and no mask"),  # opaque, with alpha
    (_with_hole(png(SIZE), (0, 0, *SIZE)), None, "transparent everywhere"),
])
async def test_unusable_masks_are_refused_before_the_defer(
        env: Env, image: bytes, mask: bytes | None, needle: str) -> None:
    world, fake = env.world, env.fake
    options = {"image": Upload("photo.png", image), "prompt": "a door"}
    if mask is not None:
        options["mask"] = Upload("mask.png", mask)
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "inpaint",
                                         options)
        text = await refusal(handle)
    assert needle in text, text
    assert job_rows(env) == []


ODD = (203, 157)  # neither side a multiple of 8: rendered at 200×152, pasted back at 203×157
ODD_BOXES = ((60, 40, 140, 100), (170, 120, 203, 157))  # the second reaches both far edges


def _mask_of_boxes(size: tuple[int, int], boxes: tuple[tuple[int, int, int, int], ...]) -> bytes:
    mask = Image.new("L", size, 0)
    for left, top, right, bottom in boxes:
        ImageDraw.Draw(mask).rectangle((left, top, right - 1, bottom - 1), fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def _far_from(mask_png: bytes, margin: int) -> np.ndarray:
    """True where no pixel of the mask lies within ``margin`` px (in x and in y)."""
    with Image.open(io.BytesIO(mask_png)) as mask:
        near = mask.convert("L").filter(ImageFilter.MaxFilter(2 * margin + 1))
    return np.asarray(near) == 0


async def test_an_image_of_sides_not_multiples_of_8_comes_back_at_its_own_size(env: Env) -> None:
    world, fake = env.world, env.fake
    original, mask = png(ODD, seed=4), _mask_of_boxes(ODD, ODD_BOXES)
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "inpaint", {
            "image": Upload("photo.png", original), "mask": Upload("mask.png", mask),
            "prompt": "a lamp", "steps": 3, "seed": 5})
        message = await _result(handle)
    got, want = _pixels(message.attachments[0].data), _pixels(original)
    assert got.shape == want.shape == (ODD[1], ODD[0], 3)  # the original's size, not 200×152
    far = _far_from(mask, MAX_EDGE)
    assert far[:, 200:].any() and far[152:, :].any()  # the strips beyond 200×152 are checked
    assert np.array_equal(got[far], want[far])  # exactly as they were, the strips included
    # The mask reaches into the strips: they are painted there like the rest of the mask.
    corner = (slice(120 + EDGE_REACH, None), slice(200, None))
    assert not np.array_equal(got[corner], want[corner])
    meta = _metadata(message)
    assert (meta["Size"], meta["Seed"], meta["prompt"]) == ("203x157", "5", "a lamp")
    ((_, recipe),) = job_rows(env)
    assert (recipe.width, recipe.height, recipe.source_size) == (200, 152, ODD)
    stored = stored_attachments(env)
    assert stored[recipe.init_image] == stored[recipe.mask_image] == ODD  # kept uncropped
