"""The AUTOMATIC1111 ``parameters`` text that prompt readers (sd-parsers, sd-prompt-reader) show."""

from __future__ import annotations

import json
import re

from bot.domain.loras import lora_hashes_text
from bot.domain.recipe import Mode, Recipe
from bot.domain.text import normalise_text


def _fmt_number(value: float) -> str:
    return f"{value:g}"


def _quote(text: str) -> str:
    """A settings value A1111's way: quoted (JSON) when it holds a comma, colon or quote."""
    return json.dumps(text, ensure_ascii=False) if re.search(r'[,:"]', text) else text


def _latent_fields(recipe: Recipe) -> list[tuple[str, str]]:
    """A variation's and a morph frame's settings (A1111 writes the variation's; a morph's are
    ours, in the same form, which A1111-format readers list as extra settings)."""
    fields = []
    if recipe.variation_seed is not None:
        fields += [("Variation seed", str(recipe.variation_seed)),
                   ("Variation seed strength", _fmt_number(recipe.variation_strength))]
    if recipe.is_morph_frame:
        fields += [("Blend seed", str(recipe.blend_seed)), ("Blend", _fmt_number(recipe.blend))]
        if recipe.blend_variation_seed is not None:
            fields += [("Blend variation seed", str(recipe.blend_variation_seed)),
                       ("Blend variation seed strength",
                        _fmt_number(recipe.blend_variation_strength))]
        if recipe.blend_prompt is not None:
            fields.append(("Blend prompt", _quote(normalise_text(recipe.blend_prompt).strip())))
        if recipe.blend_negative:
            fields.append(("Blend negative",
                           _quote(normalise_text(recipe.blend_negative).strip())))
    return fields


def format_parameters(recipe: Recipe) -> str:
    """The A1111 ``parameters`` chunk for a finished image (its seed must be set)."""
    if recipe.seed is None:
        raise ValueError("a finished image's recipe must carry its seed")
    width, height = recipe.output_size  # an inpaint's: the size of its image, pasted back
    fields = [
        ("Steps", str(recipe.steps)),
        ("Sampler", recipe.sampler),
        ("CFG scale", _fmt_number(recipe.guidance)),
        ("Seed", str(recipe.seed)),
        ("Size", f"{width}x{height}"),
        ("Model", recipe.model),
    ]
    if recipe.mode is not Mode.TXT2IMG and recipe.strength is not None:
        fields.append(("Denoising strength", _fmt_number(recipe.strength)))
    if recipe.upscaler:
        fields.append(("Upscaler", _quote(recipe.upscaler)))
    fields += _latent_fields(recipe)
    if recipe.lora_hashes:  # A1111's own field, so readers (and civitai) find the LoRAs
        fields.append(("Lora hashes", _quote(lora_hashes_text(recipe.lora_hashes))))
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
        result[key.strip()] = _unquote(value.strip())
    return result


def _unquote(value: str) -> str:
    """A settings value as written: a quoted one unescaped (A1111 quotes with JSON)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            text = json.loads(value)
        except ValueError:
            return value.strip('"')
        return text if isinstance(text, str) else value.strip('"')
    return value
