"""The attachments store: input images kept by the SHA-256 of their bytes, under one folder.

An uploaded sketch, a mask or a parent's result used as the start of an image-to-image job is
written once (the same bytes twice are one file), checked with Pillow's decompression-bomb
guard, and recorded with its type, size and dimensions. Recipes refer to it as
``sha256:<hex>``, so a restart re-runs such a job from the stored bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiosqlite
from PIL import Image

from bot.domain.errors import ValidationError
from bot.domain.lineage import IMAGE_TYPES, Attachment, digest_of_ref
from bot.storage.database import Database

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_PIXELS = 4096 * 4096
_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def describe_size(size: int) -> str:
    """8 MiB, 1.5 MiB, 300 KiB, 90 bytes."""
    if size >= 2**20:
        return f"{size / 2**20:.3g} MiB"
    if size >= 2**10:
        return f"{size / 2**10:.3g} KiB"
    return f"{size} bytes"


def inspect_image(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, int, int]:
    """The MIME type and size of an image given as bytes; ValidationError naming the problem.

    Blocking (decodes the whole image): call it off the event loop. The size is checked from
    the header before any pixel is decoded, so a decompression bomb costs nothing.
    """
    if not data:
        raise ValidationError("the image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ValidationError(f"the image is {describe_size(len(data))}; the limit is "
                              f"{describe_size(max_bytes)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = IMAGE_TYPES.get(image.format or "")
                if kind is None:
                    raise ValidationError(f"the image must be PNG, JPEG or WebP, got "
                                          f"{image.format or 'an unknown format'}")
                width, height = image.size
                if width * height > max_pixels:
                    raise ValidationError(f"the image is {width}×{height} pixels; the limit is "
                                          f"{max_pixels:,} pixels")
                image.load()  # a truncated or corrupt file fails here, not on the worker
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValidationError(f"the image is too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ValidationError(f"the file is not a readable image ({error})") from None
    return kind, width, height


class AttachmentStore:
    """Input images by content hash: files under ``root``, rows in ``attachments``."""

    def __init__(self, database: Database, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self._db = database.connection
        self.root = root
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        # Hashing, decoding and writing are blocking; one thread of the store's own does them.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-files")

    async def put(self, data: bytes) -> Attachment:
        """Check and keep an image; the same bytes give the same attachment (stored once)."""
        loop = asyncio.get_running_loop()
        attachment = await loop.run_in_executor(self._pool, self._write, data)
        await self._db.execute(
            "INSERT OR IGNORE INTO attachments (digest, mime, size, width, height, path, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (attachment.digest, attachment.mime, attachment.size, attachment.width,
             attachment.height, attachment.path, time.time()))
        await self._db.commit()
        return attachment

    async def get(self, ref: str) -> Attachment | None:
        """The attachment a ``sha256:<hex>`` reference names, or None if it is not stored."""
        digest = digest_of_ref(ref)
        async with self._db.execute("SELECT * FROM attachments WHERE digest = ?",
                                    (digest,)) as cursor:
            row = await cursor.fetchone()
        return _attachment(row) if row else None

    def path_of(self, attachment: Attachment) -> Path:
        """Where the attachment's bytes are."""
        return self.root / attachment.path

    def locate(self, ref: str) -> Path:
        """The file of a ``sha256:<hex>`` reference, found on disk alone (no database: the
        inference thread calls this). FileNotFoundError if it is not stored."""
        digest = digest_of_ref(ref)
        for suffix in _SUFFIX.values():
            path = self.root / digest[:2] / f"{digest}{suffix}"
            if path.is_file():
                return path
        raise FileNotFoundError(f"the stored image {ref} is missing from {self.root}")

    def close(self) -> None:
        """Stop the store's thread."""
        self._pool.shutdown(wait=True)

    def _write(self, data: bytes) -> Attachment:
        mime, width, height = inspect_image(data, max_bytes=self.max_bytes,
                                            max_pixels=self.max_pixels)
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{digest[:2]}/{digest}{_SUFFIX[mime]}"
        path = self.root / relative
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)  # atomic: a crash never leaves half an image under its digest
        return Attachment(digest=digest, mime=mime, size=len(data), width=width,
                          height=height, path=relative)


def _attachment(row: aiosqlite.Row) -> Attachment:
    return Attachment(digest=row["digest"], mime=row["mime"], size=row["size"],
                      width=row["width"], height=row["height"], path=row["path"])
