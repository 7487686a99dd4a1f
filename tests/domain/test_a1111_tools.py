"""The tools' fields in the A1111 parameters text, in stored recipes and in validation."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from bot.domain import Mode, Recipe
from bot.domain.a1111 import format_parameters, parse_parameters
from bot.domain.errors import ValidationError
from bot.domain.validation import Limits, validate_recipe

VARIED = Recipe(prompt="a lighthouse, oil", negative="blurry", seed=1234, variation_seed=99,
                variation_strength=0.35, mode=Mode.IMG2IMG, strength=0.6, init_image="x.png")


def test_a_variation_writes_a1111s_fields_after_the_denoising_strength() -> None:
    assert format_parameters(VARIED).splitlines()[-1] == (
        "Steps: 25, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 512x512, Model: tiny, "
        "Denoising strength: 0.6, Variation seed: 99, Variation seed strength: 0.35")


def test_sd_parsers_reads_the_variation_fields_as_set() -> None:
    sd_parsers = pytest.importorskip("sd_parsers")
    from bot.render.png import encode_png

    data = encode_png(Image.new("RGB", (64, 64)), format_parameters(VARIED))
    info = sd_parsers.ParserManager().parse(io.BytesIO(data))
    assert info is not None and info.generator.name == "AUTOMATIC1111"
    assert info.metadata["Variation seed"] == "99"
    assert info.metadata["Variation seed strength"] == "0.35"
    assert info.metadata["Denoising strength"] == "0.6"
    assert info.samplers[0].parameters["seed"] == "1234"


def test_a_morph_frame_round_trips_with_quoted_prompts() -> None:
    frame = Recipe(prompt="a red fox", seed=1, blend=0.25, blend_seed=2, blend_variation_seed=3,
                   blend_variation_strength=0.1, blend_prompt='a "blue" whale, at sea',
                   blend_negative="text")
    parsed = parse_parameters(format_parameters(frame))
    assert (parsed["Blend seed"], parsed["Blend"], parsed["Blend variation seed"],
            parsed["Blend variation seed strength"], parsed["Blend prompt"],
            parsed["Blend negative"]) == ("2", "0.25", "3", "0.1", 'a "blue" whale, at sea',
                                          "text")
    assert "Variation seed" not in parsed


def test_an_upscale_records_its_strength_and_upscaler() -> None:
    recipe = Recipe(prompt="x", seed=1, mode=Mode.UPSCALE, strength=0.3, init_image="a",
                    upscaler="stabilityai/stable-diffusion-x4-upscaler")
    parsed = parse_parameters(format_parameters(recipe))
    assert parsed["Denoising strength"] == "0.3"
    assert parsed["Upscaler"] == "stabilityai/stable-diffusion-x4-upscaler"


def test_a_plain_image_writes_none_of_the_tools_fields() -> None:
    text = format_parameters(Recipe(prompt="x", seed=1))
    assert "Variation" not in text and "Blend" not in text and "Upscaler" not in text


def test_an_older_stored_recipe_still_loads_and_round_trips() -> None:
    old = {"prompt": "x", "negative": "", "width": 512, "height": 512, "steps": 25,
           "guidance": 7.5, "seed": 3, "scheduler": "euler_a", "model": "tiny",
           "mode": "txt2img", "strength": None, "init_image": None, "mask_image": None}
    recipe = Recipe.from_dict(old)
    assert (recipe.variation_seed, recipe.variation_strength, recipe.blend_seed) == (None, 0, None)
    assert Recipe.from_dict(VARIED.to_dict()) == VARIED
    upscale = dataclasses.replace(VARIED, mode=Mode.UPSCALE)
    assert Recipe.from_dict(upscale.to_dict()).mode is Mode.UPSCALE


@pytest.mark.parametrize(("changes", "needle"), [
    ({"variation_strength": 1.5}, "variation strength must be a number from 0 to 1, got 1.5"),
    ({"variation_strength": float("nan")}, "variation strength must be a number from 0 to 1"),
    ({"variation_seed": -1}, "variation seed must be between 0 and 4294967295, got -1"),
    ({"blend": 0.5}, "morph position (blend) must be a number"),  # set below to 2
    ({"blend_prompt": "a whale"}, "a morph frame needs the seed of the image it blends"),
    ({"blend_seed": 1, "blend_prompt": "  "}, "morph prompt must not be empty"),
    ({"blend_seed": 1, "blend_variation_strength": -0.1}, "morph variation strength must be"),
])
def test_bad_tool_values_are_named(changes: dict[str, object], needle: str) -> None:
    if changes.get("blend") == 0.5:
        changes = {"blend": 2, "blend_seed": 1}
    with pytest.raises(ValidationError) as caught:
        validate_recipe(dataclasses.replace(Recipe(prompt="x"), **changes), Limits())  # type: ignore[arg-type]
    assert needle in str(caught.value)


def test_an_upscale_may_be_twice_the_size_limits_and_no_more() -> None:
    upscale = Recipe(prompt="x", mode=Mode.UPSCALE, strength=0.3, init_image="a",
                     width=2048, height=2048)
    assert validate_recipe(upscale, Limits()).width == 2048
    with pytest.raises(ValidationError, match="width must be between 64 and 1024, got 2048"):
        validate_recipe(dataclasses.replace(upscale, mode=Mode.IMG2IMG), Limits())
