"""Grids that teach: a style grid (artists × techniques) and the X/Y plot (any two axes).

Pure: parsing an axis and its values (naming what is wrong), and turning a base request into
one request per cell, row by row. A grid's cells share one seed unless the seed is an axis, so
only the plotted value changes from cell to cell.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.domain.errors import ValidationError
from bot.domain.lineage import GroupKind
from bot.domain.recipe import SCHEDULERS, SEED_MAX, scheduler_display_name, scheduler_key
from bot.domain.requests import DreamRequest
from bot.domain.styles import StyleCatalog, join_words, split_names

NAME_MAX = 60  # characters of one artist, technique or prompt word in a grid
DEFAULT_ARTISTS = ("Edvard Munch", "Pablo Picasso", "Salvador Dalí", "Vincent van Gogh")
DEFAULT_TECHNIQUES = ("oil painting", "watercolor", "pastel drawing", "pencil sketch")


class Axis(StrEnum):
    """What an X/Y plot varies along one side."""

    STEPS = "steps"
    GUIDANCE = "guidance"
    SCHEDULER = "scheduler"
    SEED = "seed"
    SIZE = "size"
    ARTIST = "artist"
    TECHNIQUE = "technique"
    PROMPT = "prompt"  # search and replace, as A1111's "Prompt S/R"


AXIS_HELP = {
    Axis.STEPS: "denoising steps, e.g. 5, 10, 20, 40 or 10-40 [4]",
    Axis.GUIDANCE: "CFG scale, e.g. 2, 5, 7.5, 12 or 2-14 (+4)",
    Axis.SCHEDULER: f"samplers, e.g. euler_a, ddim ({', '.join(SCHEDULERS)})",
    Axis.SEED: "seeds, e.g. 1, 2, 3 or 100-103",
    Axis.SIZE: "sizes, e.g. 512x512, 768x512, 512x768",
    Axis.ARTIST: "artists, e.g. Edvard Munch, Salvador Dalí",
    Axis.TECHNIQUE: "techniques, e.g. oil painting, watercolor",
    Axis.PROMPT: "a word of the prompt, then what replaces it: cat, dog, fox",
}


@dataclass(frozen=True, slots=True)
class PlotAxis:
    """One side of a plot: the axis, its values and how each value is labelled."""

    axis: Axis
    values: tuple[Any, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GridPlan:
    """A grid to render: one request per cell (row by row) and the labels of its sides."""

    kind: GroupKind
    title: str
    cells: tuple[DreamRequest, ...]
    columns: int
    row_labels: tuple[str, ...] | None
    column_labels: tuple[str, ...] | None

    @property
    def rows(self) -> int:
        """How many rows the grid has."""
        return len(self.cells) // self.columns

    def to_data(self) -> dict[str, Any]:
        """What the job group stores, so the grid can be drawn again after a restart."""
        return {"columns": self.columns, "row_labels": list(self.row_labels or []) or None,
                "column_labels": list(self.column_labels or []) or None}


def parse_axis(name: str) -> Axis:
    """The axis called ``name``; ValidationError listing the axes otherwise."""
    try:
        return Axis(name.strip().lower())
    except ValueError:
        raise ValidationError(f"an axis must be one of {', '.join(Axis)}, got {name!r}") from None


_INT_RANGE = re.compile(r"^(-?\d+)\s*-\s*(-?\d+)\s*(?:\(\s*\+?\s*(\d+)\s*\)|\[\s*(\d+)\s*\])?$")
_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_FLOAT_RANGE = re.compile(rf"^{_NUMBER}\s*-\s*{_NUMBER}\s*"
                          rf"(?:\(\s*\+?\s*{_NUMBER}\s*\)|\[\s*(\d+)\s*\])$")
_SIZE = re.compile(r"^(\d+)\s*[x×*]\s*(\d+)$", re.IGNORECASE)
# A range expands to at most this many values before the side's own limit is checked.
_RANGE_MAX = 100


def _spread(low: float, high: float, count: int) -> list[float]:
    if count < 1:
        raise ValueError
    if count == 1:
        return [low]
    return [low + (high - low) * i / (count - 1) for i in range(count)]


def _ints(item: str, name: str) -> list[int]:
    if re.fullmatch(r"\d+", item):
        return [int(item)]
    match = _INT_RANGE.match(item)
    if match is None:
        raise ValidationError(f"{name} values must be whole numbers or ranges like 10-40 [4] "
                              f"or 10-40 (+10), got {item!r}")
    low, high = int(match[1]), int(match[2])
    if match[4]:
        count = int(match[4])
        if not 1 <= count <= _RANGE_MAX:
            raise ValidationError(f"a range's [count] must be between 1 and {_RANGE_MAX}, "
                                  f"got {item!r}")
        return list(dict.fromkeys(round(value) for value in _spread(low, high, count)))
    step = int(match[3] or 1)
    if step < 1 or high < low or (high - low) // step + 1 > _RANGE_MAX:
        raise ValidationError(f"the range {item!r} must go up by a positive step and hold at "
                              f"most {_RANGE_MAX} values")
    return list(range(low, high + 1, step))


def _floats(item: str, name: str) -> list[float]:
    try:
        return [float(item)]
    except ValueError:
        pass
    match = _FLOAT_RANGE.match(item)
    if match is None:
        raise ValidationError(f"{name} values must be numbers or ranges like 2-14 [4] or "
                              f"2-14 (+4), got {item!r}")
    low, high = float(match[1]), float(match[2])
    if match[4]:
        count = int(match[4])
        if not 1 <= count <= _RANGE_MAX:
            raise ValidationError(f"a range's [count] must be between 1 and {_RANGE_MAX}, "
                                  f"got {item!r}")
        return [round(value, 3) for value in _spread(low, high, count)]
    step = float(match[3])
    if step <= 0 or high < low or (high - low) / step + 1 > _RANGE_MAX:
        raise ValidationError(f"the range {item!r} must go up by a positive step and hold at "
                              f"most {_RANGE_MAX} values")
    values, value = [], low
    while value <= high + 1e-9:
        values.append(round(value, 3))
        value += step
    return values


def _texts(items: list[str], name: str) -> list[str]:
    for item in items:
        if len(item) > NAME_MAX:
            raise ValidationError(f"each {name} must be at most {NAME_MAX} characters, got "
                                  f"{len(item)} ({item[:20]!r}…)")
    return items


def parse_values(axis: Axis, text: str, *, max_count: int, prompt: str = "") -> PlotAxis:
    """The values of one side (comma-separated); ValidationError naming a bad one.

    For ``prompt`` the first value is a word of ``prompt`` and each value replaces it in turn
    (the first cell shows the prompt unchanged), as A1111's Prompt S/R does.
    """
    items = split_names(text)
    if not items:
        raise ValidationError(f"give the {axis} values, comma-separated ({AXIS_HELP[axis]})")
    values: list[Any]
    labels: list[str]
    if axis in (Axis.STEPS, Axis.SEED):
        values = [value for item in items for value in _ints(item, str(axis))]
        if axis is Axis.SEED and any(not 0 <= value <= SEED_MAX for value in values):
            raise ValidationError(f"seeds must be between 0 and {SEED_MAX}")
        labels = [f"{axis}: {value}" for value in values]
    elif axis is Axis.GUIDANCE:
        values = [value for item in items for value in _floats(item, str(axis))]
        labels = [f"guidance: {value:g}" for value in values]
    elif axis is Axis.SCHEDULER:
        values = []
        for item in items:
            key = scheduler_key(item)
            if key is None:
                raise ValidationError(f"scheduler must be one of {', '.join(SCHEDULERS)}, "
                                      f"got {item!r}")
            values.append(key)
        labels = [scheduler_display_name(key) for key in values]
    elif axis is Axis.SIZE:
        values = []
        for item in items:
            match = _SIZE.match(item)
            if match is None:
                raise ValidationError(f"sizes must look like 512x768 (width x height), "
                                      f"got {item!r}")
            values.append((int(match[1]), int(match[2])))
        labels = [f"{width}×{height}" for width, height in values]
    else:
        values = _texts(items, str(axis))
        labels = list(values)
        if axis is Axis.PROMPT and values[0].casefold() not in prompt.casefold():
            raise ValidationError(f"the first prompt value is the word to replace, and "
                                  f"{values[0]!r} is not in the prompt")
    if len(values) > max_count:
        raise ValidationError(f"a side of a grid has at most {max_count} values, got "
                              f"{len(values)} {axis} values")
    return PlotAxis(axis, tuple(values), tuple(labels))


def axis_words(name: str, axis: Axis, catalog: StyleCatalog | None) -> tuple[str, str]:
    """The words an artist or technique adds (a preset's if one has that name or title, else
    the name itself, "by" an artist) and the name recorded in the recipe."""
    preset = catalog.find(name) if catalog is not None else None
    if preset is not None:
        return preset.words, preset.name
    return (f"by {name}" if axis is Axis.ARTIST else name), name


def _replace(prompt: str, search: str, replacement: str) -> str:
    return re.sub(re.escape(search), lambda _: replacement, prompt, flags=re.IGNORECASE)


def apply_value(request: DreamRequest, axis: Axis, value: Any, *, search: str = "",
                catalog: StyleCatalog | None = None) -> DreamRequest:
    """``request`` with one plotted value (``search``: the Prompt S/R word)."""
    if axis is Axis.PROMPT:
        return dataclasses.replace(request, prompt=_replace(request.prompt, search, value))
    if axis is Axis.SIZE:
        return dataclasses.replace(request, width=value[0], height=value[1])
    if axis in (Axis.ARTIST, Axis.TECHNIQUE):
        words, name = axis_words(value, axis, catalog)
        return dataclasses.replace(request, prompt=join_words(request.prompt, words),
                                   styles=(*request.styles, name))
    return dataclasses.replace(request, **{str(axis): value})


def _ordered(sides: list[tuple[PlotAxis, Any]]) -> list[tuple[PlotAxis, Any]]:
    # Prompt S/R first, so a replaced word is never one that a style added; then techniques
    # before artists ("a spoon, oil painting, by Edvard Munch").
    order = {Axis.PROMPT: 0, Axis.TECHNIQUE: 1, Axis.ARTIST: 2}
    return sorted(sides, key=lambda side: order.get(side[0].axis, 3))


def plan_grid(base: DreamRequest, x: PlotAxis, y: PlotAxis | None, *, kind: GroupKind,
              title: str, catalog: StyleCatalog | None = None,
              labels: bool = True) -> GridPlan:
    """One request per cell, row by row: x varies along a row, y down a column."""
    if y is not None and y.axis is x.axis:
        raise ValidationError(f"x and y must be different axes, got {x.axis} twice")
    cells = []
    for y_value in (y.values if y is not None else (None,)):
        for x_value in x.values:
            sides = [(x, x_value)] + ([(y, y_value)] if y is not None else [])
            request = base
            for side, value in _ordered(sides):
                request = apply_value(request, side.axis, value, search=side.values[0],
                                      catalog=catalog)
            cells.append(request)
    return GridPlan(kind=kind, title=title, cells=tuple(cells), columns=len(x.values),
                    row_labels=y.labels if y is not None and labels else None,
                    column_labels=x.labels if labels else None)


def plan_xy(prompt: str, x_axis: str, x_values: str, y_axis: str | None, y_values: str | None,
            *, seed: int, max_side: int, catalog: StyleCatalog | None = None,
            base: DreamRequest | None = None) -> GridPlan:
    """The X/Y plot ``/xy`` asks for: every cell shares ``seed`` unless seed is an axis."""
    if (y_axis is None) != (y_values is None):
        raise ValidationError("give both y and y_values, or neither")
    x = parse_values(parse_axis(x_axis), x_values, max_count=max_side, prompt=prompt)
    y = (parse_values(parse_axis(y_axis), y_values, max_count=max_side, prompt=prompt)
         if y_axis is not None and y_values is not None else None)
    base = dataclasses.replace(base or DreamRequest(prompt=prompt), prompt=prompt, seed=seed)
    title = f"{prompt} · {x.axis}" + (f" × {y.axis}" if y is not None else "")
    return plan_grid(base, x, y, kind=GroupKind.XY, title=title, catalog=catalog)


def plan_styles(subject: str, artists: str | None, techniques: str | None, *, seed: int,
                max_side: int, catalog: StyleCatalog | None = None,
                base: DreamRequest | None = None) -> GridPlan:
    """The style grid ``/styles`` asks for: rows are artists, columns techniques.

    With neither list given both take the defaults; with one given, the grid is that one row
    (techniques) or column (artists). Every cell shares ``seed``: only the style changes.
    """
    if artists is None and techniques is None:
        artist_names: Sequence[str] = DEFAULT_ARTISTS
        technique_names: Sequence[str] = DEFAULT_TECHNIQUES
    else:
        artist_names = _texts(split_names(artists or ""), "artist")
        technique_names = _texts(split_names(techniques or ""), "technique")
    if not artist_names and not technique_names:
        raise ValidationError("give at least one artist or technique, comma-separated")
    if len(artist_names) > max_side or len(technique_names) > max_side:
        raise ValidationError(f"a style grid has at most {max_side} artists and {max_side} "
                              f"techniques, got {len(artist_names)} and "
                              f"{len(technique_names)}")
    base = dataclasses.replace(base or DreamRequest(prompt=subject), prompt=subject, seed=seed)
    rows = PlotAxis(Axis.ARTIST, tuple(artist_names), tuple(artist_names))
    columns = PlotAxis(Axis.TECHNIQUE, tuple(technique_names), tuple(technique_names))
    if not technique_names:  # one column of artists
        plan = plan_grid(base, rows, None, kind=GroupKind.STYLES, title=subject,
                         catalog=catalog)
        return dataclasses.replace(plan, columns=1, row_labels=plan.column_labels,
                                   column_labels=None,
                                   cells=plan.cells)
    return plan_grid(base, columns, rows if artist_names else None, kind=GroupKind.STYLES,
                     title=subject, catalog=catalog)
