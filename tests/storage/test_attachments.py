"""The attachments store: content-addressed files, checked with Pillow's bomb guard."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.domain.errors import ValidationError
from bot.domain.lineage import is_attachment_ref
from bot.storage import Database
from bot.storage.attachments import AttachmentStore, inspect_image


def _png(width: int = 96, height: int = 64, colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_same_bytes_are_stored_once_and_found_by_reference(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "ns.db") as db:
        store = AttachmentStore(db, tmp_path / "attachments")
        try:
            first = await store.put(_png())
            again = await store.put(_png())
            other = await store.put(_png(colour="blue"))
            assert first == again and first.digest != other.digest
            assert (first.mime, first.width, first.height) == ("image/png", 96, 64)
            assert is_attachment_ref(first.ref)
            assert store.path_of(first).read_bytes() == _png()
            assert await store.get(first.ref) == first
            assert await store.get("sha256:" + "0" * 64) is None
            assert store.locate(other.ref) == store.path_of(other)
            with pytest.raises(FileNotFoundError, match="missing"):
                store.locate("sha256:" + "0" * 64)
            files = [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
            assert len(files) == 2
        finally:
            store.close()


def test_bad_images_are_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="empty"):
        inspect_image(b"")
    with pytest.raises(ValidationError, match=r"the image is \d+ bytes; the limit is 100 bytes"):
        inspect_image(_png(), max_bytes=100)
    with pytest.raises(ValidationError, match="not a readable image"):
        inspect_image(b"GIF89a not really")
    with pytest.raises(ValidationError, match="limit is 100 pixels"):
        inspect_image(_png(20, 20), max_pixels=100)
    truncated = _png(256, 256, "green")[:-40]
    with pytest.raises(ValidationError, match="not a readable image"):
        inspect_image(truncated)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    with pytest.raises(ValidationError, match="PNG, JPEG or WebP, got GIF"):
        inspect_image(buffer.getvalue())


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    """Tiny files that claim huge canvases: refused from their header alone, by Pillow's own
    guard (past twice its pixel limit) or by the store's smaller limit."""
    for side, reason in ((20000, "too large to decode safely"), (5000, "limit is 16,777,216")):
        buffer = io.BytesIO()
        Image.new("1", (side, side)).save(buffer, format="PNG")
        assert len(buffer.getvalue()) < 200_000
        with pytest.raises(ValidationError, match=reason):
            inspect_image(buffer.getvalue())


def test_bad_references_are_named() -> None:
    from bot.domain.lineage import digest_of_ref

    with pytest.raises(ValidationError, match="sha256:<64 hex digits>"):
        digest_of_ref("sha256:abc")
    with pytest.raises(ValidationError, match="sha256:<64 hex digits>"):
        digest_of_ref("/etc/passwd")
