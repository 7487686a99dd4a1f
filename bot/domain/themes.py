"""Channel themes: a prefix, a suffix, a negative and locked values applied to every prompt.

Pure: merging text, locking values, the rule that a theme and the user's words fit together,
and parsing preset files' contents. No I/O here; the tokenizer is injected as a callable.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.errors import ValidationError
from bot.domain.prompt_pool import TemplateError, check_template
from bot.domain.recipe import SCHEDULERS, Recipe, scheduler_key
from bot.domain.requests import Defaults, DreamRequest, build_recipe
from bot.domain.text import normalise_text
from bot.domain.tokens import TokenCounter, approximate_token_count, cut_note, words_cut
from bot.domain.validation import Limits, validate_recipe

THEME_TEXT_MAX = 500
# The fewest characters a theme must leave for the words users type (and for their own negative
# terms), so that a themed channel stays usable; a lower prompt_max_chars lowers it to half.
MIN_USER_CHARS = 100
# What join_prompt / merge_negative put between two parts at most (", ").
JOINER_CHARS = 2
LOCKABLE = ("width", "height", "steps", "guidance", "scheduler")


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
    # The model this channel renders with (a name of [models.<name>]); a user's /dream model:
    # still wins. None: the bot's default model.
    model: str | None = None

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


def prompt_room(theme: Theme, max_chars: int) -> int:
    """How many characters of their own words users have in a channel with ``theme``.

    The final prompt (prefix, words, suffix and the joiners between them) must fit
    ``max_chars``; words of at most this length always do. May be negative.
    """
    used = sum(len(part) + JOINER_CHARS
               for part in (tidy(normalise_text(theme.prefix)), tidy(normalise_text(theme.suffix)))
               if part)
    return max_chars - used


def negative_room(theme: Theme, max_chars: int) -> int:
    """How many characters users may add to ``theme``'s negative terms (may be negative)."""
    negative = ", ".join(split_terms(normalise_text(theme.negative)))
    return max_chars - (len(negative) + JOINER_CHARS if negative else 0)


def _check_fits(theme: Theme, max_chars: int, *, prompt: str, words: str, negative: str,
                user_negative: str) -> None:
    """Refuse a themed prompt or negative past ``max_chars`` (the engine would refuse it later,
    once queued), saying how many characters the user has in this channel."""
    if len(prompt) > max_chars:
        room = prompt_room(theme, max_chars)
        if room <= 0:
            raise ValidationError(
                f"this channel's theme leaves no room for your prompt (it uses {max_chars - room} "
                f"of the {max_chars} characters a prompt may have): ask a moderator to shorten "
                "it with /theme set")
        # len(prompt) > max_chars implies len(words) > room: the two numbers never contradict.
        raise ValidationError(
            f"prompt is too long for this channel's theme: you have {room} characters here "
            f"(the theme uses {max_chars - room} of the {max_chars}), got {len(tidy(words))}")
    if len(negative) > max_chars:
        room = negative_room(theme, max_chars)
        yours = ", ".join(split_terms(user_negative))
        raise ValidationError(
            f"negative prompt is too long for this channel's theme: with its negative terms you "
            f"have {max(room, 0)} characters here (of the {max_chars}), got {len(yours)}")


def build_themed_recipe(request: DreamRequest, theme: Theme | None, *, defaults: Defaults,
                        limits: Limits, model: str,
                        count_tokens: TokenCounter | None = None,
                        note_cut_words: bool = True) -> Recipe:
    """Validate ``request`` and apply ``theme``: the final prompt is prefix + words + suffix.

    The theme and the user's words together must fit ``prompt_max_chars`` (the prompt with its
    joiners, and the merged negative): checked here, before anything is queued. A prompt past
    the encoder's window is accepted with a note.
    """
    notes: list[str] = []
    if theme is not None:
        request, notes = lock_values(request, theme)
    recipe = build_recipe(request, defaults=defaults, limits=limits, model=model)
    if theme is not None:
        # A theme stored before its text was normalised is normalised here, as /theme set does.
        prefix, suffix = tidy(normalise_text(theme.prefix)), tidy(normalise_text(theme.suffix))
        prompt = join_prompt(prefix, recipe.prompt, suffix)
        negative = merge_negative(normalise_text(theme.negative), recipe.negative)
        _check_fits(theme, limits.prompt_max_chars, prompt=prompt, words=recipe.prompt,
                    negative=negative, user_negative=recipe.negative)
        recipe = dataclasses.replace(recipe, prompt=prompt, negative=negative,
                                     user_prompt=recipe.prompt, theme=theme.label,
                                     theme_prefix=prefix, theme_suffix=suffix)
    recipe = dataclasses.replace(recipe, notes=tuple(notes)) if notes else recipe
    return with_cut_note(recipe, count_tokens) if note_cut_words else recipe


def with_cut_note(recipe: Recipe, count_tokens: TokenCounter | None = None) -> Recipe:
    """``recipe`` with a note naming the words past the text encoder's window, if any
    (``count_tokens``: the model's tokenizer; None: an estimate)."""
    cut = words_cut(recipe.prompt, count_tokens or approximate_token_count)
    if not cut:
        return recipe
    return dataclasses.replace(recipe, notes=(*recipe.notes, cut_note(cut)))


def _theme_text(theme: Theme, key: str) -> str:
    """One of the theme's texts normalised and tidied; ValidationError if it is too long."""
    value = getattr(theme, key)
    text = normalise_text(value)
    text = ", ".join(split_terms(text)) if key == "negative" else tidy(text)
    if len(text) > THEME_TEXT_MAX:
        raise ValidationError(f"the theme's {key} must be at most {THEME_TEXT_MAX} "
                              f"characters, got {len(text)}")
    return text


def _check_room(theme: Theme, limits: Limits) -> None:
    """Refuse a theme that leaves users fewer than the minimum of characters of their own."""
    max_chars = limits.prompt_max_chars
    need = min(MIN_USER_CHARS, max_chars // 2)
    room = prompt_room(theme, max_chars)
    if room < need:
        raise ValidationError(
            f"the theme's prefix and suffix would leave users {max(room, 0)} characters for "
            f"their own words (a prompt has at most {max_chars}, joiners included); at least "
            f"{need} must remain: shorten them by {need - room}")
    room = negative_room(theme, max_chars)
    if room < need:
        raise ValidationError(
            f"the theme's negative would leave users {max(room, 0)} characters for their own "
            f"negative terms (at most {max_chars}); at least {need} must remain: shorten it by "
            f"{need - room}")


def check_theme(theme: Theme, limits: Limits) -> Theme:
    """Refuse (ValidationError) a theme whose text or locked values break the limits, or that
    leaves users too little room; return it with its text normalised and tidied."""
    prefix = _theme_text(theme, "prefix")
    if not prefix:
        why = " (it held only invisible or control characters)" if tidy(theme.prefix) else ""
        raise ValidationError(f"the theme's prefix must not be empty{why}")
    theme = dataclasses.replace(theme, prefix=prefix, suffix=_theme_text(theme, "suffix"),
                                negative=_theme_text(theme, "negative"))
    _check_room(theme, limits)
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
    return dataclasses.replace(theme, scheduler=scheduler,
                               guidance=None if theme.guidance is None else float(theme.guidance))


# -- preset files -----------------------------------------------------------------------------

_PRESET_KEYS = ("name", "title", "description", "prefix", "suffix", "negative", "locked", "pool",
                "model")
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


_THEME_KEY = re.compile(r"the theme's (locked )?(\w+)")


def _preset_key(message: str) -> str:
    """The preset key a check_theme message is about ("locked.steps", "negative", ...)."""
    match = _THEME_KEY.search(message)
    word = match[2] if match else "prefix"
    return f"locked.{word}" if word in LOCKABLE else word


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
                  guidance=guidance, scheduler=locked.get("scheduler"), name=name,
                  model=_text(data, "model") or None)
    try:
        theme = check_theme(theme, limits)
    except ValidationError as error:
        key = _preset_key(str(error))
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
    compact = text.strip().replace(" ", "")  # _DURATION ignores case
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
