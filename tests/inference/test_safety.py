"""Safety checkers on the worker: the model's own checker (a tiny random
StableDiffusionSafetyChecker through the real code path, loaded from a saved SD folder), the
deterministic test checkers, the engine running the checker in the same call as the generation,
and progress previews veiled while a checker is on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from bot.domain.models import ModelSpec
from bot.domain.recipe import Recipe
from bot.inference import Engine, load_engine
from bot.inference.safety import (
    FlagAll,
    FlagNone,
    ModelSafetyChecker,
    PromptWordChecker,
    detach_safety_checker,
    run_checker,
)

SIDE = 32  # the tiny checker's input side


def tiny_checker(*, threshold: float) -> tuple[Any, Any]:
    """A seeded random StableDiffusionSafetyChecker of tiny CLIP sizes and its processor; every
    concept's threshold is ``threshold`` (cosines lie in [-1, 1]: -2 flags all, 2 none)."""
    from diffusers.pipelines.stable_diffusion.safety_checker import (
        StableDiffusionSafetyChecker,
    )
    from transformers import CLIPConfig, CLIPImageProcessor

    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "vocab_size": 100,
                     "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": SIDE, "patch_size": 8},
        projection_dim=8)
    state = torch.random.get_rng_state()
    torch.manual_seed(14)
    try:
        checker = StableDiffusionSafetyChecker(config).eval()
        with torch.no_grad():
            checker.concept_embeds.normal_()
            checker.special_care_embeds.normal_()
    finally:
        torch.random.set_rng_state(state)
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(threshold)
        checker.special_care_embeds_weights.fill_(2.0)  # no "special care" adjustment
    processor = CLIPImageProcessor(size={"shortest_edge": SIDE},
                                   crop_size={"height": SIDE, "width": SIDE})
    return checker, processor


def _solid(colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (64, 64), colour)


def _embedding(checker: Any, processor: Any, image: Image.Image) -> torch.Tensor:
    pixels = processor([image], return_tensors="pt").pixel_values
    with torch.no_grad():
        pooled = checker.vision_model(pixels)[1]
        return torch.nn.functional.normalize(checker.visual_projection(pooled))[0]


def test_the_model_checker_flags_by_its_concepts_and_keeps_the_images() -> None:
    checker, processor = tiny_checker(threshold=0.0)
    red, noise = _solid((220, 20, 20)), Image.fromarray(
        np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    # Every concept is the red image's own embedding, with a threshold between the two images'
    # cosines to it: the real scoring path must tell them apart.
    target, other = _embedding(checker, processor, red), _embedding(checker, processor, noise)
    similarity = float(target @ other)
    assert similarity < 0.9999
    with torch.no_grad():
        checker.concept_embeds.copy_(target.expand_as(checker.concept_embeds))
        checker.concept_embeds_weights.fill_((similarity + 1.0) / 2)
    model = ModelSafetyChecker(checker, processor)
    images = [red, noise, red]
    before = [np.asarray(image).copy() for image in images]
    assert model.check(images, [Recipe(prompt="x")] * 3) == [True, False, True]
    assert all(np.array_equal(np.asarray(i), b) for i, b in zip(images, before, strict=True))
    assert model.check([], []) == []


def test_the_deterministic_checkers() -> None:
    images = [_solid((0, 0, 0))] * 3
    recipes = [Recipe(prompt="a Cat, sleeping"), Recipe(prompt="a dog"),
               Recipe(prompt="concatenate")]
    assert FlagAll().check(images, recipes) == [True] * 3
    assert FlagNone().check(images, recipes) == [False] * 3
    assert PromptWordChecker({"cat"}).check(images, recipes) == [True, False, False]


class _Broken:
    name = "broken"

    def __init__(self, answer: list[bool] | None) -> None:
        self.answer = answer

    def check(self, images: Any, recipes: Any) -> list[bool]:
        if self.answer is None:
            raise RuntimeError("the checker fell over")
        return self.answer


def test_a_failing_or_miscounting_checker_flags_the_whole_batch() -> None:
    images, recipes = [_solid((0, 0, 0))] * 2, [Recipe(prompt="x")] * 2
    assert run_checker(None, images, recipes) == []
    assert run_checker(_Broken(None), images, recipes) == [True, True]
    assert run_checker(_Broken([False]), images, recipes) == [True, True]
    assert run_checker(_Broken([False, True]), images, recipes) == [False, True]


def test_an_injected_checker_runs_in_the_generation_call(tiny_engine: Engine,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert tiny_engine.safety is None  # the tiny model ships no checker
    plain = tiny_engine.generate([Recipe(prompt="a cat", width=64, height=64, steps=2, seed=1)])
    assert plain.flagged == [] and not plain.is_flagged(0)
    seen: list[list[Image.Image]] = []

    class Watching(PromptWordChecker):
        def check(self, images: Any, recipes: Any) -> list[bool]:
            seen.append(list(images))
            return super().check(images, recipes)

    monkeypatch.setattr(tiny_engine, "safety", Watching({"cat"}))
    recipes = [Recipe(prompt=p, width=64, height=64, steps=2, seed=1)
               for p in ("a cat", "a dog", "cat and dog")]
    result = tiny_engine.generate(recipes)
    assert result.flagged == [True, False, True]
    assert [result.is_flagged(i) for i in range(4)] == [True, False, True, False]
    assert len(seen) == 1 and seen[0] == result.images  # one batched call, the images returned


def _folder_with_checker(tmp_path: Path, threshold: float) -> Path:
    from diffusers import StableDiffusionPipeline

    from bot.inference.tiny import build_tiny_pipeline

    tiny = build_tiny_pipeline()
    checker, processor = tiny_checker(threshold=threshold)
    parts = {name: getattr(tiny, name)
             for name in ("vae", "text_encoder", "tokenizer", "unet", "scheduler")}
    pipe = StableDiffusionPipeline(**parts, safety_checker=checker, feature_extractor=processor,
                                   requires_safety_checker=True)
    folder = tmp_path / "sd-with-checker"
    pipe.save_pretrained(folder)
    return folder


def test_a_model_folder_with_a_checker_flags_without_blackening(tmp_path: Path) -> None:
    engine = load_engine(str(_folder_with_checker(tmp_path, threshold=-2.0)), device="cpu")
    assert isinstance(engine.safety, ModelSafetyChecker)
    # Out of the pipeline, so diffusers neither blackens nor checks a second time.
    assert engine.pipeline.safety_checker is None
    recipes = [Recipe(prompt="a lighthouse", width=64, height=64, steps=2, seed=s)
               for s in (1, 2)]
    result = engine.generate(recipes)
    assert result.flagged == [True, True]
    assert all(np.asarray(image).max() > 0 for image in result.images)  # not black
    # Image-to-image shares the components: checked too, never by the pipeline itself.
    varied = engine.img2img(result.images[0], "a lighthouse", strength=0.5, steps=2, seed=3)
    assert varied.flagged == [True]
    assert engine.pipeline_for(recipes[0].mode).safety_checker is None


def test_checker_off_in_the_config_drops_the_models_checker(tmp_path: Path) -> None:
    from bot.inference.models import load_model

    folder = str(_folder_with_checker(tmp_path, threshold=-2.0))
    off = load_model(ModelSpec(name="sd", source=folder, device="cpu", safety_checker=False))
    assert off.safety is None
    on = load_model(ModelSpec(name="sd", source=folder, device="cpu"))
    assert isinstance(on.safety, ModelSafetyChecker)


def test_detaching_from_a_pipeline_without_a_checker_changes_nothing(tiny_engine: Engine
                                                                     ) -> None:
    assert detach_safety_checker(tiny_engine.pipeline) is None


def _is_mosaic(image: Image.Image, cells: int) -> bool:
    coarse = image.resize((cells, cells), Image.Resampling.NEAREST)
    return np.array_equal(np.asarray(coarse.resize(image.size, Image.Resampling.NEAREST)),
                          np.asarray(image))


def test_previews_are_veiled_while_a_checker_is_on(tiny_engine: Engine,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.inference.safety import VEIL_CELLS

    def previews() -> list[Image.Image]:
        seen: list[Image.Image] = []
        tiny_engine.txt2img("a cat", width=256, height=256, steps=2, seed=1,
                            progress=lambda step: seen.append(step.preview)
                            if step.preview is not None else None)
        assert seen and all(image.size == (32, 32) for image in seen)  # latent resolution
        return seen

    assert not any(_is_mosaic(image, VEIL_CELLS) for image in previews())
    # Made before the checker sees the image: only a coarse mosaic is shown anywhere.
    monkeypatch.setattr(tiny_engine, "safety", FlagNone())
    assert all(_is_mosaic(image, VEIL_CELLS) for image in previews())


def test_the_config_switch_reaches_every_model_and_takes_only_true_or_false() -> None:
    from bot.config import ConfigError, settings_from_dict

    models = {"models": {"other": {"id": "tiny"}}}
    assert all(spec.safety_checker for spec in settings_from_dict(models).catalog)
    off = settings_from_dict({**models, "safety": {"checker": False}})
    assert not any(spec.safety_checker for spec in off.catalog)
    with pytest.raises(ConfigError, match=r"safety\.checker"):
        settings_from_dict({"safety": {"checker": "test:flag-all"}})


def test_the_verdicts_cross_the_ray_serve_boundary_per_request() -> None:
    from types import SimpleNamespace

    from bot.inference.ray_serve import Renderer, _Request, encode_png
    from bot.inference.results import GenerationResult
    from bot.queue.ray_backend import _result

    images = [_solid((9, 9, 9))] * 3
    recipes = [Recipe(prompt=p, seed=1) for p in ("a", "b", "c")]
    first, second = _Request(recipes[:1], None, None), _Request(recipes[1:], None, None)
    result = GenerationResult(images, recipes, 1.0, 0.1, flagged=[False, True, False])
    Renderer._hand_out(SimpleNamespace(_name="r"),  # type: ignore[arg-type]
                       [first, second], result, [encode_png(image) for image in images])
    assert _result(first.messages.get_nowait()).flagged == [False]
    assert _result(second.messages.get_nowait()).flagged == [True, False]
