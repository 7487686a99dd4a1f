"""The A1111 parameters text: the exact layout, and parsed back by an A1111-format parser."""

from __future__ import annotations

import dataclasses

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


def test_an_empty_negative_leaves_its_line_out_as_a1111_does() -> None:
    recipe = dataclasses.replace(RECIPE, negative="")
    text = format_parameters(recipe)
    assert text == ("a lighthouse at dusk, oil painting\n"
                    "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 512x768, "
                    "Model: tiny")
    parsed = parse_parameters(text)
    assert (parsed["prompt"], parsed["negative"], parsed["Seed"]) == (RECIPE.prompt, "", "1234")


def test_both_forms_of_an_empty_negative_are_read() -> None:
    settings = "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1, Size: 64x64, Model: tiny"
    for text in (f"cat\n{settings}", f"cat\nNegative prompt: \n{settings}",
                 f"cat\nNegative prompt:\n{settings}"):
        parsed = parse_parameters(text)
        assert (parsed["prompt"], parsed["negative"], parsed["Size"]) == ("cat", "", "64x64")


def test_a_text_without_settings_is_all_prompt() -> None:
    assert parse_parameters("just a prompt") == {"prompt": "just a prompt", "negative": ""}
    parsed = parse_parameters("line one\nline two\nNegative prompt: a\nb")
    assert parsed == {"prompt": "line one\nline two", "negative": "a\nb"}


def test_the_seed_error_reads_exactly_and_txt2img_never_records_a_strength() -> None:
    with pytest.raises(ValueError) as caught:
        format_parameters(Recipe(prompt="x"))
    assert str(caught.value) == "a finished image's recipe must carry its seed"
    text = format_parameters(dataclasses.replace(RECIPE, strength=0.5))
    assert "Denoising strength" not in text


def test_only_the_last_line_can_be_the_settings() -> None:
    # One line is a prompt even if it looks like a setting; a middle line never is.
    assert parse_parameters("portrait: a cat") == {"prompt": "portrait: a cat", "negative": ""}
    assert parse_parameters("cat\nNegative prompt: dog\nmore") == {"prompt": "cat",
                                                                    "negative": "dog\nmore"}
    parsed = parse_parameters('cat\nSteps: 2, Hires upscaler: "ESRGAN_4X", Model: XL')
    assert (parsed["Hires upscaler"], parsed["Model"]) == ("ESRGAN_4X", "XL")
