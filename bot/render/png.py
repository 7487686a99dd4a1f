"""Image encoding. Blocking (tens of ms): call it off the event loop."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

from PIL import Image, PngImagePlugin


def encode_png(image: Image.Image, parameters: str, *, compress_level: int = 1) -> bytes:
    """A PNG carrying the A1111 ``parameters`` text chunk.

    Levels 1–6 use zlib's run-length strategy: on filtered rendered images it is as small as
    level 6's default and ~3× faster (measured at 512²: 25 ms and 415 kB against 71 ms and
    416 kB; level 1's default: 39 ms and 480 kB). Levels 7–9 search harder; 0 stores.
    """
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", parameters)
    buffer = io.BytesIO()
    strategy = zlib.Z_RLE if 1 <= compress_level <= 6 else zlib.Z_DEFAULT_STRATEGY
    image.save(buffer, format="PNG", pnginfo=info, compress_level=compress_level,
               compress_type=strategy)
    return buffer.getvalue()


def write_png(path: Path, image: Image.Image, parameters: str, *,
              compress_level: int = 1) -> bytes:
    """Encode and write a result PNG atomically (a crash never leaves half a file at ``path``);
    returns the bytes written, so the caller need not read them back."""
    data = encode_png(image, parameters, compress_level=compress_level)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def encode_preview(image: Image.Image, *, size: int = 256, quality: int = 70) -> bytes:
    """A small JPEG preview with no metadata, so no reader mistakes it for a result."""
    preview = image.convert("RGB")
    if max(preview.size) != size:
        scale = size / max(preview.size)
        preview = preview.resize((max(1, round(preview.width * scale)),
                                  max(1, round(preview.height * scale))), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    preview.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def read_parameters(source: bytes | Path) -> str | None:
    """The ``parameters`` text of a PNG (bytes or path), or None."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    with Image.open(stream) as image:
        image.load()
        value = image.info.get("parameters")
    return value if isinstance(value, str) else None


def result_filename(job_id: int, seed: int) -> str:
    """The result file name: job id first so files sort in request order."""
    return f"job-{job_id:06d}-seed-{seed}.png"
