"""The command tree removes lone surrogates from string options before any command sees them."""

from __future__ import annotations

from bot.client.tree import clean_options, without_surrogates


def test_lone_surrogates_are_removed_from_string_options_at_every_depth() -> None:
    options = [
        {"name": "add", "type": 1, "options": [
            {"name": "rule", "type": 3, "value": "c\ud800a\udfffat"},
            {"name": "count", "type": 4, "value": 3}]},
        {"name": "prompt", "type": 3, "value": "a 🐱 cat"},  # a real astral character stays
    ]
    clean_options(options)
    assert options[0]["options"][0]["value"] == "caat"
    assert options[0]["options"][1]["value"] == 3
    assert options[1]["value"] == "a 🐱 cat"
    # The cleaned text can be written as UTF-8 (the database, the log, a reply).
    options[0]["options"][0]["value"].encode("utf-8")


def test_text_without_surrogates_is_returned_as_is() -> None:
    text = "a lighthouse at dusk"
    assert without_surrogates(text) is text
