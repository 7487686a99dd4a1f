"""The installed LoRA files: found in ``[loras] dirs``, named by their file stem, hashed as A1111
does. Torch-free, so the generation service can check names without loading a model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import threading
from collections.abc import Iterable
from pathlib import Path

from bot.domain.errors import GenerationError

log = logging.getLogger(__name__)

SUFFIX = ".safetensors"
_CHUNK = 1 << 20


def autov3_hash(path: Path) -> str:
    """A1111's LoRA hash ("AutoV3"): SHA-256 of a safetensors file's tensor bytes, i.e. of
    everything after its JSON header, so editing the metadata keeps the hash."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        header = file.read(8)
        if len(header) != 8:
            raise GenerationError(f"LoRA file {path.name} is not a safetensors file (too short)")
        (length,) = struct.unpack("<Q", header)
        file.seek(8 + length)
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def short_hash(path: Path) -> str:
    """The 12 hex digits A1111 writes into a PNG's ``Lora hashes``."""
    return autov3_hash(path)[:12]


def read_metadata(path: Path) -> dict[str, str]:
    """A safetensors file's ``__metadata__`` (training notes; {} when there is none)."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length) or b"{}")
    metadata = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in metadata.items()}


class LoraFiles:
    """LoRAs by name (the file's stem) in some folders, searched recursively.

    The folders are looked at once at start and again when a prompt names a LoRA not seen
    yet (``refresh``), so a file dropped in later works without a restart. Two files with the
    same stem: the first folder's wins (logged). Hashes are cached per file version.
    """

    def __init__(self, dirs: Iterable[Path]) -> None:
        self.dirs = tuple(Path(d) for d in dirs)
        self._lock = threading.Lock()
        self._paths: dict[str, Path] = {}
        self._hashes: dict[tuple[Path, int, int], str] = {}
        self.refresh()

    def refresh(self) -> None:
        """Look at the folders again."""
        found: dict[str, Path] = {}
        for folder in self.dirs:
            if not folder.is_dir():
                log.warning("LoRA folder %s does not exist", folder)
                continue
            for path in sorted(folder.rglob(f"*{SUFFIX}")):
                name = path.name[: -len(SUFFIX)]
                key = name.casefold()
                if key in found:
                    log.warning("LoRA %s: %s is ignored, %s has the same name", name, path,
                                found[key])
                    continue
                found[key] = path
        with self._lock:
            self._paths = found

    def names(self) -> list[str]:
        """Every LoRA's name, sorted."""
        with self._lock:
            paths = list(self._paths.values())
        return sorted((p.name[: -len(SUFFIX)] for p in paths), key=str.casefold)

    def path(self, name: str) -> Path:
        """The file of LoRA ``name`` (looking at the folders again if it is new here);
        GenerationError when there is none."""
        with self._lock:
            path = self._paths.get(name.casefold())
        if path is None or not path.is_file():
            self.refresh()
            with self._lock:
                path = self._paths.get(name.casefold())
        if path is None or not path.is_file():
            raise GenerationError(f"LoRA {name!r} is not installed any more")
        return path

    def short_hash(self, name: str) -> str:
        """The A1111 short hash of LoRA ``name`` (computed once per file version)."""
        path = self.path(name)
        stat = path.stat()
        key = (path, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._hashes.get(key)
        if cached is None:
            cached = short_hash(path)
            with self._lock:
                self._hashes[key] = cached
        return cached
