"""Style presets: techniques, artists, periods and modifiers whose words join a prompt.

Pure: parsing preset files' contents, finding a style by name (chained with commas), close
matches for a typo, and autocomplete suggestions. Files are read by the craft service.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain.errors import UserError
from bot.domain.requests import DreamRequest

AUTOCOMPLETE_LIMIT = 25  # Discord shows at most 25 autocomplete results
CHOICE_MAX = 100  # an autocomplete choice's name and value are at most 100 characters
STYLE_WORDS_MAX = 200
NOTE_MAX = 120
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
_FILE_KEYS = ("kind", "styles")
_STYLE_KEYS = ("title", "words", "note", "negative")


class StyleKind(StrEnum):
    """What a style names; suggestions are grouped in this order."""

    TECHNIQUE = "technique"
    ARTIST = "artist"
    PERIOD = "period"
    MODIFIER = "modifier"

    @property
    def label(self) -> str:
        """How a suggestion names the group ("Artist")."""
        return self.value.capitalize()


_KIND_ORDER = {kind: index for index, kind in enumerate(StyleKind)}


@dataclass(frozen=True, slots=True)
class Style:
    """One preset: its name (what users type), what it adds to a prompt and a short note."""

    name: str
    kind: StyleKind
    title: str
    words: str
    note: str = ""
    negative: str = ""

    def suggestion(self) -> str:
        """The autocomplete label: "Artist · Edvard Munch — Expressionism, 1880s–1940s"."""
        text = f"{self.kind.label} · {self.title}" + (f" — {self.note}" if self.note else "")
        return text if len(text) <= CHOICE_MAX else text[:CHOICE_MAX - 1] + "…"


class StyleFileError(ValueError):
    """A style file's contents are wrong; names the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def fold(text: str) -> str:
    """Case- and accent-insensitive form used to match names ("Dalí" → "dali")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[-_\s]+", " ", plain).split())


def _text(data: Mapping[str, Any], key: str, where: str, *, required: bool = False,
          limit: int = STYLE_WORDS_MAX) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise StyleFileError(f"{where}.{key}", f"must be a string, got {value!r}")
    value = " ".join(value.split())
    if required and not value:
        raise StyleFileError(f"{where}.{key}", "is required and must not be empty")
    if len(value) > limit:
        raise StyleFileError(f"{where}.{key}", f"must be at most {limit} characters, "
                                               f"got {len(value)}")
    return value


def styles_from_dict(data: Mapping[str, Any]) -> list[Style]:
    """The styles of one parsed TOML file; raises StyleFileError naming the first bad key.

    The file says its ``kind`` once and holds a ``[styles.<name>]`` table per style with
    ``words`` (required), ``title``, ``note`` and ``negative``.
    """
    unknown = sorted(set(data) - set(_FILE_KEYS))
    if unknown:
        raise StyleFileError(unknown[0], f"unknown key (known keys: {', '.join(_FILE_KEYS)})")
    kind_text = data.get("kind")
    try:
        kind = StyleKind(str(kind_text))
    except ValueError:
        raise StyleFileError("kind", f"must be one of {', '.join(StyleKind)}, "
                                     f"got {kind_text!r}") from None
    table = data.get("styles", {})
    if not isinstance(table, Mapping) or not table:
        raise StyleFileError("styles", "must be a non-empty table of [styles.<name>] tables")
    styles = []
    for name, entry in table.items():
        where = f"styles.{name}"
        if not _NAME.match(name):
            raise StyleFileError(where, "a name is lower-case letters, digits, - or _ "
                                        "(at most 50)")
        if not isinstance(entry, Mapping):
            raise StyleFileError(where, f"must be a table, got {entry!r}")
        bad = sorted(set(entry) - set(_STYLE_KEYS))
        if bad:
            raise StyleFileError(f"{where}.{bad[0]}",
                                 f"unknown key (known keys: {', '.join(_STYLE_KEYS)})")
        title = _text(entry, "title", where, limit=60) or name.replace("-", " ").capitalize()
        styles.append(Style(name=name, kind=kind, title=title,
                            words=_text(entry, "words", where, required=True),
                            note=_text(entry, "note", where, limit=NOTE_MAX),
                            negative=_text(entry, "negative", where)))
    return styles


def split_names(text: str) -> list[str]:
    """The comma-chained names in a ``style:`` option, tidied, empty ones dropped."""
    return [" ".join(part.split()) for part in text.split(",") if part.strip()]


@dataclass
class StyleCatalog:
    """Every style that loaded, by name, and the problems of those that did not."""

    styles: dict[str, Style] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # fold(name) and fold(title) → name, so "Dalí", "dali" and "salvador-dali" all find it.
    _index: dict[str, str] = field(default_factory=dict, repr=False)

    def add(self, styles: Iterable[Style]) -> None:
        """Add (or replace, by name) styles; a later folder wins."""
        for style in styles:
            self.styles[style.name] = style
        self._index = {}
        for style in sorted(self.styles.values(), key=lambda s: s.name):
            self._index.setdefault(fold(style.title), style.name)
        for style in self.styles.values():
            self._index[fold(style.name)] = style.name

    def find(self, name: str) -> Style | None:
        """The style called ``name`` (its name or its title, any case or accents), or the one
        style whose title holds every word of ``name`` ("munch", "van gogh"); else None."""
        wanted = fold(name)
        key = self._index.get(wanted)
        if key is not None:
            return self.styles[key]
        words = set(wanted.split())
        holders = {style.name for style in self.styles.values()
                   if words and words <= set(fold(style.title).split())}
        return self.styles[holders.pop()] if len(holders) == 1 else None

    def close_matches(self, name: str, limit: int = 3) -> list[str]:
        """Style names that look like ``name`` (a typo's likely meaning), best first."""
        wanted = fold(name)
        found = difflib.get_close_matches(wanted, list(self._index), n=limit * 2, cutoff=0.6)
        names = list(dict.fromkeys(self._index[key] for key in found))
        if not names:  # a fragment: names that contain it
            names = sorted(n for key, n in self._index.items() if wanted and wanted in key)
        return names[:limit]

    def resolve(self, text: str) -> list[Style]:
        """The styles chained in ``text`` ("oil-painting, munch"), in order, without repeats;
        UserError naming an unknown one and its close matches."""
        styles: list[Style] = []
        for name in split_names(text):
            style = self.find(name)
            if style is None:
                close = self.close_matches(name)
                hint = (f"did you mean {', '.join(close)}?" if close
                        else "/dream style: suggests them as you type")
                raise UserError(f"there is no style called {name[:60]!r}; {hint}")
            if style not in styles:
                styles.append(style)
        return styles

    def suggest(self, typed: str, limit: int = AUTOCOMPLETE_LIMIT) -> list[tuple[str, str]]:
        """Autocomplete for a ``style:`` option: (label, value) pairs, at most ``limit``.

        The last comma-separated part is completed; the parts before it stay in the value, so
        styles chain. Names or titles starting with the text come first, then those with a word
        starting with it, then those containing it; within each, grouped by kind. An empty part
        suggests every kind.
        """
        done, _, last = typed.rpartition(",")
        kept = [self.find(name) for name in split_names(done)]
        prefix_names = [style.name for style in kept if style is not None]
        wanted = fold(last)
        ranked: list[tuple[int, int, str, Style]] = []
        for style in self.styles.values():
            if style.name in prefix_names:
                continue
            keys = (fold(style.name), fold(style.title))
            if any(key.startswith(wanted) for key in keys):
                rank = 0
            elif any(word.startswith(wanted) for key in keys for word in key.split()):
                rank = 1  # a later word: "van" finds Vincent van Gogh
            elif any(wanted in key for key in keys):
                rank = 2
            else:
                continue
            ranked.append((rank, _KIND_ORDER[style.kind], style.name, style))
        ranked.sort(key=lambda item: item[:3])
        head = ", ".join(prefix_names)
        suggestions = []
        for *_, style in ranked:
            value = f"{head}, {style.name}" if head else style.name
            if len(value) > CHOICE_MAX:
                continue  # a chain too long to complete; the user can still type it
            label = style.suggestion()
            if head:
                label = f"{head} + {label}"
                label = label if len(label) <= CHOICE_MAX else "…" + label[-(CHOICE_MAX - 1):]
            suggestions.append((label, value))
            if len(suggestions) == limit:
                break
        return suggestions


def style_words(styles: Sequence[Style]) -> tuple[str, str]:
    """The words the styles add after a prompt, and the negative terms they add."""
    words = ", ".join(style.words for style in styles)
    negative = ", ".join(style.negative for style in styles if style.negative)
    return words, negative


def join_words(*parts: str) -> str:
    """Non-empty parts joined with ", " (the way styles follow a prompt)."""
    return ", ".join(part.strip(" ,") for part in parts if part.strip(" ,"))


def apply_styles(request: DreamRequest, catalog: StyleCatalog) -> DreamRequest:
    """``request`` with its ``style:`` presets' words after the prompt and their names recorded
    (UserError naming an unknown style and its close matches)."""
    if not request.style or not request.style.strip():
        return dataclasses.replace(request, style=None)
    styles = catalog.resolve(request.style)
    words, negative = style_words(styles)
    return dataclasses.replace(
        request, prompt=join_words(request.prompt, words),
        negative=join_words(request.negative or "", negative) or None, style=None,
        styles=(*request.styles, *(style.name for style in styles)))
