"""A model source checked before anything heavy is imported: a missing path fails at once.

Loading a model imports torch and diffusers (seconds) before ``bot.inference.sources`` can say
that a file does not exist. The checks here are the pure part of that resolution (no torch, no
I/O beyond ``stat``), so the CLI and the bot report a mistyped ``--model`` path in milliseconds.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.domain.errors import UserError

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt")
# Hugging Face repo ids: "org/name" of letters, digits, "-", "_" and ".".
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def looks_like_path(source: str) -> bool:
    """Whether ``source`` can only mean a local file or folder (never a hub id)."""
    return (source.startswith(("/", "./", "../", "~", "\\")) or source.count("/") > 1
            or "\\" in source or re.match(r"[A-Za-z]:", source) is not None
            or source.lower().endswith(SINGLE_FILE_SUFFIXES))


def check_source(source: str) -> None:
    """Raise UserError for a source that cannot load, as ``load_pipeline`` would, but at once.

    Only what needs no model code is checked: a local path that does not exist, and a string
    that is neither ``tiny``, a local path nor a hub id. What passes may still fail to load.
    """
    if source == "tiny":
        return
    path = Path(source).expanduser()
    if path.exists():
        return
    if looks_like_path(source):
        raise UserError(f"model {source!r}: no such file or folder ({path.resolve()})")
    if not HUB_ID.fullmatch(source):
        raise UserError(f"model {source!r}: not 'tiny', a local file or folder, or a Hugging Face "
                        "id of the form org/name")
