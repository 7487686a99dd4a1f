"""Blocklists: folding catches the usual tricks, whole words only, regexes guarded by shape."""

from __future__ import annotations

import pytest

from bot.domain.blocklist import Blocklist, fold, parse_rule, probe_texts
from bot.domain.errors import ValidationError


def _list(*rules: str) -> Blocklist:
    return Blocklist.of([parse_rule(rule) for rule in rules])


CAT = _list("cat", "kill", "big dog", "love", "@ss", "shit")


@pytest.mark.parametrize("prompt", [
    "a CAT", "Cat", "c.a.t", "c a t", "c-a-t", "c_a_t", "c/a/t", "ca.t", "c..a..t",
    "a c a t on a mat",                      # spelled out right after "a"
    "c\u200bat", "c\u200dat", "c\u2060a\u200ct", "c\u00adat",  # zero-width and soft hyphen
    "сat", "cαt", "ᴄᴀᴛ", "ｃａｔ", "𝐜𝐚𝐭", "ⓒⓐⓣ", "🇨🇦🇹",          # look-alikes
    "càt", "ĉăţ", "c\u0301a\u0301t",          # accents, precomposed or combining
    "c4t", "c@t",                             # leetspeak
])
def test_bypass_attempts_of_a_word_are_caught(prompt: str) -> None:
    rule = CAT.match(prompt)
    assert rule is not None and rule.text == "cat"


@pytest.mark.parametrize(("prompt", "rule"), [
    ("k1ll", "kill"), ("ki11", "kill"), ("K!LL", "kill"), ("k|ll", "kill"),
    ("1ove", "love"), ("l0ve", "love"), ("L O V E", "love"),
    ("$hit", "shit"), ("sh!t", "shit"), ("5h1t", "shit"),
    ("@ss", "@ss"), ("ass", "@ss"), ("4ss", "@ss"),
    ("a big dog", "big dog"), ("BIG   DOG", "big dog"), ("b i g d o g", "big dog"),
    ("big d.o.g", "big dog"), ("big, dog", "big dog"),
])
def test_leetspeak_and_phrases_are_caught(prompt: str, rule: str) -> None:
    found = CAT.match(prompt)
    assert found is not None and found.text == rule


@pytest.mark.parametrize("prompt", [
    "concatenate", "scatter", "cats", "a catalogue", "dog", "big", "a big red dog",
    "hello! world", "class", "glass of water", "killer whale", "skill", "beloved",
    "c at",  # two letters of a word apart is a different word, not a spelling
])
def test_whole_words_only(prompt: str) -> None:
    assert CAT.match(prompt) is None


def test_rules_fold_the_same_way_and_one_text_is_one_rule() -> None:
    assert parse_rule("C.A.T").key == parse_rule("cat").key == parse_rule("ｃａｔ").key
    assert parse_rule("k1ll").key == parse_rule("kill").key
    assert len(_list("cat", "CAT", "c a t")) == 1
    assert parse_rule("Big   Dog").tokens == ("big", "dog")


def test_fold_keeps_ascii_but_its_case() -> None:
    assert fold("A Cat, 42!") == "a cat, 42!"
    assert fold("Ｃａｔ\u200b") == "cat"


@pytest.mark.parametrize(("text", "why"), [
    ("", "must not be empty"), ("   ", "must not be empty"), ("!!!", "no letters or digits"),
    ("x" * 201, "at most 200 characters"),
    ("re:", "needs a pattern"), ("re:[", "not a valid regular expression"),
    ("re:a*", "matches an empty prompt"),
    ("re:(x)\\1", "backreferences"), ("re:(?P<a>x)(?P=a)", "backreferences"),
])
def test_bad_rules_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        parse_rule(text)


@pytest.mark.parametrize("pattern", [
    "(a+)+$", "(a*)*b", "(\\w+\\s?)*$", "(.*a){20}", "((ab)+c?)+x", "(?:a|b+)+c",
    "(a+)++", "x(?=(a+)+b)",
])
def test_nested_repetition_is_refused_when_added(pattern: str) -> None:
    with pytest.raises(ValidationError, match="repetition inside a repetition"):
        parse_rule(f"re:{pattern}")


@pytest.mark.parametrize("pattern", [
    "\\bcat(s|z)?\\b", "n[o0]pe", "(ab)+", "(a{2})+", "colou?r", "\\d{3}-\\d{4}", "(?i)dog",
])
def test_ordinary_patterns_are_accepted_and_match_folded_text(pattern: str) -> None:
    rule = parse_rule(f"re:{pattern}")
    assert rule.is_regex and rule.text == f"re:{pattern}"


def test_a_regex_sees_folded_text_with_spelled_words_joined() -> None:
    rules = _list("re:\\bn[o0]pe\\b")
    for prompt in ("NOPE", "n0pe", "n.o.p.e", "ｎｏｐｅ", "n\u200bope", "n o p e!"):
        assert rules.match(prompt) is not None, prompt
    assert rules.match("nopes") is None


def test_the_first_matching_rule_is_named_not_the_list() -> None:
    rules = _list("dog", "cat", "re:mou?se")
    found = rules.match("a cat and a dog")
    assert found is not None and found.text == "cat"  # the first in the prompt
    mouse = rules.match("a mouse")
    assert mouse is not None and mouse.text == "re:mou?se"


def test_probe_texts_are_runs_of_the_patterns_own_characters_ended_by_a_spoiler() -> None:
    texts = probe_texts("(a|aa)*c", 50)
    assert "a" * 50 + "!" in texts and "c" * 50 + "!" in texts
    assert all(len(text) <= 52 for text in texts)
    assert all(text[-1] == "!" for text in texts)  # "!" is not in the pattern
    assert probe_texts("!#~x", 10)[0][-1] == "\x00"


@pytest.mark.parametrize("second", ["re:mou?se", "re:(?i)mou?se", "re:(?P<x>mou?se)"])
def test_several_regexes_name_the_one_that_matched(second: str) -> None:
    # Combined into one alternation when they can be (a global flag or a repeated group name
    # cannot), tried one by one otherwise: the same answer either way.
    rules = _list("re:(?P<x>ca+t)", second, "dog")
    found = rules.match("a little mouse")
    assert found is not None and found.text == second
    assert rules.match("caaat") is not None
    assert rules.match("a horse") is None
