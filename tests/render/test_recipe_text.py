"""What the 📋 Recipe button says reproduces a job, per kind of job."""

from __future__ import annotations

import dataclasses

from bot.domain.lineage import Link, LinkKind
from bot.domain.recipe import Mode, Recipe
from bot.render.texts import code_block, recipe_command, recipe_text

STORED = "sha256:" + "a" * 64
DREAM = Recipe(prompt="a lighthouse", negative="fog", width=64, height=64, steps=2, seed=5)
SKETCH = dataclasses.replace(DREAM, mode=Mode.IMG2IMG, strength=0.6, init_image=STORED,
                             width=120, height=72)
INPAINT = dataclasses.replace(DREAM, mode=Mode.INPAINT, strength=1.0, init_image=STORED,
                              mask_image="sha256:" + "b" * 64, width=200, height=152,
                              source_size=(203, 157))


def test_a_prompt_is_a_dream_command_as_before() -> None:
    text = recipe_text(DREAM)
    assert text.command == recipe_command(DREAM) == (
        "/dream prompt:a lighthouse negative:fog width:64 height:64 steps:2 guidance:7.5 "
        "seed:5 scheduler:euler_a")
    assert text.notes == ()


def test_a_sketch_is_a_sketch_command_with_its_file_to_attach() -> None:
    text = recipe_text(SKETCH, files=["source.png"])
    assert text.command == (
        "/sketch image:<attach source.png> prompt:a lighthouse strength:0.6 negative:fog "
        "width:120 height:72 steps:2 guidance:7.5 seed:5 scheduler:euler_a")
    (note,) = text.notes
    assert "attach source.png as image:" in note


def test_an_inpaint_is_an_inpaint_command_with_its_image_and_mask() -> None:
    text = recipe_text(INPAINT, files=["source.png", "mask.png"])
    assert text.command == (
        "/inpaint image:<attach source.png> mask:<attach mask.png> prompt:a lighthouse "
        "strength:1 negative:fog steps:2 guidance:7.5 seed:5 scheduler:euler_a")
    assert "attach source.png as image: and mask.png as mask:" in text.notes[0]


def test_without_its_files_the_command_still_says_what_to_attach() -> None:
    text = recipe_text(INPAINT)
    assert text.command is not None and text.command.startswith(
        "/inpaint image:<attach the source image> mask:<attach the mask> prompt:")
    assert "could not be sent" in text.notes[0]


def test_a_variation_is_a_vary_command_on_its_parent() -> None:
    varied = dataclasses.replace(DREAM, variation_seed=99, variation_strength=0.35)
    text = recipe_text(varied, [Link(7, LinkKind.VARIATION)])
    assert text.command == "/vary job:7 strength:0.35 seed:99"
    # Rerolled, it is no job's variation any more: /dream, and a warning what it leaves out.
    rerolled = recipe_text(varied, [Link(8, LinkKind.REROLL)])
    assert rerolled.command == recipe_command(varied)
    assert "no variation seed" in rerolled.notes[0] and "seed 99" in rerolled.notes[0]


def test_a_zoom_out_is_an_inpaint_of_its_canvas_and_says_so() -> None:
    zoom = dataclasses.replace(INPAINT, source_size=None)
    text = recipe_text(zoom, [Link(4, LinkKind.ZOOM)], files=["source.png", "mask.png"])
    assert text.command is not None and text.command.startswith("/inpaint ")
    assert any("zoom-out of job 4" in note for note in text.notes)


def test_an_upscale_and_a_morph_frame_name_what_makes_them() -> None:
    upscale = dataclasses.replace(DREAM, mode=Mode.UPSCALE, strength=0.3, init_image=STORED)
    text = recipe_text(upscale, [Link(3, LinkKind.UPSCALE)])
    assert text.command is None and "⬆ Upscale under job 3" in text.notes[0]
    frame = dataclasses.replace(DREAM, blend=0.5, blend_seed=6)
    text = recipe_text(frame, [Link(1, LinkKind.MORPH, 0), Link(2, LinkKind.MORPH, 1)])
    assert text.command is None and "/morph from:1 to:2" in text.notes[0]


def test_backticks_in_a_prompt_cannot_close_the_block_of_any_command() -> None:
    prompt = "a fox ``` @everyone ```"
    for recipe in (SKETCH, INPAINT):
        command = recipe_text(dataclasses.replace(recipe, prompt=prompt)).command
        assert command is not None
        block = code_block(command, 2000)
        assert block.count("```") == 2 and block.startswith("```\n") and block.endswith("\n```")


def test_a_themed_job_gives_the_users_own_words_since_the_theme_adds_its_own() -> None:
    themed = dataclasses.replace(DREAM, prompt="oil painting of a lighthouse, at night",
                                 user_prompt="a lighthouse", theme="Night *oils*",
                                 theme_prefix="oil painting of", theme_suffix="at night")
    for recipe in (themed, dataclasses.replace(themed, mode=Mode.IMG2IMG, strength=0.6,
                                                init_image=STORED)):
        text = recipe_text(recipe, files=["source.png"])
        assert text.command is not None and "prompt:a lighthouse " in text.command
        assert "oil painting" not in text.command and "at night" not in text.command
        assert any("Night \\*oils\\*" in note for note in text.notes)  # escaped: user text
