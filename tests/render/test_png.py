"""PNG encoding: the parameters chunk survives, previews carry none."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from bot.domain.a1111 import parse_parameters
from bot.render import encode_png, encode_preview, read_parameters, result_filename


def test_png_carries_parameters() -> None:
    image = Image.new("RGB", (64, 48), (10, 20, 30))
    text = "cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1, " \
           "Size: 64x48, Model: tiny"
    data = encode_png(image, text)
    assert read_parameters(data) == text
    assert parse_parameters(read_parameters(data) or "")["Size"] == "64x48"
    with Image.open(io.BytesIO(data)) as back:
        assert back.size == (64, 48) and back.getpixel((0, 0)) == (10, 20, 30)


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_every_level_is_lossless_and_keeps_unicode_parameters(level: int) -> None:
    rng = random.Random(level)
    pixels = bytes(rng.randrange(256) // 16 * 16 for _ in range(96 * 64 * 3))
    image = Image.frombytes("RGB", (96, 64), pixels)
    text = "Кот в сапогах, 猫\nSteps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1"
    data = encode_png(image, text, compress_level=level)
    assert read_parameters(data) == text
    with Image.open(io.BytesIO(data)) as back:
        assert back.tobytes() == pixels


def test_preview_is_jpeg_without_parameters() -> None:
    data = encode_preview(Image.new("RGB", (64, 64), "red"), size=128)
    with Image.open(io.BytesIO(data)) as back:
        assert back.format == "JPEG" and back.size == (128, 128)
    assert read_parameters(data) is None


def test_result_filename_carries_job_id() -> None:
    assert result_filename(12, 345) == "job-000012-seed-345.png"
