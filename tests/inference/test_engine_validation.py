"""Bad requests raise the project's ValidationError naming the value, before any tensor work."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
import torch
from PIL import Image

from bot.domain.errors import GenerationError, UserError, ValidationError
from bot.domain.recipe import Mode, Recipe
from bot.domain.validation import Limits
from bot.inference import Engine
from bot.inference.engine import Engine as EngineClass


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"width": 513}, "513"),
    ({"height": 1032}, "1032"),
    ({"steps": 0}, "steps"),
    ({"prompt": "   "}, "prompt must not be empty"),
    ({"guidance": 31.0}, "31"),
    ({"scheduler": "dpm_fast"}, "dpm_fast"),
    ({"seed": -1}, "seed"),
])
def test_bad_txt2img_requests(tiny_engine: Engine, kwargs: dict[str, object],
                              named: str) -> None:
    request: dict[str, object] = {"prompt": "a lighthouse", "width": 64, "height": 64,
                                  "steps": 2, **kwargs}
    with (mock.patch.object(EngineClass, "_call", side_effect=AssertionError("ran")),
          pytest.raises(ValidationError, match=named) as caught):
        tiny_engine.txt2img(**request)  # type: ignore[arg-type]
    assert isinstance(caught.value, UserError)


def test_strength_too_low_for_the_steps(tiny_engine: Engine, photo: Image.Image) -> None:
    # int(20 * 0.01) == 0 denoising steps would crash inside diffusers.
    with pytest.raises(ValidationError, match=r"strength 0\.01 with 20 steps"):
        tiny_engine.img2img(photo, "a lighthouse", strength=0.01, steps=20)


def test_img2img_recipe_needs_its_image(tiny_engine: Engine) -> None:
    recipe = Recipe(prompt="a", width=64, height=64, steps=2, mode=Mode.IMG2IMG, strength=0.5,
                    init_image="uploads/1.png")
    with pytest.raises(ValidationError, match="needs an input image"):
        tiny_engine.generate([recipe])


def test_inpaint_recipe_needs_its_mask(tiny_engine: Engine, photo: Image.Image) -> None:
    recipe = Recipe(prompt="a", width=64, height=64, steps=2, mode=Mode.INPAINT, strength=1.0)
    with pytest.raises(ValidationError, match="mask"):
        tiny_engine.generate([recipe], images=[photo])


def test_engine_limits_are_applied(tiny_engine: Engine) -> None:
    strict = EngineClass(tiny_engine.pipeline, model_id="tiny", family="tiny",
                         device=tiny_engine.device, dtype=tiny_engine.dtype,
                         limits=Limits(width_max=256))
    with pytest.raises(ValidationError, match="between 64 and 256, got 512"):
        strict.txt2img("a lighthouse", width=512, height=64)


def test_empty_batch_is_a_programming_error(tiny_engine: Engine) -> None:
    with pytest.raises(ValueError, match="at least one recipe"):
        tiny_engine.generate([])


def test_out_of_memory_becomes_a_generation_error(tiny_engine: Engine) -> None:
    recipes = [Recipe(prompt=p, width=64, height=64, steps=2, seed=1) for p in "ab"]
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    expected = r"out of GPU memory at 64x64, batch 2: .*2\.00 GiB"
    original = tiny_engine.pipeline.scheduler
    with (mock.patch.object(type(tiny_engine.pipeline), "__call__", side_effect=oom),
          pytest.raises(GenerationError, match=expected)):
        tiny_engine.generate(recipes)
    assert tiny_engine.pipeline.scheduler is original


def test_other_pipeline_errors_propagate_as_they_are(tiny_engine: Engine) -> None:
    broken = RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    with (mock.patch.object(type(tiny_engine.pipeline), "__call__", side_effect=broken),
          pytest.raises(RuntimeError, match="shapes cannot be multiplied")):
        tiny_engine.txt2img("a lighthouse", width=64, height=64, steps=2)


@pytest.mark.parametrize(("call", "named"), [
    (lambda engine, photo: engine.inpaint(photo, ..., "a red door"),
     "mask must be a PIL image, got ellipsis"),
    (lambda engine, photo: engine.inpaint(photo, None, "a red door"),
     "mask must be a PIL image, got None"),
    (lambda engine, photo: engine.inpaint("photo.png", photo, "a red door"),
     "image must be a PIL image, got str"),
    (lambda engine, photo: engine.img2img(..., "a watercolour"),
     "image must be a PIL image, got ellipsis"),
    (lambda engine, photo: engine.generate(
        [Recipe(prompt="a", width=64, height=64, steps=2, mode=Mode.INPAINT, strength=1.0)],
        images=[photo], masks=[...]),
     "mask must be a PIL image, got ellipsis"),
    (lambda engine, photo: engine.generate(
        [Recipe(prompt="a", width=64, height=64, steps=2, mode=Mode.IMG2IMG, strength=0.5)],
        images=photo),
     "images must be a list of PIL images, got Image"),
])
def test_images_and_masks_must_be_pil_images(tiny_engine: Engine, photo: Image.Image,
                                             call: Any, named: str) -> None:
    with (mock.patch.object(EngineClass, "_call", side_effect=AssertionError("ran")),
          pytest.raises(ValidationError, match=named)):
        call(tiny_engine, photo)
