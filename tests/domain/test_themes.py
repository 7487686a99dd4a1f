"""Theme merging, locked values, the 77-token warning and preset parsing: pure, no Discord."""

from __future__ import annotations

import pytest

from bot.domain import Limits, ValidationError
from bot.domain.recipe import Recipe
from bot.domain.requests import Defaults, DreamRequest
from bot.domain.themes import (
    PresetError,
    Theme,
    approximate_token_count,
    build_themed_recipe,
    check_theme,
    join_prompt,
    merge_negative,
    parse_duration,
    preset_from_dict,
    words_cut,
)

DEFAULTS = Defaults(width=512, height=512, steps=25, guidance=7.5, scheduler="euler_a")


def _build(request: DreamRequest, theme: Theme | None, **kwargs: object) -> Recipe:
    return build_themed_recipe(request, theme, defaults=DEFAULTS, limits=Limits(), model="tiny",
                               **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("prefix", "prompt", "suffix", "expected"), [
    ("a photo of a cat,", "on a sofa", "soft light", "a photo of a cat, on a sofa, soft light"),
    ("a photo of a cat, ", ", on a sofa,", ", soft light",
     "a photo of a cat, on a sofa, soft light"),
    ("  cats ,,", "  sleeping   kitten  ", "", "cats, sleeping kitten"),
    ("An abstract painting of", "hope", "cubism", "An abstract painting of, hope, cubism"),
    ("A lonely scene.", "a pier", "", "A lonely scene. a pier"),
    ("", "just me", "", "just me"),
    ("cats", "kitten\nin snow", "", "cats, kitten in snow"),
])
def test_join_prompt(prefix: str, prompt: str, suffix: str, expected: str) -> None:
    assert join_prompt(prefix, prompt, suffix) == expected


def test_joined_prompt_never_has_doubled_commas_or_spaces() -> None:
    for prefix in ("a,", "a ,", "a, ,", ",a,", "a"):
        for prompt in ("b", ", b ,", " b,,", "b , "):
            joined = join_prompt(prefix, prompt, ",c ,")
            assert ",," not in joined and ", ," not in joined and "  " not in joined
            assert joined == "a, b, c"


def test_negative_merging_keeps_the_theme_first_and_drops_duplicates() -> None:
    assert merge_negative("blurry, lowres", "Blurry, text,, watermark ") == (
        "blurry, lowres, text, watermark")
    assert merge_negative("", "text") == "text"
    assert merge_negative("blurry", "") == "blurry"


def test_theme_applied_to_a_request() -> None:
    theme = Theme(prefix="a cute photograph of a cat,", suffix="soft light",
                  negative="blurry, text", name="cats")
    recipe = _build(DreamRequest(prompt="  on a windowsill ", negative="text, dogs"), theme)
    assert recipe.prompt == "a cute photograph of a cat, on a windowsill, soft light"
    assert recipe.negative == "blurry, text, dogs"
    assert (recipe.user_prompt, recipe.theme) == ("on a windowsill", "cats")
    assert (recipe.theme_prefix, recipe.theme_suffix) == ("a cute photograph of a cat",
                                                          "soft light")
    assert recipe.notes == ()


def test_locked_values_override_the_user_with_a_note() -> None:
    theme = Theme(prefix="p", width=768, steps=20, guidance=6.0, scheduler="ddim")
    recipe = _build(DreamRequest(prompt="x", width=512, steps=20, guidance=9, scheduler="euler"),
                    theme)
    assert (recipe.width, recipe.height, recipe.steps, recipe.guidance, recipe.scheduler) == (
        768, 512, 20, 6.0, "ddim")
    assert len(recipe.notes) == 3  # steps matched: no note for it
    assert any("locks width to 768 (you asked for 512)" in note for note in recipe.notes)
    assert any("locks guidance to 6 (you asked for 9)" in note for note in recipe.notes)
    assert any("scheduler to ddim" in note for note in recipe.notes)
    # A user who asked nothing gets the locked values silently.
    quiet = _build(DreamRequest(prompt="x"), theme)
    assert quiet.notes == () and quiet.width == 768
    # A1111 sampler names count as the same scheduler.
    assert _build(DreamRequest(prompt="x", scheduler="DDIM"), theme).notes == ()


def test_user_values_are_still_validated_and_theme_text_does_not_count_against_length() -> None:
    theme = Theme(prefix="word " * 50)
    with pytest.raises(ValidationError, match="prompt must not be empty"):
        _build(DreamRequest(prompt="  "), theme)
    limits = Limits(prompt_max_chars=20)
    recipe = build_themed_recipe(DreamRequest(prompt="a short prompt"), theme, defaults=DEFAULTS,
                                 limits=limits, model="tiny")
    assert len(recipe.prompt) > 20


def test_no_theme_leaves_the_recipe_as_before() -> None:
    recipe = _build(DreamRequest(prompt="a cat"), None)
    assert recipe.prompt == "a cat" and recipe.user_prompt is None and recipe.theme is None


def _count_words(text: str) -> int:
    return len(text.split())


def test_words_past_the_77_token_window_are_named() -> None:
    words = [f"w{i}" for i in range(80)]
    assert words_cut(" ".join(words), _count_words) == words[75:]
    assert words_cut(" ".join(words[:75]), _count_words) == []
    theme = Theme(prefix=" ".join(words[:73]))
    recipe = _build(DreamRequest(prompt="a tiny red fox"), theme, count_tokens=_count_words)
    assert len(recipe.notes) == 1
    assert "77-token" in recipe.notes[0] and "red fox" in recipe.notes[0]
    assert "tiny" not in recipe.notes[0]


def test_the_pure_estimate_counts_like_clip_on_simple_text() -> None:
    assert approximate_token_count("a cat, on a sofa") == 6
    assert approximate_token_count("2024") == 4
    assert approximate_token_count("") == 0


def test_check_theme_names_bad_locked_values() -> None:
    with pytest.raises(ValidationError, match="the theme's locked width must be a multiple of 8"):
        check_theme(Theme(prefix="p", width=500), Limits())
    with pytest.raises(ValidationError, match="steps must be between 1 and 150, got 900"):
        check_theme(Theme(prefix="p", steps=900), Limits())
    with pytest.raises(ValidationError, match="prefix must not be empty"):
        check_theme(Theme(prefix=" , "), Limits())
    with pytest.raises(ValidationError, match="scheduler"):
        check_theme(Theme(prefix="p", scheduler="warp"), Limits())
    assert check_theme(Theme(prefix="p, ", scheduler="DDIM"), Limits()).scheduler == "ddim"


def test_preset_parsing_names_the_bad_key() -> None:
    good = {"title": "Cats", "prefix": "cats", "locked": {"steps": 20}, "pool": ["a {b|c}"]}
    preset = preset_from_dict(good, name="cats", limits=Limits())
    assert preset.name == "cats" and preset.theme.steps == 20 and preset.pool == ("a {b|c}",)
    cases = [
        ({**good, "prefx": "x"}, "prefx"),
        ({**good, "locked": {"width": 500}}, "locked.width"),
        ({**good, "locked": {"colour": 1}}, "locked.colour"),
        ({**good, "locked": {"steps": "many"}}, "locked.steps"),
        ({"title": "no prefix"}, "prefix"),
        ({**good, "pool": ["a {b|c"]}, "pool[0]"),
        ({**good, "pool": "one string"}, "pool"),
    ]
    for data, key in cases:
        with pytest.raises(PresetError) as caught:
            preset_from_dict(data, name="cats", limits=Limits())
        assert caught.value.key == key, (data, caught.value)


def test_theme_round_trips_through_its_stored_form() -> None:
    theme = Theme(prefix="p", suffix="s", negative="n", width=64, guidance=5.0, name="x")
    assert Theme.from_dict(theme.to_dict()) == theme


def test_recipe_with_theme_fields_round_trips_and_old_rows_still_load() -> None:
    recipe = _build(DreamRequest(prompt="x", width=64), Theme(prefix="p", width=128))
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    old = {"prompt": "a cat", "width": 64, "height": 64, "mode": "txt2img"}
    assert Recipe.from_dict(old).notes == () and Recipe.from_dict(old).theme is None


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2.5m", 150), ("0.2s", 0.2),
    (" 1h 5m ", 3900),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "m5", "5m soon"])
def test_parse_duration_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValidationError, match="every must be a duration"):
        parse_duration(text)
