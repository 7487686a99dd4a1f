"""Pool expansion: {a|b} alternatives and __wildcards__, reproducible from the seed."""

from __future__ import annotations

import random

import pytest

from bot.domain.prompt_pool import (
    MAX_DEPTH,
    SEED_MAX,
    TemplateError,
    check_template,
    draw_seed,
    expand,
    parse_wildcard_file,
    wildcard_names,
)

WILDCARDS = {"animal": ["cat", "dog", "{red|blue} fox"], "colors/warm": ["red", "orange"]}


def test_same_seed_same_prompt_and_seeds_give_variety() -> None:
    template = "a __animal__ in a {forest|desert|city} at {dawn|dusk}, __colors/warm__ light"
    first = expand(template, WILDCARDS, 1234)
    assert expand(template, WILDCARDS, 1234) == first
    variants = {expand(template, WILDCARDS, seed) for seed in range(200)}
    assert len(variants) > 20
    for text in variants:
        assert "{" not in text and "__" not in text and "|" not in text


def test_nested_alternatives_and_wildcards_inside_wildcards() -> None:
    seen = {expand("{a {big|small}|the} __animal__", WILDCARDS, seed) for seed in range(300)}
    assert "a big red fox" in seen and "the cat" in seen and "a small blue fox" in seen


def test_unknown_wildcards_degrade_to_their_name() -> None:
    assert expand("a __unicorn_horse__", WILDCARDS, 1) == "a unicorn horse"


def test_self_referring_wildcards_stop() -> None:
    assert expand("__loop__", {"loop": ["x __loop__"]}, 3).startswith("x x x")


def test_template_checks() -> None:
    assert wildcard_names("{__a__|b} __c/d__") == {"a", "c/d"}
    check_template("a {b|c} __animal__", WILDCARDS)
    with pytest.raises(TemplateError, match="unmatched"):
        check_template("a {b|c")
    with pytest.raises(TemplateError, match="unmatched"):
        check_template("a b|c}")
    with pytest.raises(TemplateError, match="__nope__"):
        check_template("a __nope__", WILDCARDS)
    assert expand("a|b", {}, 1) == "a|b"  # a bar outside braces is text


def test_wildcard_files() -> None:
    assert parse_wildcard_file("# colours\nred\n\n  blue  \n# end\n") == ["red", "blue"]


def test_template_errors_read_exactly() -> None:
    with pytest.raises(TemplateError) as caught:
        check_template("a b}")
    assert str(caught.value) == "unmatched '}' at character 4 of 'a b}'"
    with pytest.raises(TemplateError) as caught:
        check_template("{a}b}")
    assert str(caught.value) == "unmatched '}' at character 5 of '{a}b}'"
    with pytest.raises(TemplateError) as caught:
        check_template("__nope__", WILDCARDS)
    assert str(caught.value) == "unknown wildcard __nope__ (known: animal, colors/warm)"
    with pytest.raises(TemplateError) as caught:
        check_template("__nope__", {})
    assert str(caught.value) == "unknown wildcard __nope__ (known: none)"
    check_template("__nope__")  # without the lists only the braces are checked


def test_choices_between_text_and_any_character_in_options() -> None:
    assert expand("x {a} y {b} z", {}, 1) == "x a y b z"
    assert {expand("{aX|bY}", {}, seed) for seed in range(40)} == {"aX", "bY"}
    assert {expand("{a||b}", {}, seed) for seed in range(60)} == {"a", "", "b"}
    assert {expand("{__animal__|__animal__}", {"animal": ["cat"]}, seed)
            for seed in range(5)} == {"cat"}


def test_wildcard_depth_names_and_broken_lines() -> None:
    # A self-referring list stops after MAX_DEPTH levels and names itself there.
    assert expand("__loop__", {"loop": ["x __loop__"]}, 3) == "x " * MAX_DEPTH + "loop"
    assert expand("__a/b/c_d__", {}, 1) == "c d"
    assert expand("__bad__", {"bad": ["{oops"]}, 1) == "{oops"


def test_wildcard_files_skip_indented_comments() -> None:
    assert parse_wildcard_file("  # indented\nred # not a comment\n") == ["red # not a comment"]


def test_draw_seed_uses_the_given_generator_over_the_whole_range() -> None:
    assert draw_seed(random.Random(5)) == random.Random(5).randint(0, SEED_MAX)
    assert 0 <= draw_seed() <= SEED_MAX
