"""``/prompt tips`` and ``/prompt check``: the advice and the report. Pure."""

from __future__ import annotations

from bot.domain.prompt_craft import TIPS, check_prompt
from bot.domain.recipe import Recipe
from bot.render.texts import DISCORD_MESSAGE_LIMIT


def test_tips_fit_a_message_and_hold_the_worked_examples() -> None:
    assert len(TIPS) <= DISCORD_MESSAGE_LIMIT
    assert "`a girl`" in TIPS and "`portrait of a beautiful girl`" in TIPS
    assert TIPS.index("`a girl`") < TIPS.index("`portrait of a beautiful girl`") \
        < TIPS.index("`portrait of a beautiful girl with red hair")
    for word in ("steps", "guidance", "seed", "negative", "technique", "artist", "period"):
        assert word in TIPS.lower(), word


def test_a_portrait_at_a_wide_size_is_warned() -> None:
    wide = check_prompt(Recipe("portrait of a beautiful girl, oil painting", width=1024,
                               height=512), "portrait of a beautiful girl, oil painting",
                        usual_size=512)
    assert any("portrait at a wide size (1024×512)" in warning for warning in wide.warnings)
    square = check_prompt(Recipe("portrait of a beautiful girl, oil painting", width=512,
                                 height=512), "portrait of a beautiful girl, oil painting")
    assert square.warnings == ()


def test_long_prompt_reports_tokens_and_the_words_cut() -> None:
    # The estimate: 2 tokens per "lighthouse", 1 for "stormy" and "night", 2 for "harbour".
    words = " ".join(["lighthouse"] * 37 + ["stormy", "harbour", "night"])
    report = check_prompt(Recipe(words), words)
    assert report.tokens == 78 and report.window == 75 and not report.exact
    assert report.cut == ("harbour", "night")
    assert any("past the 75-token window" in warning for warning in report.warnings)


def test_the_model_tokenizer_counts_when_given() -> None:
    report = check_prompt(Recipe("a b c"), "a b c", count_tokens=lambda text: 100 * len(text))
    assert report.exact and report.tokens == 500 and report.cut


def test_negation_short_prompt_few_steps_and_high_guidance_are_warned() -> None:
    report = check_prompt(Recipe("a cat with no hat", steps=4, guidance=20), "a cat with no hat")
    text = " | ".join(report.warnings)
    assert "“no hat”" in text and "negative" in text
    assert "4 steps is very few" in text and "guidance 20 is high" in text
    short = check_prompt(Recipe("a girl"), "a girl")
    assert any("short prompt" in warning for warning in short.warnings)
    styled = check_prompt(Recipe("a girl, sepia", styles=("sepia",)), "a girl")
    assert not any("short prompt" in warning for warning in styled.warnings)
