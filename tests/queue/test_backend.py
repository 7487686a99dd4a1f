"""The in-process backend finds input images by path or by attachment reference."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.domain import Mode, Recipe
from bot.domain.errors import GenerationError
from bot.queue import InProcessBackend

REF = "sha256:" + "ab" * 32


def _img2img(source: str) -> Recipe:
    return Recipe(prompt="a kite", width=64, height=64, steps=2, seed=1, mode=Mode.IMG2IMG,
                  strength=0.5, init_image=source)


async def test_a_reference_is_read_from_where_the_store_says_and_a_path_as_it_is(
        worker: Any, tmp_path: Path) -> None:
    stored, plain = tmp_path / "stored.png", tmp_path / "plain.png"
    for path in (stored, plain):
        Image.new("RGB", (64, 64), (200, 30, 30)).save(path)
    asked: list[str] = []

    def locate(ref: str) -> Path:
        asked.append(ref)
        return stored

    backend = InProcessBackend(worker, locate=locate)
    assert backend.slots == 1
    for source in (REF, str(plain)):
        result = await backend.generate([_img2img(source)], on_progress=None,
                                        cancel=threading.Event())
        assert len(result.images) == 1
    assert asked == [REF]  # the plain path was not looked up in the store


async def test_a_reference_without_a_store_or_its_file_fails_naming_it(
        worker: Any, tmp_path: Path) -> None:
    def missing(ref: str) -> Path:
        raise FileNotFoundError(f"the stored image {ref} is missing from {tmp_path}")

    for backend in (InProcessBackend(worker), InProcessBackend(worker, locate=missing)):
        with pytest.raises(GenerationError, match=REF):
            await backend.generate([_img2img(REF)], on_progress=None, cancel=threading.Event())
