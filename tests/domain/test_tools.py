"""The image tools' rules: which recipe a variation, upscale, zoom, remix and morph make."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain.errors import ValidationError
from bot.domain.recipe import Mode, Recipe
from bot.domain.tools import (
    UPSCALE_STRENGTH,
    VARY_STRONG,
    VARY_SUBTLE,
    ZOOM_OVERLAP,
    check_frames,
    check_vary_strength,
    morph_recipes,
    remix_recipe,
    upscale_recipe,
    variation_recipe,
    zoom_layout,
    zoom_recipe,
)
from bot.domain.validation import Limits

PARENT = Recipe(prompt="a fox", negative="blur", width=512, height=384, steps=20, seed=42,
                user_prompt="fox", theme="forest", theme_prefix="a", notes=("a note",))
REF = "sha256:" + "a" * 64


def test_the_two_documented_strengths_are_subtle_and_strong() -> None:
    assert 0 < VARY_SUBTLE < VARY_STRONG < 1


def test_a_variation_keeps_everything_but_adds_its_seed_and_strength() -> None:
    child = variation_recipe(PARENT, strength=VARY_STRONG, variation_seed=7)
    assert child == dataclasses.replace(PARENT, variation_seed=7, variation_strength=VARY_STRONG,
                                        notes=())


@pytest.mark.parametrize("strength", [-0.1, 1.01, float("nan"), True, "0.3"])
def test_a_variation_strength_outside_0_to_1_is_refused(strength: object) -> None:
    with pytest.raises(ValidationError, match="variation strength must be a number from 0 to 1 "
                                              r"\(subtle 0.1, strong 0.35\)"):
        check_vary_strength(strength)  # type: ignore[arg-type]


def test_a_morph_frame_is_not_varied() -> None:
    frame = morph_recipes(PARENT, dataclasses.replace(PARENT, seed=43), 3)[1]
    with pytest.raises(ValidationError, match="a morph frame cannot be varied"):
        variation_recipe(frame, strength=0.1, variation_seed=1)


def test_an_upscale_doubles_the_size_at_a_low_strength_from_the_parents_image() -> None:
    varied = variation_recipe(PARENT, strength=0.2, variation_seed=3)
    child = upscale_recipe(varied, init_image=REF, limits=Limits())
    assert (child.mode, child.width, child.height, child.strength, child.init_image, child.seed,
            child.variation_seed, child.prompt) == (Mode.UPSCALE, 1024, 768, UPSCALE_STRENGTH,
                                                    REF, 42, None, "a fox")


def test_an_upscale_with_few_steps_still_runs_one_step() -> None:
    child = upscale_recipe(dataclasses.replace(PARENT, steps=2), init_image=REF, limits=Limits())
    assert child.strength == 0.5 and int(child.steps * child.strength) == 1


def test_an_upscale_past_twice_the_limits_is_refused() -> None:
    big = dataclasses.replace(PARENT, width=1536, height=512)
    with pytest.raises(ValidationError, match="the image is 1536×512; twice that is more than "
                                              "the largest upscale, 2048×2048"):
        upscale_recipe(big, init_image=REF, limits=Limits())


def test_the_zoom_layout_centres_the_image_shrunk_by_one_and_a_half() -> None:
    layout = zoom_layout(512, 384)
    assert (layout.inner_width, layout.inner_height, layout.left, layout.top) == (341, 256, 85,
                                                                                  64)
    assert layout.keep_box == (85 + ZOOM_OVERLAP, 64 + ZOOM_OVERLAP, 426 - ZOOM_OVERLAP,
                               320 - ZOOM_OVERLAP)


def test_a_zoom_out_inpaints_the_canvas_at_full_strength() -> None:
    child = zoom_recipe(PARENT, canvas=REF, mask="sha256:" + "b" * 64, limits=Limits())
    assert (child.mode, child.strength, child.init_image, child.width, child.seed) == (
        Mode.INPAINT, 1.0, REF, 512, 42)
    with pytest.raises(ValidationError, match="zoom out works on images within 1024×1024"):
        zoom_recipe(dataclasses.replace(PARENT, width=2048), canvas=REF, mask=REF,
                    limits=Limits())


def test_a_remix_keeps_the_seed_and_takes_the_new_prompt_whole() -> None:
    child = remix_recipe(PARENT, prompt="a fox, ink", negative=None)
    assert (child.prompt, child.negative, child.seed, child.user_prompt, child.theme) == (
        "a fox, ink", "blur", 42, None, None)
    assert remix_recipe(PARENT, prompt="x", negative="").negative == ""


def test_morph_frames_run_from_one_image_to_the_other() -> None:
    end = dataclasses.replace(PARENT, prompt="a whale", negative="", seed=9, variation_seed=4,
                              variation_strength=0.2)
    frames = morph_recipes(PARENT, end, 5)
    assert [f.blend for f in frames] == [0, 0.25, 0.5, 0.75, 1]
    assert {(f.seed, f.blend_seed, f.blend_variation_seed, f.blend_variation_strength,
             f.blend_prompt, f.blend_negative, f.prompt) for f in frames} == {
        (42, 9, 4, 0.2, "a whale", "", "a fox")}


@pytest.mark.parametrize(("changes", "needle"), [
    ({"width": 640}, "same size: job 1 has 512×384, job 2 has 640×384"),
    ({"steps": 30}, "same steps: job 1 has 20, job 2 has 30"),
    ({"scheduler": "ddim"}, "same scheduler: job 1 has euler_a, job 2 has ddim"),
    ({"guidance": 5.0}, "same guidance: job 1 has 7.5, job 2 has 5.0"),
    ({"mode": Mode.IMG2IMG}, "job 2 is img2img; a morph runs between two text-to-image"),
    ({"blend_seed": 3}, "job 2 is a morph frame"),
])
def test_morph_ends_must_agree(changes: dict[str, object], needle: str) -> None:
    end = dataclasses.replace(PARENT, **changes)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        morph_recipes(PARENT, end, 4, names=("job 1", "job 2"))
    assert needle in str(caught.value)


@pytest.mark.parametrize("frames", [1, 25, True, 2.5])
def test_a_morph_has_2_to_24_frames(frames: object) -> None:
    with pytest.raises(ValidationError, match="frames must be a whole number from 2 to 24"):
        check_frames(frames)  # type: ignore[arg-type]
    assert check_frames(2) == 2 and check_frames(24) == 24
