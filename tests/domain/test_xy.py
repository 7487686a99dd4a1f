"""Style grids and X/Y plots: parsing axes and values, one request per cell. Pure."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain.errors import ValidationError
from bot.domain.lineage import GroupKind
from bot.domain.requests import DreamRequest
from bot.domain.xy import (
    DEFAULT_ARTISTS,
    DEFAULT_TECHNIQUES,
    Axis,
    parse_values,
    plan_styles,
    plan_xy,
)
from tests.domain.test_styles import CATALOG


def test_steps_by_guidance_cells_carry_exactly_the_plotted_values() -> None:
    plan = plan_xy("a lighthouse", "steps", "5, 10-30 (+10)", "guidance", "2-12 [3]", seed=7,
                   max_side=6)
    assert plan.kind is GroupKind.XY and plan.columns == 4 and plan.rows == 3
    assert [(cell.steps, cell.guidance) for cell in plan.cells] == [
        (steps, guidance) for guidance in (2.0, 7.0, 12.0) for steps in (5, 10, 20, 30)]
    assert {cell.seed for cell in plan.cells} == {7}
    assert {cell.prompt for cell in plan.cells} == {"a lighthouse"}
    assert plan.column_labels == ("steps: 5", "steps: 10", "steps: 20", "steps: 30")
    assert plan.row_labels == ("guidance: 2", "guidance: 7", "guidance: 12")


def test_each_axis_sets_its_own_value() -> None:
    base = DreamRequest(prompt="portrait of a cat")
    cases = {
        "scheduler": ("euler_a, DDIM", [("scheduler", "euler_a"), ("scheduler", "ddim")]),
        "seed": ("1, 5-6", [("seed", 1), ("seed", 5), ("seed", 6)]),
        "size": ("512x512, 768×512", [("width", 512), ("width", 768)]),
    }
    for axis, (values, expected) in cases.items():
        plan = plan_xy(base.prompt, axis, values, None, None, seed=3, max_side=6)
        assert [(key, getattr(cell, key)) for cell, (key, _) in
                zip(plan.cells, expected, strict=True)] == expected
        assert plan.row_labels is None
    size = plan_xy("x", "size", "512x768", None, None, seed=1, max_side=6).cells[0]
    assert (size.width, size.height) == (512, 768)


def test_prompt_search_and_replace_starts_with_the_prompt_unchanged() -> None:
    plan = plan_xy("a cat on a Cat mat", "prompt", "cat, dog, red fox", None, None, seed=1,
                   max_side=6)
    assert [cell.prompt for cell in plan.cells] == [
        "a cat on a cat mat", "a dog on a dog mat", "a red fox on a red fox mat"]
    with pytest.raises(ValidationError, match="'horse' is not in the prompt"):
        plan_xy("a cat", "prompt", "horse, dog", None, None, seed=1, max_side=6)


def test_artist_and_technique_axes_use_presets_or_the_name() -> None:
    plan = plan_xy("a spoon", "artist", "Edvard Munch, Unknown Painter", "technique",
                   "oil painting", seed=1, max_side=6, catalog=CATALOG)
    assert [cell.prompt for cell in plan.cells] == [
        "a spoon, oil painting, visible brushstrokes, canvas texture, by Edvard Munch, "
        "expressionism",
        "a spoon, oil painting, visible brushstrokes, canvas texture, by Unknown Painter"]
    assert plan.cells[0].styles == ("oil-painting", "edvard-munch")
    assert plan.cells[1].styles == ("oil-painting", "Unknown Painter")


@pytest.mark.parametrize(("axis", "values", "message"), [
    ("colour", "1", "an axis must be one of steps, guidance"),
    ("steps", "5, ten", "steps values must be whole numbers or ranges"),
    ("steps", "30-10", "must go up by a positive step"),
    ("guidance", "2-14 (+0)", "must go up by a positive step"),
    ("guidance", "high", "guidance values must be numbers"),
    ("scheduler", "euler_a, fast", "scheduler must be one of euler_a"),
    ("size", "512 by 512", "sizes must look like 512x768"),
    ("seed", "1, 99999999999", "seeds must be between 0 and 4294967295"),
    ("steps", "1-7", "at most 6 values, got 7 steps values"),
    ("artist", "x" * 61, "each artist must be at most 60 characters"),
    ("technique", " , ", "give the technique values"),
])
def test_bad_values_are_named(axis: str, values: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        plan_xy("a cat", axis, values, None, None, seed=1, max_side=6)


def test_axes_must_differ_and_come_in_pairs() -> None:
    with pytest.raises(ValidationError, match="different axes, got steps twice"):
        plan_xy("a cat", "steps", "5", "steps", "10", seed=1, max_side=6)
    with pytest.raises(ValidationError, match="give both y and y_values"):
        plan_xy("a cat", "steps", "5", "guidance", None, seed=1, max_side=6)


def test_ranges_with_a_count_spread_evenly() -> None:
    assert parse_values(Axis.STEPS, "10-40 [4]", max_count=6).values == (10, 20, 30, 40)
    assert parse_values(Axis.GUIDANCE, "1.5-3 (+0.5)", max_count=6).values == (1.5, 2, 2.5, 3)


def test_styles_grid_defaults_share_the_seed_and_differ_only_in_style_words() -> None:
    plan = plan_styles("a spoon", None, None, seed=42, max_side=6, catalog=CATALOG)
    assert plan.kind is GroupKind.STYLES and (plan.rows, plan.columns) == (4, 4)
    assert plan.row_labels == DEFAULT_ARTISTS and plan.column_labels == DEFAULT_TECHNIQUES
    assert {cell.seed for cell in plan.cells} == {42}
    # Apart from the prompt's style words and the style names, the cells are the same request.
    stripped = {dataclasses.replace(cell, prompt="", styles=()) for cell in plan.cells}
    assert len(stripped) == 1
    for index, cell in enumerate(plan.cells):
        artist = CATALOG.find(DEFAULT_ARTISTS[index // 4])
        technique = CATALOG.find(DEFAULT_TECHNIQUES[index % 4])
        assert artist is not None and technique is not None
        assert cell.prompt == f"a spoon, {technique.words}, {artist.words}"


def test_styles_grid_with_one_list_is_one_row_or_one_column() -> None:
    row = plan_styles("a spoon", None, "oil painting, watercolor", seed=1, max_side=6)
    assert (row.rows, row.columns, row.row_labels) == (1, 2, None)
    column = plan_styles("a spoon", "Munch, Dalí, Picasso", None, seed=1, max_side=6)
    assert (column.rows, column.columns) == (3, 1)
    assert column.row_labels == ("Munch", "Dalí", "Picasso") and column.column_labels is None
    assert [cell.prompt for cell in column.cells] == [
        "a spoon, by Munch", "a spoon, by Dalí", "a spoon, by Picasso"]


def test_a_seven_by_seven_styles_grid_is_refused_with_the_limit() -> None:
    seven = ", ".join(f"name {i}" for i in range(7))
    with pytest.raises(ValidationError, match="at most 6 artists and 6 techniques, got 7 and 7"):
        plan_styles("a spoon", seven, seven, seed=1, max_side=6)
    with pytest.raises(ValidationError, match="each technique must be at most 60 characters"):
        plan_styles("a spoon", "Munch", "t" * 61, seed=1, max_side=6)
