"""Style presets: file parsing, chaining, close matches, autocomplete. Pure, no Discord."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.errors import UserError
from bot.domain.requests import DreamRequest
from bot.domain.styles import (
    AUTOCOMPLETE_LIMIT,
    CHOICE_MAX,
    Style,
    StyleCatalog,
    StyleFileError,
    StyleKind,
    apply_styles,
    fold,
    styles_from_dict,
)
from bot.services.craft import BUILTIN_STYLES


def _shipped() -> StyleCatalog:
    catalog = StyleCatalog()
    for path in sorted(BUILTIN_STYLES.glob("*.toml")):
        catalog.add(styles_from_dict(tomllib.loads(path.read_text(encoding="utf-8"))))
    return catalog


CATALOG = _shipped()


def test_shipped_presets_cover_every_kind_and_the_seed_artists() -> None:
    kinds = {style.kind for style in CATALOG.styles.values()}
    assert kinds == set(StyleKind)
    for name in ("Edvard Munch", "Pablo Picasso", "Salvador Dalí", "Vincent van Gogh",
                 "oil painting", "watercolor", "pastel drawing", "pencil sketch", "sepia",
                 "trending on artstation", "8k", "unreal engine"):
        assert CATALOG.find(name) is not None, name
    # Every artist says its movement and period.
    assert all(style.note for style in CATALOG.styles.values() if style.kind is StyleKind.ARTIST)


def test_find_by_name_title_accents_or_surname() -> None:
    dali = CATALOG.styles["salvador-dali"]
    for typed in ("salvador-dali", "Salvador Dalí", "SALVADOR DALI", "dali", "Dalí"):
        assert CATALOG.find(typed) == dali, typed
    assert CATALOG.find("van gogh") == CATALOG.styles["vincent-van-gogh"]
    assert CATALOG.find("ivan") is None  # two Ivans: ambiguous, not a guess


def test_resolve_chains_with_commas_in_order_without_repeats() -> None:
    styles = CATALOG.resolve(" oil-painting ,, munch, sepia, oil painting")
    assert [style.name for style in styles] == ["oil-painting", "edvard-munch", "sepia"]


@pytest.mark.parametrize(("typed", "named"), [("van gog", "vincent-van-gogh"),
                                              ("picaso", "pablo-picasso"),
                                              ("watercolour", "watercolor"),
                                              ("ivan", "ivan-shishkin")])
def test_unknown_style_names_close_matches(typed: str, named: str) -> None:
    with pytest.raises(UserError, match=f"no style called '{typed}'.*{named}"):
        CATALOG.resolve(f"oil-painting, {typed}")


def test_unknown_style_without_close_match_says_where_to_look() -> None:
    with pytest.raises(UserError, match="'xyzzy'; /dream style: suggests"):
        CATALOG.resolve("xyzzy")


def test_apply_styles_appends_words_after_the_prompt_and_records_names() -> None:
    request = apply_styles(DreamRequest(prompt="a spoon", negative="blurry",
                                        style="pencil-sketch, edvard-munch"), CATALOG)
    assert request.prompt == ("a spoon, pencil sketch, graphite, cross-hatching, sketchbook, "
                              "by Edvard Munch, expressionism")
    assert request.negative == "blurry, color, colour"
    assert request.styles == ("pencil-sketch", "edvard-munch")
    assert request.style is None


def _matches(style: Style, typed: str) -> bool:
    wanted = fold(typed)
    return any(wanted in fold(key) for key in (style.name, style.title))


def test_autocomplete_for_every_prefix_of_every_preset_name() -> None:
    """≤ 25 suggestions, each matching what was typed, for every prefix; the full name is the
    first suggestion."""
    for style in CATALOG.styles.values():
        for end in range(len(style.name) + 1):
            typed = style.name[:end]
            suggestions = CATALOG.suggest(typed)
            assert 0 < len(suggestions) <= AUTOCOMPLETE_LIMIT, typed
            for label, value in suggestions:
                assert _matches(CATALOG.styles[value], typed), (typed, value)
                assert len(label) <= CHOICE_MAX and len(value) <= CHOICE_MAX
        assert CATALOG.suggest(style.name)[0][1] == style.name


def test_autocomplete_completes_the_last_of_a_chain_grouped_by_kind() -> None:
    suggestions = CATALOG.suggest("oil-painting, van")
    assert suggestions[0] == (
        "oil-painting + Artist · Vincent van Gogh — Post-Impressionism, 1880s",
        "oil-painting, vincent-van-gogh")
    kinds = [CATALOG.styles[value].kind for _, value in CATALOG.suggest("")]
    assert kinds == sorted(kinds, key=list(StyleKind).index)  # grouped: techniques first
    assert all(value.split(", ")[-1] != "oil-painting"
               for _, value in CATALOG.suggest("oil-painting, oil"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_autocomplete_never_passes_discord_limits(typed: str) -> None:
    suggestions = CATALOG.suggest(typed)
    assert len(suggestions) <= AUTOCOMPLETE_LIMIT
    assert all(len(label) <= CHOICE_MAX and len(value) <= CHOICE_MAX
               for label, value in suggestions)


def test_style_file_errors_name_the_key() -> None:
    with pytest.raises(StyleFileError, match=r"^kind: must be one of"):
        styles_from_dict({"kind": "colour", "styles": {"x": {"words": "x"}}})
    with pytest.raises(StyleFileError, match=r"^styles\.bad\.wrods: unknown key"):
        styles_from_dict({"kind": "modifier", "styles": {"ok": {"words": "x"},
                                                         "bad": {"words": "y", "wrods": 1}}})
    with pytest.raises(StyleFileError, match=r"^styles\.empty\.words: is required"):
        styles_from_dict({"kind": "modifier", "styles": {"empty": {"words": "  "}}})
    with pytest.raises(StyleFileError, match=r"^styles\.Bad Name: a name is"):
        styles_from_dict({"kind": "modifier", "styles": {"Bad Name": {"words": "x"}}})


def test_a_later_style_replaces_one_of_the_same_name() -> None:
    catalog = StyleCatalog()
    catalog.add(styles_from_dict({"kind": "modifier", "styles": {"sepia": {"words": "sepia"}}}))
    catalog.add(styles_from_dict({"kind": "modifier",
                                  "styles": {"sepia": {"words": "sepia toned, warm"}}}))
    assert catalog.resolve("sepia")[0].words == "sepia toned, warm"
