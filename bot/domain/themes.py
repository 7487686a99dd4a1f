"""Channel themes: a prefix, a suffix, a negative and locked values applied to every prompt.

Pure: merging text, locking values, parsing preset files' contents and finding the words a
77-token text encoder will cut. No I/O here; the tokenizer is injected as a callable.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.errors import ValidationError
from bot.domain.prompt_pool import TemplateError, check_template
from bot.domain.recipe import SCHEDULERS, Recipe, scheduler_key
from bot.domain.requests import Defaults, DreamRequest, build_recipe
from bot.domain.validation import Limits, validate_recipe

# CLIP's window is 77 tokens including the start and end tokens: 75 are the prompt's.
TOKEN_WINDOW = 75
THEME_TEXT_MAX = 500
LOCKABLE = ("width", "height", "steps", "guidance", "scheduler")

TokenCounter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class Theme:
    """What a channel adds to every prompt, and the values it locks (None = not locked)."""

    prefix: str
    suffix: str = ""
    negative: str = ""
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    name: str = ""  # the preset it came from; "" for a theme typed with /theme set

    @property
    def label(self) -> str:
        """How results name this theme."""
        return self.name or "channel theme"

    def locked(self) -> dict[str, object]:
        """The locked values, by option name."""
        return {key: getattr(self, key) for key in LOCKABLE if getattr(self, key) is not None}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (the stored form)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Theme:
        """Rebuild a stored theme (unknown keys are ignored)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


@dataclass(frozen=True, slots=True)
class Preset:
    """A theme shipped as a file, with a title and a pool of prompts for streams."""

    theme: Theme
    title: str = ""
    description: str = ""
    pool: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The preset's name (the file's stem unless the file says otherwise)."""
        return self.theme.name


class PresetError(ValueError):
    """A preset file's contents are wrong; names the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


# -- text -------------------------------------------------------------------------------------

_EDGE = re.compile(r"^[\s,]+|[\s,]+$")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = (".", "!", "?", ";", ":")


def tidy(text: str) -> str:
    """One line, single spaces, no commas or spaces at either end."""
    return _EDGE.sub("", _SPACES.sub(" ", text))


def join_prompt(prefix: str, prompt: str, suffix: str) -> str:
    """``prefix, prompt, suffix`` with no doubled commas or stray spaces (empty parts skipped).

    A part that ends a sentence (".", "!", ...) is followed by a space, not a comma.
    """
    parts = [part for part in (tidy(prefix), tidy(prompt), tidy(suffix)) if part]
    out = ""
    for part in parts:
        if out:
            out += " " if out.endswith(_SENTENCE_END) else ", "
        out += part
    return out


def split_terms(text: str) -> list[str]:
    """The comma-separated terms of a negative prompt, tidied, empty ones dropped."""
    return [term for term in (tidy(t) for t in text.split(",")) if term]


def merge_negative(theme_negative: str, user_negative: str) -> str:
    """The theme's terms, then the user's that are new (compared case-insensitively)."""
    seen: set[str] = set()
    merged = []
    for term in split_terms(theme_negative) + split_terms(user_negative):
        key = term.casefold()
        if key not in seen:
            seen.add(key)
            merged.append(term)
    return ", ".join(merged)


# -- tokens -----------------------------------------------------------------------------------

_PIECES = re.compile(r"[^\W\d_]+|\d|[^\w\s]+|_+")


def approximate_token_count(text: str) -> int:
    """A tokenizer-free estimate of CLIP's count: letters in chunks of ~6, digits and
    punctuation runs one each. Used only when no real tokenizer is available."""
    count = 0
    for piece in _PIECES.findall(text):
        count += max(1, math.ceil(len(piece) / 6)) if piece[0].isalpha() else (
            len(piece) if piece.isdigit() else 1)
    return count


def words_cut(prompt: str, count_tokens: TokenCounter, window: int = TOKEN_WINDOW) -> list[str]:
    """The words of ``prompt`` past the text encoder's window ([] if it fits).

    CLIP never merges tokens across whitespace, so counting word by word is exact.
    """
    if count_tokens(prompt) <= window:
        return []
    words = prompt.split()
    used = 0
    for index, word in enumerate(words):
        used += count_tokens(word)
        if used > window:
            return words[index:]
    return []


def cut_note(words: Sequence[str], limit: int = 300) -> str:
    """The warning shown for a prompt that will be cut."""
    shown = " ".join(words)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return (f"the prompt is longer than the text encoder's 77-token window; "
            f"these words will be ignored: “{shown}”")


# -- applying a theme -------------------------------------------------------------------------

def _same(key: str, asked: object, locked: object) -> bool:
    if key == "scheduler":
        return scheduler_key(str(asked)) == locked
    if key == "guidance":
        return math.isclose(float(asked), float(locked))  # type: ignore[arg-type]
    return asked == locked


def lock_values(request: DreamRequest, theme: Theme) -> tuple[DreamRequest, list[str]]:
    """The request with the theme's locked values, and a note for each value it overrode."""
    notes = []
    changes: dict[str, object] = {}
    for key, locked in theme.locked().items():
        asked = getattr(request, key)
        if asked is not None and not _same(key, asked, locked):
            shown = f"{locked:g}" if isinstance(locked, float) else locked
            notes.append(f"this channel's theme locks {key} to {shown} (you asked for {asked})")
        changes[key] = locked
    return dataclasses.replace(request, **changes), notes  # type: ignore[arg-type]


def build_themed_recipe(request: DreamRequest, theme: Theme | None, *, defaults: Defaults,
                        limits: Limits, model: str,
                        count_tokens: TokenCounter | None = None) -> Recipe:
    """Validate ``request`` and apply ``theme``: the final prompt is prefix + words + suffix.

    The user's own values are validated as typed (a theme's text does not count against the
    prompt length limit); a prompt past the encoder's window is accepted with a note.
    """
    notes: list[str] = []
    if theme is not None:
        request, notes = lock_values(request, theme)
    recipe = build_recipe(request, defaults=defaults, limits=limits, model=model)
    if theme is not None:
        recipe = dataclasses.replace(
            recipe, prompt=join_prompt(theme.prefix, recipe.prompt, theme.suffix),
            negative=merge_negative(theme.negative, recipe.negative),
            user_prompt=recipe.prompt, theme=theme.label, theme_prefix=tidy(theme.prefix),
            theme_suffix=tidy(theme.suffix))
    cut = words_cut(recipe.prompt, count_tokens or approximate_token_count)
    if cut:
        notes.append(cut_note(cut))
    return dataclasses.replace(recipe, notes=tuple(notes)) if notes else recipe


def check_theme(theme: Theme, limits: Limits) -> Theme:
    """Refuse (ValidationError) a theme whose text or locked values break the limits;
    return it with its text tidied."""
    if not tidy(theme.prefix):
        raise ValidationError("the theme's prefix must not be empty")
    for key in ("prefix", "suffix", "negative"):
        value = getattr(theme, key)
        if len(value) > THEME_TEXT_MAX:
            raise ValidationError(f"the theme's {key} must be at most {THEME_TEXT_MAX} "
                                  f"characters, got {len(value)}")
    scheduler = theme.scheduler
    if scheduler is not None:
        scheduler = scheduler_key(scheduler)
        if scheduler is None:
            raise ValidationError(f"the theme's scheduler must be one of {', '.join(SCHEDULERS)}, "
                                  f"got {theme.scheduler!r}")
    probe = Recipe(prompt="x", width=theme.width or limits.width_min,
                   height=theme.height or limits.height_min, steps=theme.steps or limits.steps_min,
                   guidance=limits.guidance_min if theme.guidance is None else theme.guidance)
    try:
        validate_recipe(probe, limits)
    except ValidationError as error:
        raise ValidationError(f"the theme's locked {error}") from None
    return dataclasses.replace(
        theme, prefix=tidy(theme.prefix), suffix=tidy(theme.suffix),
        negative=", ".join(split_terms(theme.negative)), scheduler=scheduler,
        guidance=None if theme.guidance is None else float(theme.guidance))


# -- preset files -----------------------------------------------------------------------------

_PRESET_KEYS = ("name", "title", "description", "prefix", "suffix", "negative", "locked", "pool")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


def _text(data: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    if key not in data:
        if required:
            raise PresetError(key, "is required")
        return ""
    value = data[key]
    if not isinstance(value, str):
        raise PresetError(key, f"must be a string, got {value!r}")
    if required and not value.strip():
        raise PresetError(key, "must not be empty")
    return value


def preset_from_dict(data: Mapping[str, Any], *, name: str, limits: Limits,
                     wildcards: Mapping[str, Sequence[str]] | None = None) -> Preset:
    """A preset from a parsed TOML file; raises PresetError naming the first bad key."""
    unknown = sorted(set(data) - set(_PRESET_KEYS))
    if unknown:
        raise PresetError(unknown[0], f"unknown key (known keys: {', '.join(_PRESET_KEYS)})")
    name = _text(data, "name") or name
    if not _NAME.match(name):
        raise PresetError("name", f"must be lower-case letters, digits, - or _ (at most 50), "
                                  f"got {name!r}")
    locked = data.get("locked", {})
    if not isinstance(locked, Mapping):
        raise PresetError("locked", f"must be a table, got {locked!r}")
    bad = sorted(set(locked) - set(LOCKABLE))
    if bad:
        raise PresetError(f"locked.{bad[0]}", f"unknown key (lockable: {', '.join(LOCKABLE)})")
    for key in ("width", "height", "steps"):
        value = locked.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise PresetError(f"locked.{key}", f"must be a whole number, got {value!r}")
    guidance = locked.get("guidance")
    if guidance is not None and (isinstance(guidance, bool)
                                 or not isinstance(guidance, int | float)):
        raise PresetError("locked.guidance", f"must be a number, got {guidance!r}")
    theme = Theme(prefix=_text(data, "prefix", required=True), suffix=_text(data, "suffix"),
                  negative=_text(data, "negative"), width=locked.get("width"),
                  height=locked.get("height"), steps=locked.get("steps"),
                  guidance=guidance, scheduler=locked.get("scheduler"), name=name)
    try:
        theme = check_theme(theme, limits)
    except ValidationError as error:
        key = next((f"locked.{k}" for k in LOCKABLE if f" {k} " in f" {error} "), "prefix")
        raise PresetError(key, str(error)) from None
    pool = data.get("pool", [])
    if not isinstance(pool, list) or not all(isinstance(p, str) and p.strip() for p in pool):
        raise PresetError("pool", "must be a list of non-empty strings")
    for index, template in enumerate(pool):
        try:
            check_template(template, wildcards)
        except TemplateError as error:
            raise PresetError(f"pool[{index}]", str(error)) from None
    return Preset(theme=theme, title=_text(data, "title") or name.replace("-", " ").capitalize(),
                  description=_text(data, "description"),
                  pool=tuple(tidy(p) for p in pool))


# -- stream intervals -------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)?", re.IGNORECASE)
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def parse_duration(text: str) -> float:
    """Seconds in "90", "90s", "5m", "1h30m", "2.5m"; ValidationError naming the value."""
    compact = text.strip().lower().replace(" ", "")
    position = 0
    total = 0.0
    for match in _DURATION.finditer(compact):
        if match.start() != position:
            break
        total += float(match[1]) * _UNIT[(match[2] or "").lower()]
        position = match.end()
    if not compact or position != len(compact):
        raise ValidationError(f"every must be a duration like 90s, 5m or 1h30m, got {text!r}")
    return total


def describe_duration(seconds: float) -> str:
    """5 min, 1 h 30 min, 45 s, 0.2 s."""
    if seconds < 60:
        return f"{seconds:g} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")
