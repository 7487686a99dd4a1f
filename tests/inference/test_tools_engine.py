"""The engine's image tools on the tiny model: upscale (whole, tiled, ×4 model), zoom out,
remix, and their convenience methods."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from bot.domain.errors import ValidationError
from bot.domain.recipe import Mode, Recipe
from bot.domain.tools import UPSCALE_STRENGTH, zoom_layout
from bot.domain.validation import Limits
from bot.inference import Engine
from bot.inference.masks import EDGE_REACH
from bot.inference.results import StepProgress
from bot.render.canvas import zoom_canvas


def _engine_with(engine: Engine, **changes: Any) -> Engine:
    """Another engine on the same tiny pipeline (other limits, an upscaler)."""
    limits = changes.pop("limits", engine.limits)
    return Engine(engine.pipeline, model_id=engine.model_id, family=engine.family,
                  device=engine.device, dtype=engine.dtype, limits=limits, **changes)


def test_upscale_within_the_limits_doubles_the_size_in_one_pass(tiny_engine: Engine,
                                                                photo: Image.Image) -> None:
    totals: list[int] = []
    result = tiny_engine.upscale(photo, "a castle", steps=10, seed=4,
                                 progress=lambda p: totals.append(p.total))
    assert result.images[0].size == (192, 160)
    recipe = result.recipes[0]
    assert (recipe.mode, recipe.width, recipe.height, recipe.strength, recipe.seed) == (
        Mode.UPSCALE, 192, 160, UPSCALE_STRENGTH, 4)
    assert set(totals) == {3}  # one pass of steps × strength


def test_upscale_beyond_the_limits_is_drawn_in_tiles(tiny_engine: Engine,
                                                     photo: Image.Image) -> None:
    small = _engine_with(tiny_engine, limits=Limits(width_max=128, height_max=128))
    seen: list[StepProgress] = []
    result = small.upscale(photo, "a castle", steps=4, seed=4, strength=0.5,
                           progress=seen.append)
    assert result.images[0].size == (192, 160)
    # 192×160 in 128-pixel tiles overlapping by 16: 2 × 2 tiles of 2 steps each.
    assert seen[-1].step == seen[-1].total == 8


def test_an_upscale_may_not_pass_twice_the_limits(tiny_engine: Engine) -> None:
    recipe = Recipe(prompt="x", width=2056, height=512, steps=4, mode=Mode.UPSCALE,
                    strength=0.3, init_image="in.png")
    with pytest.raises(ValidationError, match="width must be between 64 and 2048, got 2056"):
        tiny_engine.generate([recipe], images=[Image.new("RGB", (64, 64))])


class _FakeUpscaler:
    """Stands for StableDiffusionUpscalePipeline: four times the image, one reported step."""

    scheduler = object()

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        kwargs["callback"](0, 1, torch.zeros((1, 4, 8, 8)))
        image = kwargs["image"][0]
        return type("Output", (), {"images": [image.resize((image.width * 4,
                                                            image.height * 4))]})


def test_a_configured_upscaler_model_is_used_and_recorded(tiny_engine: Engine,
                                                          photo: Image.Image) -> None:
    engine = _engine_with(tiny_engine, upscaler="stabilityai/stable-diffusion-x4-upscaler")
    fake = _FakeUpscaler()
    engine._upscaler_pipe = fake  # loaded on first use otherwise (no hub here)
    result = engine.upscale(photo, "a castle", steps=5, seed=3)
    assert result.images[0].size == (192, 160)
    assert result.recipes[0].upscaler == "stabilityai/stable-diffusion-x4-upscaler"
    assert fake.calls[0]["num_inference_steps"] == 5 and fake.calls[0]["prompt"] == ["a castle"]


def test_zoom_out_keeps_the_shrunk_image_and_paints_the_border(tiny_engine: Engine,
                                                               photo: Image.Image) -> None:
    result = tiny_engine.zoom_out(photo, "a castle", steps=3, seed=2)
    out = np.asarray(result.images[0], dtype=int)
    assert result.images[0].size == photo.size
    canvas, _mask = zoom_canvas(photo)
    left, top, right, bottom = zoom_layout(*photo.size).keep_box
    inside = (slice(top + EDGE_REACH, bottom - EDGE_REACH),
              slice(left + EDGE_REACH, right - EDGE_REACH))
    assert np.array_equal(out[inside], np.asarray(canvas, dtype=int)[inside])
    assert np.abs(out[:4] - np.asarray(canvas, dtype=int)[:4]).mean() > 1  # the border is new


def test_the_zoom_canvas_holds_the_image_shrunk_in_the_middle(photo: Image.Image) -> None:
    canvas, mask = zoom_canvas(photo)
    layout = zoom_layout(96, 80)
    assert (layout.inner_width, layout.inner_height, layout.left, layout.top) == (64, 53, 16, 13)
    assert canvas.size == mask.size == (96, 80)
    shrunk = photo.resize((64, 53), Image.Resampling.LANCZOS)
    assert canvas.crop((16, 13, 80, 66)).tobytes() == shrunk.tobytes()
    m = np.asarray(mask)
    assert m[0, 0] == 255 and m[40, 48] == 0 and m[13, 48] == 255  # overlap into the image


def test_remix_keeps_the_seed_and_changes_the_prompt(tiny_engine: Engine) -> None:
    parent = tiny_engine.txt2img("a red fox", width=64, height=64, steps=3, seed=8)
    remix = tiny_engine.remix(parent.recipes[0], "a red fox, oil painting", negative="blur")
    same = tiny_engine.remix(parent.recipes[0], "a red fox")
    recipe = remix.recipes[0]
    assert (recipe.seed, recipe.prompt, recipe.negative) == (8, "a red fox, oil painting", "blur")
    assert np.array_equal(np.asarray(same.images[0]), np.asarray(parent.images[0]))
    assert not np.array_equal(np.asarray(remix.images[0]), np.asarray(parent.images[0]))


def test_vary_convenience_records_the_variation(tiny_engine: Engine) -> None:
    parent = tiny_engine.txt2img("a red fox", width=64, height=64, steps=3, seed=8)
    child = tiny_engine.vary(parent.recipes[0], 0.0, variation_seed=3)
    assert dataclasses.replace(child.recipes[0], variation_seed=None) == parent.recipes[0]
    assert np.array_equal(np.asarray(child.images[0]), np.asarray(parent.images[0]))
