"""A theme and the user's words must fit prompt_max_chars together, checked before queueing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Limits, ValidationError, validate_recipe
from bot.domain.requests import Defaults, DreamRequest
from bot.domain.themes import (
    MIN_USER_CHARS,
    PresetError,
    Theme,
    build_themed_recipe,
    check_theme,
    negative_room,
    preset_from_dict,
    prompt_room,
)


def _build(request: DreamRequest, theme: Theme, limits: Limits):  # type: ignore[no-untyped-def]
    return build_themed_recipe(request, theme, defaults=Defaults(), limits=limits, model="tiny")


def test_the_issues_theme_of_two_full_500_character_parts_is_refused() -> None:
    # The reported case: every /dream in the channel was queued, then failed in the engine.
    with pytest.raises(ValidationError, match=r"would leave users 0 characters .* at least 100 "
                                              r"must remain: shorten them by 104"):
        check_theme(Theme(prefix="p" * 500, suffix="s" * 500), Limits(prompt_max_chars=1000))


def test_the_room_is_the_limit_less_each_part_and_its_joiner() -> None:
    theme = Theme(prefix="ab", suffix="cde", negative="x, y")
    assert prompt_room(theme, 100) == 100 - (2 + 2) - (3 + 2)
    assert prompt_room(Theme(prefix="ab"), 100) == 96
    assert negative_room(theme, 100) == 100 - (4 + 2)
    assert negative_room(Theme(prefix="ab"), 100) == 100
    # Counted on the text as it will be used: tidied, normalised.
    assert prompt_room(Theme(prefix=" ab ,\u200b", suffix=" , "), 100) == 96


def test_words_that_use_the_whole_room_fit_and_one_more_is_refused_before_queueing() -> None:
    limits = Limits(prompt_max_chars=60)
    theme = Theme(prefix="a" * 20, suffix="b" * 10)
    room = prompt_room(theme, 60)
    assert room == 60 - 22 - 12 == 26
    fits = _build(DreamRequest(prompt="w" * room), theme, limits)
    assert len(fits.prompt) == 60 and fits.user_prompt == "w" * room
    validate_recipe(fits, limits)  # what the engine checks again later
    with pytest.raises(ValidationError) as caught:
        _build(DreamRequest(prompt="w" * (room + 1)), theme, limits)
    assert str(caught.value) == ("prompt is too long for this channel's theme: you have 26 "
                                 "characters here (the theme uses 34 of the 60), got 27")


def test_a_stored_theme_that_leaves_no_room_says_so() -> None:
    # Themes stored before the rule existed are not re-checked: the request says what is wrong.
    theme = Theme(prefix="p" * 50, suffix="s" * 10)  # 64 characters with their joiners
    for max_chars in (64, 60):
        with pytest.raises(ValidationError) as caught:
            _build(DreamRequest(prompt="cat"), theme, Limits(prompt_max_chars=max_chars))
        assert str(caught.value) == (
            f"this channel's theme leaves no room for your prompt (it uses 64 of the {max_chars} "
            "characters a prompt may have): ask a moderator to shorten it with /theme set")
    # One character of room is room: the message says how much.
    with pytest.raises(ValidationError, match="you have 1 characters here"):
        _build(DreamRequest(prompt="cat"), theme, Limits(prompt_max_chars=65))


def test_the_merged_negative_must_fit_too() -> None:
    limits = Limits(prompt_max_chars=30)
    theme = Theme(prefix="p", negative="blurry, lowres")  # 14 characters + ", " leave 14
    assert negative_room(theme, 30) == 14
    fits = _build(DreamRequest(prompt="cat", negative="x" * 14), theme, limits)
    assert fits.negative == "blurry, lowres, " + "x" * 14
    # A term the theme already has costs nothing.
    assert _build(DreamRequest(prompt="cat", negative="Blurry, " + "x" * 14), theme,
                  limits).negative == fits.negative
    with pytest.raises(ValidationError) as caught:
        _build(DreamRequest(prompt="cat", negative="x" * 7 + ",a,b,c,d"), theme, limits)
    assert str(caught.value) == ("negative prompt is too long for this channel's theme: with its "
                                 "negative terms you have 14 characters here (of the 30), got 19")
    crowded = Theme(prefix="p", negative="n" * 40)
    with pytest.raises(ValidationError, match="you have 0 characters here"):
        _build(DreamRequest(prompt="cat", negative="dog"), crowded, limits)


@pytest.mark.parametrize(("max_chars", "need"), [(1000, MIN_USER_CHARS), (120, 60), (60, 30)])
def test_check_theme_needs_the_minimum_room_exactly(max_chars: int, need: int) -> None:
    limits = Limits(prompt_max_chars=max_chars)
    total = max_chars - need - 4  # prefix and suffix, each with its ", ", leave exactly `need`
    check_theme(Theme(prefix="p" * (total // 2), suffix="s" * (total - total // 2)), limits)
    with pytest.raises(ValidationError) as caught:
        check_theme(Theme(prefix="p" * (total // 2 + 1), suffix="s" * (total - total // 2)),
                    limits)
    assert str(caught.value) == (
        f"the theme's prefix and suffix would leave users {need - 1} characters for their own "
        f"words (a prompt has at most {max_chars}, joiners included); at least {need} must "
        "remain: shorten them by 1")


@pytest.mark.parametrize(("max_chars", "need"), [(120, 60), (60, 30)])
def test_check_theme_needs_the_minimum_negative_room_exactly(max_chars: int, need: int) -> None:
    limits = Limits(prompt_max_chars=max_chars)
    check_theme(Theme(prefix="p", negative="n" * (max_chars - need - 2)), limits)
    with pytest.raises(ValidationError) as caught:
        check_theme(Theme(prefix="p", negative="n" * (max_chars - need - 1)), limits)
    assert str(caught.value) == (
        f"the theme's negative would leave users {need - 1} characters for their own negative "
        f"terms (at most {max_chars}); at least {need} must remain: shorten it by 1")


def test_presets_go_through_the_same_check_naming_the_key() -> None:
    limits = Limits(prompt_max_chars=200)
    with pytest.raises(PresetError) as caught:
        preset_from_dict({"prefix": "p" * 150}, name="long", limits=limits)
    assert caught.value.key == "prefix" and "would leave users 48 characters" in str(caught.value)
    with pytest.raises(PresetError) as caught:
        preset_from_dict({"prefix": "p", "negative": "n" * 150}, name="long", limits=limits)
    assert caught.value.key == "negative"


_TEXT = st.text(st.characters(codec="utf-8"), max_size=80)


@settings(max_examples=200, deadline=None)
@given(prefix=_TEXT, suffix=_TEXT, negative=_TEXT, words=_TEXT, user_negative=_TEXT,
       max_chars=st.integers(20, 200))
def test_whatever_passes_both_checks_passes_the_engines(prefix: str, suffix: str, negative: str,
                                                        words: str, user_negative: str,
                                                        max_chars: int) -> None:
    limits = Limits(prompt_max_chars=max_chars)
    try:
        theme = check_theme(Theme(prefix=prefix, suffix=suffix, negative=negative), limits)
        recipe = _build(DreamRequest(prompt=words, negative=user_negative), theme, limits)
    except ValidationError:
        return
    assert validate_recipe(recipe, limits) == recipe


def test_a_negative_past_the_whole_limit_leaves_users_nothing() -> None:
    with pytest.raises(ValidationError) as caught:
        check_theme(Theme(prefix="p", negative="n" * 70), Limits(prompt_max_chars=60))
    assert str(caught.value) == (
        "the theme's negative would leave users 0 characters for their own negative terms (at "
        "most 60); at least 30 must remain: shorten it by 42")
