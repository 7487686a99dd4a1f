"""The A1111 parameters text: the exact layout, and parsed back by an A1111-format parser."""

from __future__ import annotations

import pytest

from bot.domain import Mode, Recipe
from bot.domain.a1111 import format_parameters, parse_parameters

RECIPE = Recipe(prompt="a lighthouse at dusk, oil painting", negative="blurry, text",
                width=512, height=768, steps=20, guidance=7.5, seed=1234, scheduler="euler_a",
                model="tiny")


def test_exact_layout() -> None:
    assert format_parameters(RECIPE) == (
        "a lighthouse at dusk, oil painting\n"
        "Negative prompt: blurry, text\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 512x768, Model: tiny")


def test_round_trip_gives_every_field() -> None:
    parsed = parse_parameters(format_parameters(RECIPE))
    assert parsed == {"prompt": RECIPE.prompt, "negative": RECIPE.negative, "Steps": "20",
                      "Sampler": "Euler a", "CFG scale": "7.5", "Seed": "1234",
                      "Size": "512x768", "Model": "tiny"}


def test_img2img_records_strength_and_newlines_stay_in_the_prompt() -> None:
    recipe = Recipe(prompt="line one\nline two", seed=1, mode=Mode.IMG2IMG, strength=0.6,
                    init_image="x.png", guidance=5)
    parsed = parse_parameters(format_parameters(recipe))
    assert parsed["prompt"] == "line one line two"
    assert parsed["Denoising strength"] == "0.6"
    assert parsed["CFG scale"] == "5"


def test_parses_a1111_text_with_quoted_values() -> None:
    text = ('cat\nNegative prompt: dog\nSteps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, '
            'Seed: 42, Size: 512x512, Model hash: abc, Lora hashes: "a: 1, b: 2", Model: sd15')
    parsed = parse_parameters(text)
    assert parsed["Lora hashes"] == "a: 1, b: 2"
    assert parsed["Model"] == "sd15"
    assert parsed["Sampler"] == "DPM++ 2M Karras"


def test_a_result_must_have_its_seed() -> None:
    with pytest.raises(ValueError, match="seed"):
        format_parameters(Recipe(prompt="x"))
