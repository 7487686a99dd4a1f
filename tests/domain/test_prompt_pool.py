"""Pool expansion: {a|b} alternatives and __wildcards__, reproducible from the seed."""

from __future__ import annotations

import pytest

from bot.domain.prompt_pool import (
    TemplateError,
    check_template,
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
