"""What users type is normalised before it is validated: no invisible prompt, no control bytes."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Limits, Recipe, ValidationError, validate_recipe
from bot.domain.a1111 import format_parameters, parse_parameters
from bot.domain.text import is_invisible, normalise_text
from bot.domain.themes import PresetError, Theme, check_theme, preset_from_dict

BASE = Recipe(prompt="a lighthouse")

INVISIBLE = [
    "\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad",  # zero-width, BOM, soft hyphen
    "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\u061c",  # bidi controls
    "\x00", "\x01", "\x1b", "\x7f", "\x9f",  # C0, DEL, C1
    "\ud800",  # a lone surrogate (JSON can carry one; UTF-8 cannot encode it)
    "\u034f", "\u115f", "\u1160", "\u17b4", "\u17b5", "\u180b", "\u180f", "\u3164", "\ufe00",
    "\ufe0f", "\uffa0", "\ufff0", "\ufff8", "\U000e0001", "\U000e0041", "\U000e0fff",
]


@pytest.mark.parametrize("char", INVISIBLE)
def test_each_invisible_or_control_character_is_removed(char: str) -> None:
    assert is_invisible(char)
    assert normalise_text(f"a{char}b") == "ab"


@pytest.mark.parametrize("char", ["a", "é", "猫", "😀", "\u2800", "\ue000", "\U000f0000"])
def test_visible_characters_are_kept(char: str) -> None:
    assert normalise_text(f"a{char}b") == f"a{char}b"


# The neighbours of each ignorable range stay (NFKC may still change some of them).
@pytest.mark.parametrize("char", ["\u0301", "\u034e", "\u0350", "\u115e", "\u1161", "\u17b3",
                                  "\u17b6", "\u180a", "\u3163", "\u3165", "\ufdff", "\ufe10",
                                  "\uff9f", "\uffa1", "\uffef", "\U000dffff", "\U000e1000"])
def test_the_neighbours_of_the_ignorable_ranges_are_visible(char: str) -> None:
    assert not is_invisible(char)


def test_nfkc_line_breaks_and_spaces() -> None:
    assert normalise_text("ｆｕｌｌ ｗｉｄｔｈ ﬁsh") == "full width fish"
    assert normalise_text("e\u200b\u0301") == "\u00e9"  # composed once the ZWSP is gone
    assert normalise_text("a\nb\tc\r\nd\re\u2028f\u00a0g") == "a b c d e f g"
    assert normalise_text("two  spaces stay ") == "two  spaces stay "


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalising_is_idempotent_and_leaves_nothing_invisible(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once
    assert not any(is_invisible(char) or (char.isspace() and char != " ") for char in once)


@pytest.mark.parametrize("prompt", ["\u200b", "\u200b\u200c\u200d\ufeff", "\x00\x00",
                                    "\u202e \u2066", " \ufe0f\n"])
def test_a_prompt_of_only_invisible_characters_is_refused_saying_why(prompt: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_recipe(dataclasses.replace(BASE, prompt=prompt), Limits())
    assert str(caught.value) == ("prompt must not be empty (it held only invisible or control "
                                 "characters)")


def test_a_blank_prompt_is_refused_plainly() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_recipe(dataclasses.replace(BASE, prompt=" \n "), Limits())
    assert str(caught.value) == "prompt must not be empty"


def test_prompt_and_negative_are_normalised_and_lengths_counted_after() -> None:
    typed = " a\x00 cat\u200b\non a sofa "
    recipe = validate_recipe(Recipe(prompt=typed, negative="\ufeffblurry,\x07 text\u202e"),
                             Limits(prompt_max_chars=15))
    assert (recipe.prompt, recipe.negative) == ("a cat on a sofa", "blurry, text")
    assert len(typed) > 15


def test_theme_text_is_normalised_and_an_invisible_prefix_is_refused() -> None:
    theme = check_theme(Theme(prefix="\u200bcats\x00,\n", suffix="soft\u00a0light\u202e",
                              negative="blurry,\u200d text"), Limits())
    assert (theme.prefix, theme.suffix, theme.negative) == ("cats", "soft light", "blurry, text")
    with pytest.raises(ValidationError) as caught:
        check_theme(Theme(prefix="\u200b\u200d"), Limits())
    assert str(caught.value) == ("the theme's prefix must not be empty (it held only invisible "
                                 "or control characters)")
    with pytest.raises(ValidationError) as caught:
        check_theme(Theme(prefix=" , "), Limits())
    assert str(caught.value) == "the theme's prefix must not be empty"
    with pytest.raises(PresetError) as preset_error:
        preset_from_dict({"prefix": "\x00"}, name="x", limits=Limits())
    assert preset_error.value.key == "prefix"


def test_no_control_character_reaches_the_png_metadata() -> None:
    # A recipe that skipped validation (an old database row) still writes clean metadata.
    raw = Recipe(prompt="a\x00 cat\u200b\nNegative prompt: x", negative="dog\x1b[31m\r\nred",
                 seed=1)
    text = format_parameters(raw)
    lines = text.split("\n")
    assert len(lines) == 3
    assert not any(is_invisible(char) for char in text.replace("\n", ""))
    parsed = parse_parameters(text)
    assert parsed["prompt"] == "a cat Negative prompt: x"
    assert parsed["negative"] == "dog[31m red"
