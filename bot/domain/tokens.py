"""The text encoder's 77-token window: counting tokens and naming the words it will cut.

Pure; the tokenizer is injected as a callable (the model's own, or the estimate below).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

# CLIP's window is 77 tokens including the start and end tokens: 75 are the prompt's.
TOKEN_WINDOW = 75

TokenCounter = Callable[[str], int]

_PIECES = re.compile(r"[^\W\d_]+|\d|[^\w\s]+|_+")


def approximate_token_count(text: str) -> int:
    """A tokenizer-free estimate of CLIP's count: letters in chunks of ~6, each digit and each
    run of punctuation one. Used only when no real tokenizer is available."""
    count = 0
    for piece in _PIECES.findall(text):
        # A piece that is not letters is one digit or one run of punctuation: one token.
        count += math.ceil(len(piece) / 6) if piece[0].isalpha() else 1
    return count


def words_cut(prompt: str, count_tokens: TokenCounter, window: int = TOKEN_WINDOW) -> list[str]:
    """The words of ``prompt`` past the text encoder's window ([] if it fits).

    CLIP never merges tokens across whitespace, so counting word by word is exact.
    """
    if count_tokens(prompt) <= window:
        return []
    words = prompt.split()
    used = 0
    for index, word in enumerate(words):
        used += count_tokens(word)
        if used > window:
            return words[index:]
    return []


def cut_note(words: Sequence[str], limit: int = 300) -> str:
    """The warning shown for a prompt that will be cut."""
    shown = " ".join(words)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return (f"the prompt is longer than the text encoder's 77-token window; "
            f"these words will be ignored: “{shown}”")
