"""Normalising what users type (prompts, negatives, theme text) before it is validated.

Invisible characters are a way to send an empty prompt that looks non-empty, and control
characters (NUL among them) would otherwise end up in the PNG metadata that other tools read.
"""

from __future__ import annotations

import unicodedata

# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt) that are not already
# format characters (Cf): fillers and variation selectors that render as nothing.
_IGNORABLE = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong / jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xFFF0, 0xFFF8),  # unassigned specials
    (0xE0000, 0xE0FFF),  # tags and supplementary variation selectors
)
# Cc: C0/C1 controls (NUL, ESC, DEL ...); Cf: zero-width and bidi controls (ZWSP, ZWJ, ZWNJ,
# LRM, RLO, BOM, soft hyphen ...); Cs: lone surrogates, which cannot even be written as UTF-8.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def is_invisible(char: str) -> bool:
    """Whether ``char`` is a control, format or default-ignorable character (never shown)."""
    if unicodedata.category(char) in _DROPPED_CATEGORIES:
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _IGNORABLE)


def _clean(text: str) -> str:
    out = []
    for char in text:
        if char.isspace():
            # Line breaks and tabs become one ordinary space: the A1111 text keeps a prompt on
            # one line (a newline there starts the next section), so the recipe does too.
            out.append(" ")
        elif not is_invisible(char):
            out.append(char)
    return "".join(out)


def normalise_text(text: str) -> str:
    """``text`` in NFKC, one line, with control and invisible characters removed.

    Ordinary spaces are kept as typed; every other whitespace character (newline, tab, NBSP ...)
    becomes one space. Idempotent: normalising twice gives the same text.
    """
    # Removing first lets NFKC compose what an invisible character kept apart ("e", ZWSP,
    # U+0301 → "é"); the second pass is what makes the result stable under a second call.
    return _clean(unicodedata.normalize("NFKC", _clean(text.replace("\r\n", "\n"))))
