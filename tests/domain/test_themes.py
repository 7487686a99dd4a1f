"""Theme merging, locked values, the 77-token warning and preset parsing: pure, no Discord."""

from __future__ import annotations

import pytest

from bot.domain import Limits, ValidationError
from bot.domain.recipe import Recipe
from bot.domain.requests import Defaults, DreamRequest
from bot.domain.themes import (
    Preset,
    PresetError,
    Theme,
    build_themed_recipe,
    check_theme,
    describe_duration,
    join_prompt,
    merge_negative,
    parse_duration,
    preset_from_dict,
    split_terms,
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


def test_user_values_are_still_validated() -> None:
    theme = Theme(prefix="word " * 50)
    with pytest.raises(ValidationError, match="prompt must not be empty"):
        _build(DreamRequest(prompt="  "), theme)


def test_no_theme_leaves_the_recipe_as_before() -> None:
    recipe = _build(DreamRequest(prompt="a cat"), None)
    assert recipe.prompt == "a cat" and recipe.user_prompt is None and recipe.theme is None


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


def test_a_full_preset_keeps_every_field() -> None:
    data = {"name": "my-cats", "title": "My cats", "description": "Cats, softly.",
            "prefix": "cats,", "suffix": " soft light", "negative": "blurry,, text",
            "locked": {"width": 640, "height": 384, "steps": 20, "guidance": 6,
                       "scheduler": "DDIM"},
            "pool": ["  a {b|c} __colour__ "]}
    preset = preset_from_dict(data, name="file-stem", limits=Limits(),
                              wildcards={"colour": ["red"]})
    assert preset == Preset(
        theme=Theme(prefix="cats", suffix="soft light", negative="blurry, text", width=640,
                    height=384, steps=20, guidance=6.0, scheduler="ddim", name="my-cats"),
        title="My cats", description="Cats, softly.", pool=("a {b|c} __colour__",))
    assert isinstance(preset.theme.guidance, float)
    bare = preset_from_dict({"prefix": "p"}, name="city-oil", limits=Limits())
    assert (bare.name, bare.title, bare.description, bare.pool) == ("city-oil", "City oil", "",
                                                                    ())


_GOOD = {"prefix": "p"}


@pytest.mark.parametrize(("data", "message"), [
    ({**_GOOD, "prefx": "x"}, "prefx: unknown key (known keys: name, title, description, "
                              "prefix, suffix, negative, locked, pool, model)"),
    ({**_GOOD, "name": "Big Cats"}, "name: must be lower-case letters, digits, - or _ (at most "
                                    "50), got 'Big Cats'"),
    ({**_GOOD, "locked": 3}, "locked: must be a table, got 3"),
    ({**_GOOD, "locked": {"colour": 1}}, "locked.colour: unknown key (lockable: width, height, "
                                         "steps, guidance, scheduler)"),
    ({**_GOOD, "locked": {"width": "wide"}}, "locked.width: must be a whole number, got 'wide'"),
    ({**_GOOD, "locked": {"height": True}}, "locked.height: must be a whole number, got True"),
    ({**_GOOD, "locked": {"steps": 2.5}}, "locked.steps: must be a whole number, got 2.5"),
    ({**_GOOD, "locked": {"guidance": "high"}}, "locked.guidance: must be a number, "
                                                "got 'high'"),
    ({**_GOOD, "locked": {"guidance": True}}, "locked.guidance: must be a number, got True"),
    ({**_GOOD, "locked": {"guidance": 31}}, "locked.guidance: the theme's locked guidance must "
                                            "be between 0.0 and 30.0, got 31"),
    ({**_GOOD, "locked": {"height": 4000}}, "locked.height: the theme's locked height must be "
                                            "between 64 and 1024, got 4000"),
    ({**_GOOD, "locked": {"scheduler": "warp"}}, "locked.scheduler: the theme's scheduler must "
                                                 "be one of euler_a, euler, dpm++_2m, "
                                                 "dpm++_2m_karras, ddim, pndm, lms, heun, unipc, "
                                                 "lcm, tcd, got 'warp'"),
    ({"title": "no prefix"}, "prefix: is required"),
    ({"prefix": 3}, "prefix: must be a string, got 3"),
    ({"prefix": "  "}, "prefix: must not be empty"),
    ({**_GOOD, "suffix": "s" * 501}, "suffix: the theme's suffix must be at most 500 characters, "
                                     "got 501"),
    ({**_GOOD, "title": 5}, "title: must be a string, got 5"),
    ({**_GOOD, "pool": "one string"}, "pool: must be a list of non-empty strings"),
    ({**_GOOD, "pool": ["a", " "]}, "pool: must be a list of non-empty strings"),
    ({**_GOOD, "pool": [1]}, "pool: must be a list of non-empty strings"),
    ({**_GOOD, "pool": ["a", "b {c"]}, "pool[1]: unmatched '{' in 'b {c'"),
    ({**_GOOD, "pool": ["__nope__"]}, "pool[0]: unknown wildcard __nope__ (known: colour)"),
])
def test_each_preset_problem_is_named_exactly(data: dict[str, object], message: str) -> None:
    with pytest.raises(PresetError) as caught:
        preset_from_dict(data, name="cats", limits=Limits(), wildcards={"colour": ["red"]})
    assert str(caught.value) == message
    assert caught.value.key == message.split(":")[0]


def test_check_theme_tidies_each_text_its_own_way() -> None:
    theme = check_theme(Theme(prefix=" a,,b ,", suffix=", c,,d", negative="e,,f ,"), Limits())
    # The prompt's parts keep their inner commas; the negative is a list of terms.
    assert (theme.prefix, theme.suffix, theme.negative) == ("a,,b", "c,,d", "e, f")
    assert split_terms("a b, c") == ["a b", "c"]


def test_check_theme_checks_locked_values_against_the_limits_not_the_defaults() -> None:
    small = Limits(width_max=256, height_max=256, guidance_max=5.0)
    assert check_theme(Theme(prefix="p"), small) == Theme(prefix="p")
    with pytest.raises(ValidationError, match=r"locked guidance must be between 0\.0 and 5\.0"):
        check_theme(Theme(prefix="p", guidance=7.5), small)
    locked = check_theme(Theme(prefix="p", guidance=6), Limits())
    assert locked.guidance == 6.0 and isinstance(locked.guidance, float)


def test_a_locked_guidance_equal_up_to_rounding_gives_no_note() -> None:
    theme = Theme(prefix="p", guidance=0.3)
    assert _build(DreamRequest(prompt="x", guidance=0.1 + 0.2), theme).notes == ()
    assert _build(DreamRequest(prompt="x", guidance=0.4), theme).notes != ()


def test_an_unthemed_request_is_built_with_its_model_and_its_cut_note() -> None:
    recipe = build_themed_recipe(DreamRequest(prompt="one two three"), None, defaults=DEFAULTS,
                                 limits=Limits(), model="sd15",
                                 count_tokens=lambda text: len(text.split()) * 40)
    assert recipe.model == "sd15"
    assert len(recipe.notes) == 1 and "“two three”" in recipe.notes[0]


@pytest.mark.parametrize(("seconds", "text"), [
    (45, "45 s"), (59.5, "59.5 s"), (0.2, "0.2 s"), (60, "1 min"), (90, "2 min"),
    (300, "5 min"), (3540, "59 min"), (3599, "1 h"), (3600, "1 h"), (5400, "1 h 30 min"),
    (7200, "2 h"), (7260, "2 h 1 min"),
])
def test_describe_duration(seconds: float, text: str) -> None:
    assert describe_duration(seconds) == text


def test_durations_ignore_case() -> None:
    assert parse_duration("1H30M") == 5400
