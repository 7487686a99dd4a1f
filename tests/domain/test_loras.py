"""LoRA tags in A1111's syntax: parsing, stripping, resolving with close matches, the PNG field."""

from __future__ import annotations

import pytest

from bot.domain.a1111 import format_parameters, parse_parameters
from bot.domain.errors import ValidationError
from bot.domain.loras import (
    complete_lora,
    find_loras,
    lora_hashes_text,
    resolve_loras,
    strip_loras,
    with_loras,
)
from bot.domain.recipe import Recipe


class Shelf:
    """The installed LoRAs, as LoraFiles shows them; ``later`` appear on refresh."""

    def __init__(self, names: list[str], later: list[str] | None = None) -> None:
        self._names, self._later, self.refreshed = names, later or [], 0

    def names(self) -> list[str]:
        return list(self._names)

    def refresh(self) -> None:
        self.refreshed += 1
        self._names += self._later


SHELF = ["pixel-art", "Ink_Wash", "add_detail v2"]


@pytest.mark.parametrize(("text", "found"), [
    ("a cat <lora:pixel-art:0.8>", [("pixel-art", 0.8)]),
    ("<lora:pixel-art>, a cat", [("pixel-art", 1.0)]),
    ("<LORA:add_detail v2:-0.5> x", [("add_detail v2", -0.5)]),
    ("<lora:a:0.2> <lora:b:1> <lora:a:0.6>", [("b", 1.0), ("a", 0.6)]),  # the last one counts
    ("no tags <here>", []),
])
def test_find_loras(text: str, found: list[tuple[str, float]]) -> None:
    assert find_loras(text) == found


@pytest.mark.parametrize(("text", "needle"), [
    ("<lora:x:heavy>", "the weight of <lora:x:heavy> must be a number, like <lora:x:0.8>"),
    ("<lora:x:9>", "the weight of <lora:x:9> must be between -4 and 4"),
    ("<lora::1>", "a <lora:...> tag needs a name"),
    ("<lora:x:0.8:0.5>", "gives 2 weights; this bot takes one"),
    (" ".join(f"<lora:l{i}>" for i in range(9)), "at most 8 LoRAs, got 9"),
])
def test_bad_tags_are_named(text: str, needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        find_loras(text)
    assert needle in str(caught.value)


@pytest.mark.parametrize(("text", "encoder"), [
    ("a cat <lora:pixel-art:0.8>", "a cat"),
    ("<lora:pixel-art:0.8>, a cat, in snow", "a cat, in snow"),
    ("a cat, <lora:x>, <lora:y:0.3>, snow", "a cat, snow"),
    ("a  cat,,  no tags", "a  cat,,  no tags"),  # untouched without a tag
])
def test_strip_loras_leaves_the_words(text: str, encoder: str) -> None:
    assert strip_loras(text) == encoder


def test_resolve_matches_installed_names_case_insensitively() -> None:
    assert resolve_loras([("ink_wash", 0.7)], Shelf(SHELF)) == (("Ink_Wash", 0.7),)


def test_unknown_lora_names_close_matches() -> None:
    with pytest.raises(ValidationError) as caught:
        resolve_loras([("pixelart", 1.0)], Shelf(SHELF))
    assert str(caught.value) == ("unknown LoRA 'pixelart'; did you mean pixel-art? "
                                 "(see /models for the list)")


def test_unknown_lora_without_close_match_says_so() -> None:
    with pytest.raises(ValidationError, match="none is installed by that name or a similar"):
        resolve_loras([("zzzz", 1.0)], Shelf(SHELF))


def test_a_file_added_later_is_found_after_one_refresh() -> None:
    shelf = Shelf(SHELF, later=["new-style"])
    assert resolve_loras([("new-style", 1.0)], shelf) == (("new-style", 1.0),)
    assert shelf.refreshed == 1
    resolve_loras([("pixel-art", 1.0)], shelf)
    assert shelf.refreshed == 1  # known names cost no look at the disk


def test_no_lora_folders_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match=r"this bot has no LoRAs \(\[loras\] dirs is empty"):
        resolve_loras([("x", 1.0)], None)


def test_with_loras_reads_the_final_prompt_with_the_theme_prefix() -> None:
    themed = Recipe(prompt="<lora:Ink_Wash:0.6>, ink drawing, a cat <lora:pixel-art:0.3>")
    recipe = with_loras(themed, Shelf(SHELF))
    assert recipe.loras == (("Ink_Wash", 0.6), ("pixel-art", 0.3))
    assert recipe.prompt == themed.prompt  # the tags stay in the recorded prompt, as in A1111
    plain = Recipe(prompt="a cat")
    assert with_loras(plain, None) is plain


def test_tags_in_the_negative_are_refused() -> None:
    with pytest.raises(ValidationError, match="belong in the prompt"):
        with_loras(Recipe(prompt="x", negative="<lora:x:1>"), Shelf(SHELF))


def test_png_text_carries_lora_hashes_as_a1111_does() -> None:
    recipe = Recipe(prompt="a cat <lora:pixel-art:0.8>", seed=1, loras=(("pixel-art", 0.8),),
                    lora_hashes=(("pixel-art", "9c2d61985022"), ("Ink_Wash", "0123456789ab")))
    text = format_parameters(recipe)
    assert text.splitlines()[-1].endswith(
        'Lora hashes: "pixel-art: 9c2d61985022, Ink_Wash: 0123456789ab"')
    parsed = parse_parameters(text)
    assert parsed["prompt"] == "a cat <lora:pixel-art:0.8>"
    assert parsed["Lora hashes"] == "pixel-art: 9c2d61985022, Ink_Wash: 0123456789ab"
    assert "Lora hashes" not in format_parameters(Recipe(prompt="a cat", seed=1))


def test_lora_hashes_text() -> None:
    assert lora_hashes_text([("a", "1"), ("b", "2")]) == "a: 1, b: 2"


def test_autocomplete_completes_the_open_tag() -> None:
    names = ["pixel-art", "Ink_Wash", "pixel-dream", "no-pixel"]
    assert complete_lora("a cat <lora:pix", names) == [
        "a cat <lora:pixel-art:1>", "a cat <lora:pixel-dream:1>", "a cat <lora:no-pixel:1>"]
    assert complete_lora("a cat", names) == []
    assert complete_lora("a cat <lora:pixel-art:1>", names) == []
    assert len(complete_lora("<lora:", [f"l{i}" for i in range(40)])) == 25
