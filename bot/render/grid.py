"""Grids of images with row and column labels: style grids, X/Y plots, ``/dream count:`` mosaics.

``grid_layout`` is pure geometry (where every cell and label goes, the label text wrapped and
shortened to fit its box); ``compose_grid`` draws it. Blocking (tens of ms at 512² cells): call it
off the event loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ELLIPSIS = "…"
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
# A finished cell never looks like this flat mid grey, so a progress mosaic shows what is pending.
PLACEHOLDER = (128, 128, 128)
PLACEHOLDER_MARK = (150, 150, 150)

Measure = Callable[[str], float]


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in image pixels: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.height

    def contains(self, other: Box) -> bool:
        """Whether ``other`` lies wholly inside this box."""
        return (self.x <= other.x and self.y <= other.y
                and other.right <= self.right and other.bottom <= self.bottom)

    def overlaps(self, other: Box) -> bool:
        """Whether the two boxes share any pixel."""
        return (self.x < other.right and other.x < self.right
                and self.y < other.bottom and other.y < self.bottom)


@dataclass(frozen=True, slots=True)
class Label:
    """A header box and the lines drawn in it (already wrapped and shortened to fit)."""

    box: Box
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GridLayout:
    """Where everything goes: the image size, each cell's box, each label's box and lines."""

    width: int
    height: int
    cells: tuple[Box, ...]
    row_labels: tuple[Label, ...]
    column_labels: tuple[Label, ...]
    font_size: int
    line_height: int
    padding: int


def label_font_size(cell_size: tuple[int, int]) -> int:
    """A readable label size for cells of this size (11 px up to 128² cells, 28 px from 336²)."""
    return max(11, min(28, min(cell_size) // 12))


# DejaVu Sans Condensed (Latin, Greek, Cyrillic): Pillow's own default font has no "í" in "Dalí".
FONT_PATH = Path(__file__).with_name("data") / "DejaVuSansCondensed-subset.ttf"


@lru_cache(maxsize=16)
def label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The bundled label font at ``size`` px; Pillow's default font if FreeType is missing."""
    try:
        return ImageFont.truetype(str(FONT_PATH), size)
    except (ImportError, OSError):  # Pillow built without FreeType: small but still readable.
        return ImageFont.load_default()


def font_measure(size: int) -> Measure:
    """The width in pixels of a single line of text in the label font at ``size``."""
    font = label_font(size)
    return lambda text: float(font.getlength(text))


def _shorten(text: str, width: float, measure: Measure) -> str:
    """``text`` cut with an ellipsis so it measures at most ``width`` (maybe just the ellipsis)."""
    if measure(text) <= width:
        return text
    cut = len(text)
    while cut > 0 and measure(text[:cut].rstrip() + ELLIPSIS) > width:
        cut -= 1
    return text[:cut].rstrip() + ELLIPSIS if cut > 0 or measure(ELLIPSIS) <= width else ""


def wrap_text(text: str, width: float, max_lines: int, measure: Measure) -> tuple[str, ...]:
    """Greedy word wrap into at most ``max_lines`` lines each at most ``width`` wide.

    A word too long for a line is shortened with an ellipsis; text left over after the last line
    is marked by an ellipsis at its end, so a reader sees that something was cut.
    """
    words = " ".join(text.split()).split(" ") if text.strip() else []
    lines: list[str] = []
    current = ""
    index = 0
    while index < len(words) and len(lines) < max_lines:
        word = words[index]
        candidate = f"{current} {word}" if current else word
        if measure(candidate) <= width:
            current, index = candidate, index + 1
        elif current:
            lines.append(current)
            current = ""
        else:  # a single word wider than the line
            lines.append(_shorten(word, width, measure))
            index += 1
    if current and len(lines) < max_lines:
        lines.append(current)
    if index < len(words) and lines:
        lines[-1] = _shorten(lines[-1] + " " + " ".join(words[index:]), width, measure)
    return tuple(line for line in lines if line)


def grid_layout(count: int, columns: int, *, cell_size: tuple[int, int], gutter: int = 4,
                row_labels: Sequence[str] | None = None,
                column_labels: Sequence[str] | None = None,
                measure: Measure | None = None, font_size: int | None = None) -> GridLayout:
    """The geometry of a grid of ``count`` cells in ``columns`` columns, labels included.

    Column headers sit above the cells, row headers to their left, each in a box of its own inside
    the image; no box overlaps another. ``measure`` (text → pixel width) defaults to the label font.
    """
    if count < 1 or columns < 1:
        raise ValueError(f"a grid needs a cell and a column, got {count} and {columns}")
    cell_w, cell_h = cell_size
    if cell_w < 1 or cell_h < 1:
        raise ValueError(f"cell size must be positive, got {cell_w}x{cell_h}")
    rows = math.ceil(count / columns)
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"{len(row_labels)} row labels for {rows} rows")
    if column_labels is not None and len(column_labels) != columns:
        raise ValueError(f"{len(column_labels)} column labels for {columns} columns")
    size = font_size or label_font_size(cell_size)
    measure = measure or font_measure(size)
    line_height = round(size * 1.25)
    padding = max(2, size // 3)

    # Column headers: as many lines as the longest label needs, at most 3.
    header_h = 0
    column_lines: list[tuple[str, ...]] = []
    if column_labels is not None:
        inner = max(1, cell_w - 2 * padding)
        column_lines = [wrap_text(text, inner, 3, measure) for text in column_labels]
        header_h = 2 * padding + line_height * max(1, *(len(lines) for lines in column_lines))
    # Row headers: as wide as the widest label on one line, up to a cell or ten letters wide.
    side_w = 0
    row_lines: list[tuple[str, ...]] = []
    if row_labels is not None:
        widest = max((measure(" ".join(text.split())) for text in row_labels), default=0.0)
        side_w = min(math.ceil(widest) + 2 * padding, max(cell_w, 10 * size))
        side_w = max(side_w, 2 * padding + line_height)
        fit_lines = max(1, (cell_h - 2 * padding) // line_height)
        row_lines = [wrap_text(text, side_w - 2 * padding, fit_lines, measure)
                     for text in row_labels]

    left = side_w + gutter if row_labels is not None else 0
    top = header_h + gutter if column_labels is not None else 0
    width = left + columns * cell_w + (columns - 1) * gutter
    height = top + rows * cell_h + (rows - 1) * gutter
    step_x, step_y = cell_w + gutter, cell_h + gutter
    cells = tuple(Box(left + (i % columns) * step_x, top + (i // columns) * step_y, cell_w, cell_h)
                  for i in range(count))
    column_boxes = tuple(Label(Box(left + c * (cell_w + gutter), 0, cell_w, header_h), lines)
                         for c, lines in enumerate(column_lines))
    row_boxes = tuple(Label(Box(0, top + r * (cell_h + gutter), side_w, cell_h), lines)
                      for r, lines in enumerate(row_lines))
    return GridLayout(width, height, cells, row_boxes, column_boxes, size, line_height, padding)


def _fit_cell(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` as RGB inside ``size``: scaled to fit, centred on the background colour."""
    rgb = image.convert("RGB")
    if rgb.size == size:
        return rgb
    scale = min(size[0] / rgb.width, size[1] / rgb.height)
    scaled = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                        Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", size, BACKGROUND)
    canvas.paste(scaled, ((size[0] - scaled.width) // 2, (size[1] - scaled.height) // 2))
    return canvas


def _placeholder(draw: ImageDraw.ImageDraw, box: Box) -> None:
    draw.rectangle((box.x, box.y, box.right - 1, box.bottom - 1), fill=PLACEHOLDER)
    # A thin cross marks the cell as pending even when the mosaic is shown tiny.
    draw.line((box.x, box.y, box.right - 1, box.bottom - 1), fill=PLACEHOLDER_MARK)
    draw.line((box.x, box.bottom - 1, box.right - 1, box.y), fill=PLACEHOLDER_MARK)


def _draw_label(draw: ImageDraw.ImageDraw, label: Label, layout: GridLayout,
                font: ImageFont.FreeTypeFont | ImageFont.ImageFont, *, centre: bool) -> None:
    block = len(label.lines) * layout.line_height
    y = label.box.y + max(layout.padding, (label.box.height - block) // 2)
    for line in label.lines:
        width = draw.textlength(line, font=font)
        x = (label.box.x + (label.box.width - width) / 2 if centre
             else label.box.x + layout.padding)
        draw.text((x, y), line, fill=TEXT, font=font)
        y += layout.line_height


def compose_grid(cells: Sequence[Image.Image | None], columns: int, *, cell_size: tuple[int, int],
                 gutter: int = 4, row_labels: Sequence[str] | None = None,
                 column_labels: Sequence[str] | None = None) -> Image.Image:
    """One RGB image of ``cells`` in rows of ``columns``, with optional row/column labels.

    A ``None`` cell is drawn as a neutral placeholder, so a progress mosaic can be drawn as cells
    finish. Cells of another size are scaled to fit ``cell_size`` (an X/Y plot over sizes).
    """
    layout = grid_layout(len(cells), columns, cell_size=cell_size, gutter=gutter,
                         row_labels=row_labels, column_labels=column_labels)
    image = Image.new("RGB", (layout.width, layout.height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for cell, box in zip(cells, layout.cells, strict=True):
        if cell is None:
            _placeholder(draw, box)
        else:
            image.paste(_fit_cell(cell, (box.width, box.height)), (box.x, box.y))
    font = label_font(layout.font_size)
    for label in layout.column_labels:
        _draw_label(draw, label, layout, font, centre=True)
    for label in layout.row_labels:
        _draw_label(draw, label, layout, font, centre=False)
    return image
