"""The AUTOMATIC1111 ``parameters`` text that prompt readers (sd-parsers, sd-prompt-reader) show."""

from __future__ import annotations

import re

from bot.domain.recipe import Mode, Recipe


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
    # Newlines inside a prompt would be read as the start of the next section.
    prompt = " ".join(recipe.prompt.splitlines())
    negative = " ".join(recipe.negative.splitlines())
    settings = ", ".join(f"{key}: {value}" for key, value in fields)
    return f"{prompt}\nNegative prompt: {negative}\n{settings}"


# A settings value is either quoted (may contain commas) or runs to the next comma.
_SETTING = re.compile(r'\s*([\w ]+?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


def parse_parameters(text: str) -> dict[str, str]:
    """Parse an A1111 ``parameters`` text the way A1111-format readers do.

    Returns ``prompt``, ``negative`` and one entry per setting ("Steps", "Seed", ...).
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
