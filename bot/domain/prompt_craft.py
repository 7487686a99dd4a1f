"""Prompt craft: the advice of ``/prompt tips`` and the report of ``/prompt check``.

Pure: the check takes the recipe the one door would build (theme and styles applied) and a
token counter (the model's tokenizer when loaded, else the estimate in ``tokens``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.recipe import Recipe
from bot.domain.tokens import TOKEN_WINDOW, TokenCounter, approximate_token_count, words_cut

TIPS = """\
**Writing a prompt** — say what to draw, then how it is drawn:
1. **Subject**: who or what, doing what, where. *a girl reading in a garden*
2. **Technique**: oil painting, watercolor, pastel drawing, pencil sketch, photograph…
3. **Artist**: *by Edvard Munch*, *by Salvador Dalí* — their movement comes with them.
4. **Period**: *old photo, 1960s*, *victorian*, *art deco*.
5. **Modifiers**: sepia, matte, high detail, trending on artstation, 8k, unreal engine.
Earlier words weigh more. Only the first 75 tokens count (`/prompt check` shows the cut).
Say what you *don't* want in **negative**, not with "no …" in the prompt.

**Worked examples**
• `a girl` → a face, but anyone's guess
• `portrait of a beautiful girl` → the kind of picture is named
• `portrait of a beautiful girl with red hair, oil painting, by John William Waterhouse, \
pre-raphaelite, soft light, high detail` → subject, technique, artist, light, finish
• `a spoon` → `a silver spoon on a linen cloth, still life, watercolor, by Paul Cézanne`

**The numbers**
• **steps**: how long the image is refined; 20–30 is plenty, 5 looks unfinished.
• **guidance** (CFG): how strictly the prompt is followed; 5–9 is usual, 15+ gets harsh.
• **size**: the model learnt square 512² pictures; a wide portrait often shows two people.
• **seed**: the same seed and settings give the same picture — change one word and compare.
Presets: `/dream style:` (suggested as you type). Compare: `/styles`, `/xy`."""

_PORTRAIT = re.compile(r"\b(portrait|face|headshot|selfie|bust|close-?up)\b", re.IGNORECASE)
_PERSON = re.compile(r"\b(girl|boy|man|woman|person|child|lady|king|queen)\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(no|not|without|don't|never)\s+\w+", re.IGNORECASE)
_SHORT_WORDS = 4
WIDE_RATIO = 1.4  # a side this much longer than the other counts as a wide (or tall) image
LARGE_FACTOR = 1.5  # a side this much past the model's usual size repeats subjects


@dataclass(frozen=True, slots=True)
class PromptCheck:
    """What ``/prompt check`` reports about one prompt."""

    prompt: str  # the final prompt: theme and styles applied
    negative: str
    tokens: int
    window: int
    cut: tuple[str, ...]  # words past the window, which the text encoder ignores
    warnings: tuple[str, ...]
    styles: tuple[str, ...] = ()
    theme: str | None = None
    exact: bool = True  # counted with the model's own tokenizer (False: an estimate)


def _warnings(recipe: Recipe, user_words: str, cut: Sequence[str],
              usual_size: int) -> list[str]:
    warnings = []
    width, height = recipe.width, recipe.height
    if (_PORTRAIT.search(recipe.prompt) or _PERSON.search(recipe.prompt)) \
            and width >= height * WIDE_RATIO:
        warnings.append(f"a portrait at a wide size ({width}×{height}) often shows several "
                        f"people: the model fills the width. Try {height}×{height} or a tall "
                        f"size.")
    if max(width, height) >= usual_size * LARGE_FACTOR:
        warnings.append(f"{width}×{height} is well past the {usual_size}² pictures the model "
                        f"learnt from: subjects may repeat or split. Render smaller and "
                        f"upscale.")
    negations = _NEGATION.findall(user_words)
    if negations:
        found = _NEGATION.search(user_words)
        shown = found.group(0) if found else negations[0]
        warnings.append(f"“{shown}”: the model does not understand “no”; it may draw the very "
                        f"thing. Put it in negative instead.")
    if len(user_words.split()) < _SHORT_WORDS and not recipe.styles:
        warnings.append("a short prompt leaves the style to chance: add a technique, an "
                        "artist or a period (see /prompt tips).")
    if cut:
        warnings.append(f"{len(cut)} word(s) past the {TOKEN_WINDOW}-token window are ignored: "
                        f"move what matters to the front.")
    if recipe.steps < 10:
        warnings.append(f"{recipe.steps} steps is very few: the image will look unfinished.")
    if recipe.guidance >= 15:
        warnings.append(f"guidance {recipe.guidance:g} is high: colours burn and shapes "
                        f"harden.")
    return warnings


def check_prompt(recipe: Recipe, user_words: str, *, count_tokens: TokenCounter | None = None,
                 usual_size: int = 512) -> PromptCheck:
    """The report on ``recipe`` (as the one door builds it) for the words the user typed."""
    counter = count_tokens or approximate_token_count
    cut = words_cut(recipe.prompt, counter)
    return PromptCheck(prompt=recipe.prompt, negative=recipe.negative,
                       tokens=counter(recipe.prompt), window=TOKEN_WINDOW, cut=tuple(cut),
                       warnings=tuple(_warnings(recipe, user_words, cut, usual_size)),
                       styles=recipe.styles, theme=recipe.theme, exact=count_tokens is not None)
