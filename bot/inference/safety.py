"""Safety checkers: which images of a batch are flagged, decided on the worker right after the
pipeline returns (the same call, no second pass).

A checker is anything with ``check(images, recipes) -> list[bool]`` (one flag per image). The
model's own checker (SD 1.x ships diffusers' ``StableDiffusionSafetyChecker`` with a
``CLIPImageProcessor``) is one implementation; the deterministic ones below stand in for it in
tests, benchmarks and notebooks. The engine takes the model's checker out of its pipeline at
load (``detach_safety_checker``): a pipeline that runs its own checker returns black images,
while the bot keeps every image as made and only decides where it may be shown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from PIL import Image

from bot.domain.recipe import Recipe

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

log = logging.getLogger(__name__)


class SafetyChecker(Protocol):
    """Decides, per image, whether it is flagged (not safe for every audience)."""

    name: str

    def check(self, images: Sequence[Image.Image], recipes: Sequence[Recipe]) -> list[bool]:
        """One flag per image, in order; ``recipes[i]`` is the recipe of ``images[i]``."""
        ...


class ModelSafetyChecker:
    """The checker a model ships: CLIP image features compared with its concept embeddings."""

    name = "model"

    def __init__(self, checker: Any, feature_extractor: Any) -> None:
        """``checker``: a ``StableDiffusionSafetyChecker`` (on the pipeline's device and dtype);
        ``feature_extractor``: the ``CLIPImageProcessor`` that prepares its input."""
        self.checker = checker
        self.feature_extractor = feature_extractor

    def check(self, images: Sequence[Image.Image], recipes: Sequence[Recipe]) -> list[bool]:
        """The model checker's verdict on each image (one batched forward pass)."""
        import numpy as np
        import torch

        if not images:
            return []
        parameter = next(self.checker.parameters())
        inputs = self.feature_extractor([image.convert("RGB") for image in images],
                                        return_tensors="pt")
        clip_input = inputs.pixel_values.to(device=parameter.device, dtype=parameter.dtype)
        # forward() blackens what it flags in the images it is given: it gets stand-ins, so the
        # images themselves stay as made (the file is kept for the operator to review).
        stand_ins = [np.zeros(1) for _ in images]
        with torch.inference_mode():
            _, flags = self.checker(clip_input=clip_input, images=stand_ins)
        return [bool(flag) for flag in flags]


class FlagAll:
    """Flags every image (tests: nothing may leak)."""

    name = "test:flag-all"

    def check(self, images: Sequence[Image.Image], recipes: Sequence[Recipe]) -> list[bool]:
        """True for each image."""
        return [True] * len(images)


class FlagNone:
    """Flags nothing (a checker that is there but finds nothing)."""

    name = "test:flag-none"

    def check(self, images: Sequence[Image.Image], recipes: Sequence[Recipe]) -> list[bool]:
        """False for each image."""
        return [False] * len(images)


class PromptWordChecker:
    """Flags the images whose prompt holds one of ``words`` (case-insensitive, whole words)."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(word.casefold() for word in words)
        self.name = "test:prompt-words"

    def check(self, images: Sequence[Image.Image], recipes: Sequence[Recipe]) -> list[bool]:
        """True where the recipe's prompt contains a flagged word."""
        return [bool(self.words & set(recipe.prompt.casefold().replace(",", " ").split()))
                for recipe in recipes]


def detach_safety_checker(pipe: DiffusionPipeline) -> ModelSafetyChecker | None:
    """Take the model's own checker out of ``pipe`` (so the pipeline never blackens an image)
    and return it as a :class:`ModelSafetyChecker`; None when the model ships none."""
    checker = getattr(pipe, "safety_checker", None)
    extractor = getattr(pipe, "feature_extractor", None)
    if checker is None:
        return None
    pipe.safety_checker = None
    config = getattr(pipe, "config", {})
    if "requires_safety_checker" in config:
        # Pipelines built from this one (img2img, inpaint) would warn that the checker is off.
        pipe.register_to_config(requires_safety_checker=False)
    if extractor is None:
        log.warning("the model has a safety checker but no feature extractor to feed it: "
                    "its images are not checked")
        return None
    return ModelSafetyChecker(checker, extractor)


VEIL_CELLS = 8  # a veiled preview's cells on its longer side


def veiled(image: Image.Image, cells: int = VEIL_CELLS) -> Image.Image:
    """``image`` as a coarse mosaic (``cells`` blocks on its longer side, same size): a progress
    preview that shows how far the image is, not what it shows."""
    scale = cells / max(image.size)
    small = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.BOX)
    return small.resize(image.size, Image.Resampling.NEAREST)


def run_checker(checker: SafetyChecker | None, images: Sequence[Image.Image],
                recipes: Sequence[Recipe]) -> list[bool]:
    """``checker``'s flags for ``images`` ([] when there is no checker). A checker that fails
    or answers for the wrong number of images flags the whole batch: an image nobody could
    check is treated as flagged, never as safe."""
    if checker is None:
        return []
    try:
        flags = [bool(flag) for flag in checker.check(images, recipes)]
    except Exception:
        log.exception("the safety checker %s failed; the batch's %d image(s) count as flagged",
                      checker.name, len(images))
        return [True] * len(images)
    if len(flags) != len(images):
        log.error("the safety checker %s gave %d flags for %d images; all count as flagged",
                  checker.name, len(flags), len(images))
        return [True] * len(images)
    if any(flags):
        log.info("safety checker %s flagged %d of %d image(s)", checker.name, sum(flags),
                 len(flags))
    return flags
