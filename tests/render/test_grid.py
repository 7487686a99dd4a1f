"""Grid layout and composition: boxes inside the image, no overlap, labels that fit."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.render.grid import (
    PLACEHOLDER,
    Box,
    GridLayout,
    compose_grid,
    font_measure,
    grid_layout,
    wrap_text,
)

ARTISTS = ["Edvard Munch", "Pablo Picasso", "Salvador Dalí", "Vincent van Gogh"]
TECHNIQUES = ["oil painting", "watercolor", "pastel drawing", "pencil sketch"]


def _all_boxes(layout: GridLayout) -> list[Box]:
    return ([*layout.cells] + [label.box for label in layout.row_labels]
            + [label.box for label in layout.column_labels])


def _check_layout(layout: GridLayout) -> None:
    image = Box(0, 0, layout.width, layout.height)
    boxes = _all_boxes(layout)
    for box in boxes:
        assert image.contains(box), box
    for first, second in itertools.combinations(boxes, 2):
        assert not first.overlaps(second), (first, second)
    measure = font_measure(layout.font_size)
    for label in (*layout.row_labels, *layout.column_labels):
        # Every line fits its box, padding included, and the lines fit its height.
        for line in label.lines:
            assert measure(line) <= label.box.width - 2 * layout.padding, line
        assert len(label.lines) * layout.line_height <= label.box.height - 2 * layout.padding


def test_labelled_layout_size_and_boxes() -> None:
    layout = grid_layout(16, 4, cell_size=(64, 64), gutter=4, row_labels=ARTISTS,
                         column_labels=TECHNIQUES)
    _check_layout(layout)
    side = layout.row_labels[0].box.width
    header = layout.column_labels[0].box.height
    assert layout.width == side + 4 + 4 * 64 + 3 * 4
    assert layout.height == header + 4 + 4 * 64 + 3 * 4
    assert all(label.lines for label in (*layout.row_labels, *layout.column_labels))
    # Row labels sit beside their row, column labels above their column.
    for label, cell in zip(layout.row_labels, layout.cells[::4], strict=True):
        assert label.box.y == cell.y and label.box.right < cell.x
    for label, cell in zip(layout.column_labels, layout.cells[:4], strict=True):
        assert label.box.x == cell.x and label.box.bottom < cell.y


def test_unlabelled_layout_is_cells_and_gutters_only() -> None:
    layout = grid_layout(4, 2, cell_size=(512, 512), gutter=4)
    assert (layout.width, layout.height) == (1028, 1028)
    assert layout.cells[3] == Box(516, 516, 512, 512)
    assert not layout.row_labels and not layout.column_labels


def test_long_labels_are_wrapped_and_shortened_to_fit() -> None:
    long = "a very long technique name that cannot possibly fit in a tiny header " * 3
    layout = grid_layout(2, 2, cell_size=(64, 64), row_labels=["Supercalifragilistic" * 3],
                         column_labels=[long, "x"])
    _check_layout(layout)
    assert layout.column_labels[0].lines[-1].endswith("…")
    assert layout.row_labels[0].lines[-1].endswith("…")


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 6), columns=st.integers(1, 6), cell=st.sampled_from([64, 96, 256]),
       gutter=st.integers(0, 8),
       text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=60))
def test_any_labels_stay_inside_without_overlap(rows: int, columns: int, cell: int, gutter: int,
                                               text: str) -> None:
    layout = grid_layout(rows * columns, columns, cell_size=(cell, cell), gutter=gutter,
                         row_labels=[text] * rows, column_labels=[text + " x"] * columns)
    _check_layout(layout)


def test_wrap_keeps_words_whole_when_they_fit() -> None:
    measure = font_measure(12)
    lines = wrap_text("pencil sketch of a spoon", measure("pencil sketch") + 1, 3, measure)
    assert lines == ("pencil sketch", "of a spoon")


def test_label_counts_must_match() -> None:
    with pytest.raises(ValueError, match="3 row labels for 2 rows"):
        grid_layout(4, 2, cell_size=(64, 64), row_labels=["a", "b", "c"])


def test_compose_places_cells_and_placeholders() -> None:
    red, blue = Image.new("RGB", (64, 64), "red"), Image.new("RGB", (64, 64), "blue")
    grid = compose_grid([red, None, blue, red], 2, cell_size=(64, 64), row_labels=ARTISTS[:2],
                        column_labels=TECHNIQUES[:2])
    layout = grid_layout(4, 2, cell_size=(64, 64), row_labels=ARTISTS[:2],
                         column_labels=TECHNIQUES[:2])
    assert grid.size == (layout.width, layout.height)
    first, pending, third = layout.cells[:3]
    assert grid.getpixel((first.x + 10, first.y + 5)) == (255, 0, 0)
    assert grid.getpixel((third.x + 10, third.y + 5)) == (0, 0, 255)
    assert grid.getpixel((pending.x + 10, pending.y + 5)) == PLACEHOLDER
    # Labels are drawn: the header box holds dark text pixels.
    header = layout.column_labels[0].box
    crop = grid.crop((header.x, header.y, header.right, header.bottom)).convert("L")
    assert crop.getextrema()[0] < 100


def test_compose_fits_cells_of_another_size() -> None:
    wide = Image.new("RGB", (128, 64), "green")
    grid = compose_grid([wide], 1, cell_size=(64, 64), gutter=0)
    assert grid.size == (64, 64)
    assert grid.getpixel((32, 32)) == (0, 128, 0)
    assert grid.getpixel((32, 2)) == (255, 255, 255)  # letterboxed, not stretched
