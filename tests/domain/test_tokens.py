"""The 77-token window: the words it cuts are named, and the tokenizer-free estimate."""

from __future__ import annotations

from bot.domain import Limits
from bot.domain.requests import Defaults, DreamRequest
from bot.domain.themes import Theme, build_themed_recipe
from bot.domain.tokens import approximate_token_count, cut_note, words_cut


def _count_words(text: str) -> int:
    return len(text.split())


def test_words_past_the_77_token_window_are_named() -> None:
    words = [f"w{i}" for i in range(80)]
    assert words_cut(" ".join(words), _count_words) == words[75:]
    assert words_cut(" ".join(words[:75]), _count_words) == []
    theme = Theme(prefix=" ".join(words[:73]))
    recipe = build_themed_recipe(DreamRequest(prompt="a tiny red fox"), theme,
                                 defaults=Defaults(), limits=Limits(), model="tiny",
                                 count_tokens=_count_words)
    assert len(recipe.notes) == 1
    assert "77-token" in recipe.notes[0] and "red fox" in recipe.notes[0]
    assert "tiny" not in recipe.notes[0]


def test_a_word_worth_several_tokens_is_cut_where_the_window_ends() -> None:
    # Counted word by word: "aaaa" costs 4, so the window of 6 ends inside the second word.
    def by_letters(text: str) -> int:
        return len(text.replace(" ", ""))

    assert words_cut("aaaa bbbb cc", by_letters, window=6) == ["bbbb", "cc"]
    assert words_cut("aaaa bb", by_letters, window=6) == []
    # The whole text's count decides whether it fits; only then are words counted.
    assert words_cut("a b", lambda text: 9 if " " in text else 1, window=6) == []
    assert words_cut("a b", lambda text: 6 if " " in text else 4, window=6) == []


def test_the_cut_note_names_the_words_and_is_capped() -> None:
    assert cut_note(["red", "fox"]).endswith("these words will be ignored: “red fox”")
    long = cut_note(["x" * 400])  # 300 characters by default
    shown = long[long.index("“") + 1:long.index("”")]
    assert len(shown) == 300 and shown.endswith("x…")
    exact = cut_note(["x" * 300], limit=300)
    assert exact[exact.index("“") + 1:exact.index("”")] == "x" * 300


def test_the_pure_estimate_counts_like_clip_on_simple_text() -> None:
    assert approximate_token_count("a cat, on a sofa") == 6
    assert approximate_token_count("2024") == 4
    assert approximate_token_count("") == 0
    # Letters in chunks of six, a punctuation run as one, an underscore run as one.
    assert approximate_token_count("abcdefg") == 2
    assert approximate_token_count("abcdef") == 1
    assert approximate_token_count("!?!") == 1
    assert approximate_token_count("!!!!!!!") == 1
    assert approximate_token_count("a__b") == 3
