"""LoRAs in AUTOMATIC1111's prompt syntax: ``<lora:name:weight>``.

Pure: finding the tags in a prompt (a theme's prefix included, so a channel can carry a style
LoRA), resolving their names against the installed files with close-match suggestions, the text
the encoder sees (tags removed), and the ``Lora hashes`` field A1111 writes into a PNG. The files
themselves are found and hashed in ``bot.inference.lora_files``; applied in
``bot.inference.loras``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Protocol

from bot.domain.errors import ValidationError
from bot.domain.models import close_matches
from bot.domain.recipe import Recipe

# A1111: <lora:name>, <lora:name:weight>, <lora:name:te_weight:unet_weight>. Names are file stems
# and may hold spaces, dots or dashes, but no colon or angle bracket.
LORA_TAG = re.compile(r"<lora:([^:<>]*)((?::[^:<>]*)*)>", re.IGNORECASE)
# The open tag being typed at the end of a prompt, for autocomplete.
_OPEN_TAG = re.compile(r"<lora:([^:<>]*)$", re.IGNORECASE)
WEIGHT_MIN, WEIGHT_MAX = -4.0, 4.0
MAX_LORAS = 8
_SEPARATORS = re.compile(r"\s*,(\s*,)+\s*|\s{2,}")
_EDGES = re.compile(r"^[\s,]+|[\s,]+$")


class LoraShelf(Protocol):
    """The installed LoRAs, by name (``bot.inference.lora_files.LoraFiles``)."""

    def names(self) -> list[str]:
        """Every installed LoRA's name."""
        ...

    def refresh(self) -> None:
        """Look at the folders again (a file added since the last look)."""
        ...


def _weight(text: str, name: str) -> float:
    """A tag's weight; ValidationError naming the tag when it is not a number in range."""
    try:
        weight = float(text)
    except ValueError:
        raise ValidationError(f"the weight of <lora:{name}:{text}> must be a number, like "
                              f"<lora:{name}:0.8>") from None
    if math.isnan(weight) or not WEIGHT_MIN <= weight <= WEIGHT_MAX:
        raise ValidationError(f"the weight of <lora:{name}:{text}> must be between "
                              f"{WEIGHT_MIN:g} and {WEIGHT_MAX:g}")
    return weight


def find_loras(text: str) -> list[tuple[str, float]]:
    """The ``(name, weight)`` of each ``<lora:...>`` tag in ``text``, in order; a name given
    twice keeps its last weight (a user's tag after a theme's replaces it).

    A1111's separate text-encoder and UNet weights (``<lora:name:0.8:0.5>``) are refused with
    a message: this bot applies one weight to both.
    """
    found: dict[str, tuple[str, float]] = {}
    for match in LORA_TAG.finditer(text):
        name = match[1].strip()
        if not name:
            raise ValidationError("a <lora:...> tag needs a name, like <lora:name:0.8>")
        parts = [part.strip() for part in match[2].split(":")[1:]]
        if len(parts) > 1:
            raise ValidationError(f"<lora:{name}:{':'.join(parts)}> gives {len(parts)} weights; "
                                  f"this bot takes one, like <lora:{name}:0.8>")
        weight = _weight(parts[0], name) if parts and parts[0] else 1.0
        found.pop(name.casefold(), None)  # the last one counts, in its place
        found[name.casefold()] = (name, weight)
    if len(found) > MAX_LORAS:
        raise ValidationError(f"a prompt may use at most {MAX_LORAS} LoRAs, got {len(found)}")
    return list(found.values())


def strip_loras(text: str) -> str:
    """``text`` without its ``<lora:...>`` tags, as the text encoder should see it."""
    stripped, count = LORA_TAG.subn(" ", text)
    if not count:
        return text
    stripped = _SEPARATORS.sub(lambda m: ", " if "," in m[0] else " ", stripped)
    return _EDGES.sub("", stripped)


def resolve_loras(found: Sequence[tuple[str, float]], shelf: LoraShelf | None
                  ) -> tuple[tuple[str, float], ...]:
    """Each tag's name as installed (matched case-insensitively); ValidationError naming an
    unknown one, the close matches and where LoRAs come from."""
    if not found:
        return ()
    if shelf is None:
        raise ValidationError(f"<lora:{found[0][0]}> cannot be used: this bot has no LoRAs "
                              "([loras] dirs is empty)")
    names = {name.casefold(): name for name in shelf.names()}
    if any(name.casefold() not in names for name, _ in found):
        shelf.refresh()  # a file dropped into a folder since the last look
        names = {name.casefold(): name for name in shelf.names()}
    resolved = []
    for name, weight in found:
        installed = names.get(name.casefold())
        if installed is None:
            matches = close_matches(name, list(names.values()))
            hint = (f"; did you mean {' or '.join(matches)}?" if matches
                    else "; none is installed by that name or a similar one")
            raise ValidationError(f"unknown LoRA {name!r}{hint} (see /models for the list)")
        resolved.append((installed, weight))
    return tuple(resolved)


def with_loras(recipe: Recipe, shelf: LoraShelf | None) -> Recipe:
    """``recipe`` with the LoRAs its final prompt names (the theme's prefix included)."""
    found = find_loras(recipe.prompt)
    if LORA_TAG.search(recipe.negative):
        raise ValidationError("<lora:...> tags belong in the prompt, not in the negative prompt")
    if not found and not recipe.loras:
        return recipe
    return dataclasses.replace(recipe, loras=resolve_loras(found, shelf), lora_hashes=())


def lora_hashes_text(hashes: Sequence[tuple[str, str]]) -> str:
    """The value of A1111's ``Lora hashes`` field: ``name: hash, name: hash``."""
    return ", ".join(f"{name}: {digest}" for name, digest in hashes)


def complete_lora(prompt: str, names: Sequence[str], *, limit: int = 25) -> list[str]:
    """Whole prompts completing the ``<lora:`` tag being typed at the end of ``prompt`` (for
    autocomplete); [] when no tag is open there."""
    match = _OPEN_TAG.search(prompt)
    if match is None:
        return []
    typed = match[1].casefold()
    head = prompt[: match.start()]
    starts = [name for name in names if name.casefold().startswith(typed)]
    contains = [name for name in names if typed in name.casefold() and name not in starts]
    return [f"{head}<lora:{name}:1>" for name in sorted(starts) + sorted(contains)][:limit]
