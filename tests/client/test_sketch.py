"""``/sketch`` over the wire-level fake: real PNG attachments in, image-to-image results out,
and every unsafe or unusable attachment refused ephemerally before the defer."""

from __future__ import annotations

import io
import json
import random
import sqlite3
import struct
import zlib
from typing import Any

from PIL import Image

from bot.domain.recipe import Mode, Recipe
from tests.client.conftest import Env
from tests.client.test_dream import _metadata, _result
from tests.fake_discord import InteractionHandle
from tests.fake_discord.models import Upload


def png(size: tuple[int, int], mode: str = "RGB", *, seed: int = 0) -> bytes:
    """A PNG of seeded noise (so a kept pixel is distinguishable from a redrawn one)."""
    width, height = size
    image = Image.frombytes("RGB", size, random.Random(seed).randbytes(width * height * 3))
    buffer = io.BytesIO()
    image.convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` (1-bit grey) with almost no pixel data:
    cheap to make, and a decoder that trusted it would allocate the whole image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def job_rows(env: Env) -> list[tuple[int, Recipe]]:
    """(id, recipe) of every recorded job."""
    with sqlite3.connect(env.settings.database_path) as db:
        rows = db.execute("SELECT id, recipe FROM jobs ORDER BY id").fetchall()
    return [(job_id, Recipe.from_dict(json.loads(recipe))) for job_id, recipe in rows]


def stored_attachments(env: Env) -> dict[str, tuple[int, int]]:
    """``sha256:<hex>`` → (width, height) of every stored input image."""
    with sqlite3.connect(env.settings.database_path) as db:
        rows = db.execute("SELECT digest, width, height FROM attachments").fetchall()
    return {f"sha256:{digest}": (width, height) for digest, width, height in rows}


async def refusal(handle: InteractionHandle) -> str:
    """The ephemeral first answer of a refused command (it was never deferred)."""
    reply = await handle.wait_original(timeout=10)
    assert reply.is_ephemeral, reply.content
    assert handle.response_type == 4, "refused before any defer"
    return reply.content


async def test_sketch_keeps_its_size_and_records_the_stored_image(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "sketch", {
            "image": Upload("sketch.png", png((120, 72))), "prompt": "a castle",
            "steps": 4, "seed": 3})
        message = await _result(handle)
    with Image.open(io.BytesIO(message.attachments[0].data)) as image:
        assert image.size == (120, 72)  # already multiples of 8: kept
    meta = _metadata(message)
    assert (meta["Size"], meta["Denoising strength"], meta["Seed"]) == ("120x72", "0.6", "3")
    ((_, recipe),) = job_rows(env)
    assert recipe.mode is Mode.IMG2IMG and recipe.strength == 0.6
    assert stored_attachments(env) == {recipe.init_image: (120, 72)}
    strength = {f["name"]: f["value"] for f in message.embeds[0]["fields"]}["Strength"]
    assert strength == "0.6"


async def test_sketch_crops_to_multiples_of_8_says_so_and_takes_options(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "sketch", {
            "image": Upload("photo.png", png((100, 70))), "prompt": "a boat", "strength": 0.5,
            "steps": 4, "negative": "fog"})
        message = await _result(handle)
        (note,) = await handle.wait_followups(1)
    assert note.is_ephemeral and "cropped to 96×64" in note.content
    with Image.open(io.BytesIO(message.attachments[0].data)) as image:
        assert image.size == (96, 64)
    ((_, recipe),) = job_rows(env)
    assert (recipe.strength, recipe.negative) == (0.5, "fog")


async def test_unsafe_or_unusable_attachments_are_refused_before_the_defer(env: Env) -> None:
    world, fake = env.world, env.fake
    cases: list[tuple[Upload, str]] = [
        # Declared 50 MB: refused on the declaration alone, never downloaded.
        (Upload("huge.png", png((64, 64)), declared_size=50 * 1024 * 1024), "50 MB"),
        # Discord reads the sides from the header: refused before a download.
        (Upload("bomb.png", png_header(20000, 20000)), "20000×20000"),
        (Upload("dot.png", png((1, 1))), "at least 64 pixels"),
        # A text file named .png (Discord guesses image/png from the name): the bytes decide.
        (Upload("notes.png", b"just some text, not an image\n" * 20), "not a PNG, JPEG or WebP"),
    ]
    async with env.run_bot():
        for upload, needle in cases:
            handle = await fake.send_command(world.guild, world.channel, world.alice, "sketch",
                                             {"image": upload, "prompt": "a castle"})
            text = await refusal(handle)
            assert needle in text, text
        downloaded = {fake.state.attachments[a].filename for a in fake.state.downloads}
    assert downloaded == {"notes.png"}  # only the one whose bytes had to be read
    assert job_rows(env) == [] and stored_attachments(env) == {}


async def test_an_attachment_that_reads_too_slowly_is_refused_in_time(
        env: Env, monkeypatch: Any) -> None:
    import asyncio

    world, fake = env.world, env.fake
    fake.state.download_gate = asyncio.Event()  # the CDN never answers
    async with env.run_bot() as bot:
        monkeypatch.setattr(bot.services.intake, "budget", 0.2)
        handle = await fake.send_command(world.guild, world.channel, world.alice, "sketch",
                                         {"image": Upload("slow.png", png((64, 64))),
                                          "prompt": "a castle"})
        text = await refusal(handle)
        fake.state.download_gate.set()
    assert "took longer than 0.2 s" in text
    assert job_rows(env) == []
