"""The three modes give the requested sizes and share one set of components."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from bot.domain.recipe import Mode
from bot.inference import IN_MEMORY, Engine, StepProgress


def test_engine_describes_its_model(tiny_engine: Engine) -> None:
    assert tiny_engine.model_id == "tiny"
    assert tiny_engine.family == "tiny"
    assert tiny_engine.device == torch.device("cpu")
    assert tiny_engine.dtype == torch.float32
    assert tiny_engine.limits.width_max >= 512


@pytest.mark.parametrize(("width", "height"), [(64, 64), (320, 192)])
def test_txt2img_gives_the_requested_size(tiny_engine: Engine, width: int, height: int) -> None:
    result = tiny_engine.txt2img("a lighthouse at dusk", width=width, height=height, steps=2,
                                 seed=1)
    assert [image.size for image in result.images] == [(width, height)]
    assert result.images[0].mode == "RGB"
    recipe = result.recipes[0]
    assert (recipe.mode, recipe.width, recipe.height, recipe.model) == (
        Mode.TXT2IMG, width, height, "tiny")
    assert result.seconds > 0 and result.step_seconds > 0


def test_img2img_resizes_the_input_to_the_requested_size(tiny_engine: Engine,
                                                         photo: Image.Image) -> None:
    result = tiny_engine.img2img(photo, "a watercolour", strength=0.5, width=128, height=64,
                                 steps=4, seed=2)
    assert result.images[0].size == (128, 64)
    recipe = result.recipes[0]
    assert (recipe.mode, recipe.strength, recipe.init_image) == (Mode.IMG2IMG, 0.5, IN_MEMORY)


def test_img2img_defaults_to_the_input_size(tiny_engine: Engine, photo: Image.Image) -> None:
    result = tiny_engine.img2img(photo.convert("RGBA"), "a watercolour", steps=2, seed=2)
    assert result.images[0].size == photo.size  # 96×80: already multiples of 8


@pytest.mark.parametrize(("width", "height"), [(96, 80), (320, 192)])
def test_inpaint_gives_the_requested_size(tiny_engine: Engine, photo: Image.Image,
                                          half_mask: Image.Image, width: int,
                                          height: int) -> None:
    result = tiny_engine.inpaint(photo, half_mask.convert("RGB"), "a red door", width=width,
                                 height=height, steps=2, seed=3)
    assert result.images[0].size == (width, height)
    recipe = result.recipes[0]
    assert (recipe.mode, recipe.strength, recipe.mask_image) == (Mode.INPAINT, 1.0, IN_MEMORY)


def test_modes_share_components_and_are_built_once(tiny_engine: Engine) -> None:
    base = tiny_engine.pipeline
    for mode in (Mode.IMG2IMG, Mode.INPAINT):
        pipe = tiny_engine.pipeline_for(mode)
        assert pipe is tiny_engine.pipeline_for(mode)
        assert pipe is not base
        assert pipe.unet is base.unet
        assert pipe.vae is base.vae
        assert pipe.text_encoder is base.text_encoder
        assert pipe.unet.dtype == tiny_engine.dtype
    assert tiny_engine.pipeline_for(Mode.TXT2IMG) is base


def test_the_documented_example_at_512(tiny_engine: Engine, tmp_path: Path) -> None:
    previews: list[StepProgress] = []
    result = tiny_engine.txt2img(prompt="a lighthouse at dusk", width=512, height=512, steps=2,
                                 guidance=7.5, seed=1, progress=previews.append)
    result.images[0].save(tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as saved:
        assert saved.size == (512, 512)
    assert [p.preview.size for p in previews if p.preview] == [(64, 64), (64, 64)]
