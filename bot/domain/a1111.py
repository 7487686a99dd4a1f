"""The AUTOMATIC1111 ``parameters`` text that prompt readers (sd-parsers, sd-prompt-reader) show."""

from __future__ import annotations

import re

from bot.domain.recipe import Mode, Recipe
from bot.domain.text import normalise_text


def _fmt_number(value: float) -> str:
    return f"{value:g}"


def format_parameters(recipe: Recipe) -> str:
    """The A1111 ``parameters`` chunk for a finished image (its seed must be set)."""
    if recipe.seed is None:
        raise ValueError("a finished image's recipe must carry its seed")
    fields = [
        ("Steps", str(recipe.steps)),
        ("Sampler", recipe.sampler),
        ("CFG scale", _fmt_number(recipe.guidance)),
        ("Seed", str(recipe.seed)),
        ("Size", f"{recipe.width}x{recipe.height}"),
        ("Model", recipe.model),
    ]
    if recipe.mode is not Mode.TXT2IMG and recipe.strength is not None:
        fields.append(("Denoising strength", _fmt_number(recipe.strength)))
    # A validated recipe is already normalised; this keeps a recipe that skipped validation
    # (an old database row) from putting control characters or a newline, which would be read
    # as the start of the next section, into the metadata.
    prompt = normalise_text(recipe.prompt).strip()
    negative = normalise_text(recipe.negative).strip()
    settings = ", ".join(f"{key}: {value}" for key, value in fields)
    # A1111 leaves the "Negative prompt:" line out when there is none.
    negative_line = f"Negative prompt: {negative}\n" if negative else ""
    return f"{prompt}\n{negative_line}{settings}"


# A settings value is either quoted (may contain commas) or runs to the next comma.
_SETTING = re.compile(r'\s*([\w ]+?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


def parse_parameters(text: str) -> dict[str, str]:
    """Parse an A1111 ``parameters`` text the way A1111-format readers do.

    Returns ``prompt``, ``negative`` ("" when the text has no "Negative prompt:" line, as A1111
    writes it then) and one entry per setting ("Steps", "Seed", ...).
    """
    lines = text.strip().split("\n")
    settings_line = lines[-1] if len(lines) > 1 and _SETTING.match(lines[-1]) else ""
    body = lines[:-1] if settings_line else lines
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in body:
        if line.startswith("Negative prompt:"):
            target = negative_lines
            line = line[len("Negative prompt:"):].strip()
        target.append(line)
    result = {"prompt": "\n".join(prompt_lines).strip(),
              "negative": "\n".join(negative_lines).strip()}
    for key, value in _SETTING.findall(settings_line):
        result[key.strip()] = value.strip().strip('"')
    return result
