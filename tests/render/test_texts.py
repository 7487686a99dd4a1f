"""Escaping and fitting user text (pure): shown as typed, never a mention, always within a limit."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.render.texts import (
    ELLIPSIS,
    ZERO_WIDTH_SPACE,
    UserText,
    clip_escaped,
    code_block,
    escape,
    fit,
    fit_all,
    join_lines,
    share,
)

MARKDOWN = set("\\*_~`|[<")
HOSTILE = "@everyone @here <@&123456789012345678> <@123456789012345678> <#1> ``` **b** [x](y)"
# Text with the characters that matter, often at line starts, plus anything else.
texts = st.text(alphabet=st.sampled_from(list("\\*_~`|[]()<>#-+.:/@ \n1a")) | st.characters(),
                max_size=200)


def unescape(shown: str) -> str:
    """What Discord shows for escaped text: "\\x" is "x", and the zero-width space is unseen."""
    return re.sub(r"\\(.)|@" + ZERO_WIDTH_SPACE,
                  lambda m: m.group(1) if m.group(1) is not None else "@", shown, flags=re.DOTALL)


def unescaped_markdown(shown: str) -> list[str]:
    """Markdown characters of ``shown`` that no backslash escapes."""
    found, index = [], 0
    while index < len(shown):
        if shown[index] == "\\":
            index += 2
            continue
        if shown[index] in MARKDOWN:
            found.append(shown[index])
        index += 1
    return found


@given(texts)
def test_escaped_text_reads_as_typed_and_holds_no_markdown_or_mention(text: str) -> None:
    shown = escape(text)
    assert unescape(shown) == text
    assert unescaped_markdown(shown) == []
    # Every "@" is followed by an invisible space: no @everyone, @here or <@id> can form.
    assert all(shown[i + 1:i + 2] == ZERO_WIDTH_SPACE for i, c in enumerate(shown) if c == "@")
    assert "://" not in shown  # no link, no preview


def test_line_starts_lose_their_markdown() -> None:
    assert escape("# big\n> quote\n- item\n  + item\n12. item\na - b 3. c") == (
        "\\# big\n\\> quote\n\\- item\n  \\+ item\n12\\. item\na - b 3. c")
    assert "@\u200beveryone" in escape(HOSTILE) and "\\<@\u200b&" in escape(HOSTILE)


@given(texts, st.integers(0, 300))
def test_clipped_escapes_fit_and_never_split_an_escape(text: str, limit: int) -> None:
    shown = clip_escaped(text, limit)
    assert len(shown) <= limit
    whole = escape(text)
    if len(whole) <= limit:
        assert shown == whole
    else:
        kept = shown.removesuffix(ELLIPSIS)
        assert shown.endswith(ELLIPSIS) or limit == 0
        assert whole.startswith(kept) and unescape(kept) == text[:len(unescape(kept))]
        assert unescaped_markdown(kept) == []


@given(st.lists(st.integers(0, 5000), max_size=12), st.integers(-10, 20000))
def test_share_trims_the_longest_first(lengths: list[int], budget: int) -> None:
    shares = share(lengths, budget)
    assert len(shares) == len(lengths)
    assert sum(shares) == min(sum(lengths), max(0, budget))
    assert all(0 <= s <= n for s, n in zip(shares, lengths, strict=True))
    trimmed = [s for s, n in zip(shares, lengths, strict=True) if s < n]
    if trimmed:
        # The trimmed parts share one level (±1), and no part keeps more than that level.
        assert max(trimmed) - min(trimmed) <= 1
        assert max(shares) <= max(trimmed)


def test_share_keeps_short_parts_whole() -> None:
    assert share([10, 100, 5000], 1000) == [10, 100, 890]
    assert share([3000, 3000], 1000) == [500, 500]


segments = st.lists(st.one_of(st.text(max_size=30), st.builds(UserText, texts)), max_size=8)


@given(segments, st.integers(300, 2500))
def test_fit_keeps_the_bots_words_whole_and_the_limit(parts: list[str | UserText],
                                                      limit: int) -> None:
    shown = fit(parts, limit)
    assert len(shown) <= limit
    position = 0
    for part in parts:  # the bot's own words all appear, in order
        if isinstance(part, str):
            found = shown.find(part, position)
            assert found >= 0
            position = found + len(part)


@given(st.lists(st.tuples(segments, st.integers(100, 1024)), min_size=1, max_size=6),
       st.integers(2000, 6000))
def test_fit_all_keeps_each_limit_and_the_total(slots: list[tuple[list[str | UserText], int]],
                                                total: int) -> None:
    fitted = fit_all(slots, total)
    assert all(len(text) <= limit for text, (_, limit) in zip(fitted, slots, strict=True))
    fixed = sum(len(s) for parts, _ in slots for s in parts if isinstance(s, str))
    if all(sum(len(s) for s in parts if isinstance(s, str)) <= limit for parts, limit in slots):
        assert sum(map(len, fitted)) <= max(total, fixed)


def test_long_user_text_gives_way_to_short_user_text() -> None:
    shown = fit(["A: ", UserText("x" * 5000), " B: ", UserText("@here")], 200)
    assert len(shown) == 200 and shown.endswith(" B: @\u200bhere")


@given(st.text(max_size=300), st.integers(20, 400))
def test_code_blocks_cannot_be_closed_from_inside(text: str, limit: int) -> None:
    block = code_block(text, limit)
    assert len(block) <= limit
    assert block.startswith("```\n") and block.endswith("\n```")
    assert block.count("```") == 2  # only the block's own fences
    inner = block[4:-4].replace("`" + ZERO_WIDTH_SPACE, "`")
    assert inner == text or (inner.endswith(ELLIPSIS) and text.startswith(inner[:-1]))


def test_join_lines_keeps_whole_lines_and_counts_the_rest() -> None:
    lines = [f"line {i} " + "x" * 90 for i in range(50)]
    shown = join_lines(lines, 2000)
    assert len(shown) <= 2000 and shown.splitlines()[-1].startswith("… and ")
    kept = shown.splitlines()[:-1]
    assert kept == lines[:len(kept)]
    assert shown.splitlines()[-1] == f"… and {50 - len(kept)} more"
