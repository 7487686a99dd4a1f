"""The engine: one loaded model, its three modes on shared components, and batched generation.

Not thread-safe by design: the inference worker's one thread owns an engine and calls it in turn.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from bot.domain.errors import (
    GenerationCancelled,
    GenerationError,
    OutOfMemory,
    ValidationError,
)
from bot.domain.recipe import SEED_MAX, Mode, Recipe
from bot.domain.tokens import cut_note, words_cut
from bot.domain.validation import Limits, validate_recipe
from bot.inference.masks import keep_unmasked
from bot.inference.preview import latent_preview
from bot.inference.results import GenerationResult, StepProgress  # re-exported (moved)
from bot.inference.schedulers import make_scheduler
from bot.inference.sources import load_pipeline, resolve_device, resolve_dtype

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

log = logging.getLogger(__name__)

# The recipe's init_image/mask_image placeholder for an image handed over as a PIL object
# (recipes name their images by path; the engine API takes the pixels themselves).
IN_MEMORY = "<memory>"

ProgressCallback = Callable[[StepProgress], None]


def _require_image(value: object, what: str) -> Image.Image:
    """``value`` if it is a PIL image; else a ValidationError that names what it got."""
    if not isinstance(value, Image.Image):
        got = "None" if value is None else type(value).__name__
        raise ValidationError(f"{what} must be a PIL image, got {got}")
    return value


def _require_images(values: object, what: str) -> None:
    """Check that ``values`` (if given) is a sequence of PIL images."""
    if values is None:
        return
    if isinstance(values, Image.Image) or not isinstance(values, Sequence):
        raise ValidationError(f"{what}s must be a list of PIL images, got "
                              f"{type(values).__name__}")
    for value in values:
        _require_image(value, what)


def _fit_image(image: Image.Image, width: int, height: int, mode: str) -> Image.Image:
    """``image`` in colour ``mode`` at exactly ``width``×``height``."""
    converted = image if image.mode == mode else image.convert(mode)
    if converted.size == (width, height):
        return converted
    # Masks stay hard-edged; photos get a proper filter.
    resample = Image.Resampling.NEAREST if mode == "L" else Image.Resampling.LANCZOS
    return converted.resize((width, height), resample)


def _fit_all(images: Sequence[Image.Image], count: int, recipe: Recipe,
             mode: str, what: str) -> list[Image.Image]:
    """One fitted image per recipe; a single image is shared by every recipe of the batch."""
    if len(images) not in (1, count):
        raise ValueError(f"got {len(images)} {what}s for {count} recipes; give one or {count}")
    fitted = [_fit_image(image, recipe.width, recipe.height, mode) for image in images]
    return fitted * count if len(fitted) == 1 else fitted


class Engine:
    """One loaded model that generates images for recipes in txt2img, img2img and inpaint mode."""

    def __init__(self, pipeline: DiffusionPipeline, *, model_id: str, family: str,
                 device: torch.device, dtype: torch.dtype, limits: Limits | None = None) -> None:
        self.model_id = model_id
        self.family = family
        self.device = device
        self.dtype = dtype
        self.limits = limits or Limits()
        self._pipes: dict[Mode, DiffusionPipeline] = {Mode.TXT2IMG: pipeline}
        # Schedulers are rebuilt per call from the model's own config; the original object is
        # put back after each call so that save_pretrained always saves the model's scheduler.
        self._scheduler = pipeline.scheduler
        # Progress goes through our callback; the pipeline's tqdm bar would spam the worker's log.
        pipeline.set_progress_bar_config(disable=True)

    def __repr__(self) -> str:
        return (f"Engine(model_id={self.model_id!r}, family={self.family!r}, "
                f"device={self.device}, dtype={self.dtype})")

    @property
    def pipeline(self) -> DiffusionPipeline:
        """The text-to-image pipeline (the other modes share its components)."""
        return self._pipes[Mode.TXT2IMG]

    def pipeline_for(self, mode: Mode) -> DiffusionPipeline:
        """The pipeline of ``mode``, built once with ``from_pipe`` on the same components."""
        if mode not in self._pipes:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            auto = AutoPipelineForImage2Image if mode is Mode.IMG2IMG else AutoPipelineForInpainting
            # AutoPipeline.from_pipe shares the modules as they are; DiffusionPipeline.from_pipe
            # would cast them (the shared UNet included) to fp32 unless given torch_dtype.
            pipe = auto.from_pipe(self.pipeline)
            pipe.set_progress_bar_config(disable=True)
            self._pipes[mode] = pipe
        return self._pipes[mode]

    # Convenience API ---------------------------------------------------------------------------

    def txt2img(self, prompt: str, negative: str = "", width: int = 512, height: int = 512,
                steps: int = 25, guidance: float = 7.5, seed: int | None = None,
                scheduler: str = "euler_a", *, progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None) -> GenerationResult:
        """Render one image from a prompt."""
        recipe = Recipe(prompt=prompt, negative=negative, width=width, height=height,
                        steps=steps, guidance=guidance, seed=seed, scheduler=scheduler,
                        model=self.model_id)
        return self.generate([recipe], progress=progress, cancel=cancel)

    def img2img(self, image: Image.Image, prompt: str, strength: float = 0.75,
                negative: str = "", width: int | None = None, height: int | None = None,
                steps: int = 25, guidance: float = 7.5, seed: int | None = None,
                scheduler: str = "euler_a", *, progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None) -> GenerationResult:
        """Redraw ``image`` after a prompt (size defaults to the image's, rounded down to 8)."""
        _require_image(image, "image")
        recipe = Recipe(prompt=prompt, negative=negative,
                        width=width or image.width // 8 * 8, height=height or image.height // 8 * 8,
                        steps=steps, guidance=guidance, seed=seed, scheduler=scheduler,
                        model=self.model_id, mode=Mode.IMG2IMG, strength=strength,
                        init_image=IN_MEMORY)
        return self.generate([recipe], images=[image], progress=progress, cancel=cancel)

    def inpaint(self, image: Image.Image, mask: Image.Image, prompt: str, strength: float = 1.0,
                negative: str = "", width: int | None = None, height: int | None = None,
                steps: int = 25, guidance: float = 7.5, seed: int | None = None,
                scheduler: str = "euler_a", *, progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None) -> GenerationResult:
        """Repaint the white part of ``mask`` in ``image``; outside it, ``image`` is kept as is.

        The mask's edge is softened over a few pixels (``bot.inference.masks.EDGE_REACH`` on
        either side) so that the repainted area blends in.
        """
        _require_image(image, "image")
        _require_image(mask, "mask")
        recipe = Recipe(prompt=prompt, negative=negative,
                        width=width or image.width // 8 * 8, height=height or image.height // 8 * 8,
                        steps=steps, guidance=guidance, seed=seed, scheduler=scheduler,
                        model=self.model_id, mode=Mode.INPAINT, strength=strength,
                        init_image=IN_MEMORY, mask_image=IN_MEMORY)
        return self.generate([recipe], images=[image], masks=[mask], progress=progress,
                             cancel=cancel)

    # Batch-ready core --------------------------------------------------------------------------

    def _validated(self, recipes: Sequence[Recipe], *, has_images: bool,
                   has_masks: bool) -> list[Recipe]:
        """Every recipe checked against the limits, before any tensor work."""
        if not recipes:
            raise ValueError("generate needs at least one recipe")
        checked = []
        for recipe in recipes:
            if recipe.mode is not Mode.TXT2IMG:
                # Images handed over as pixels satisfy the recipe's need for an image path.
                if has_images and not recipe.init_image:
                    recipe = dataclasses.replace(recipe, init_image=IN_MEMORY)
                if has_masks and not recipe.mask_image:
                    recipe = dataclasses.replace(recipe, mask_image=IN_MEMORY)
            checked.append(validate_recipe(recipe, self.limits))
        mode = checked[0].mode
        if self.inpainting_only and mode is not Mode.INPAINT:
            raise ValidationError(f"model {self.model_id!r} is an inpainting checkpoint: it can "
                                  "only repaint a masked image (inpaint), not "
                                  f"{mode.value}")
        if mode is not Mode.TXT2IMG and not has_images:
            raise ValidationError(f"{mode.value} needs an input image (pass images=)")
        if mode is Mode.INPAINT and not has_masks:
            raise ValidationError("inpaint needs a mask image (pass masks=)")
        keys = {recipe.batch_key() for recipe in checked}
        if len(keys) > 1:
            raise ValueError(f"recipes of one call must share Recipe.batch_key(); got {len(keys)} "
                             "different keys (model, mode, size, steps, scheduler, guidance, "
                             "strength)")
        return checked

    def generate(self, recipes: Sequence[Recipe], *, images: Sequence[Image.Image] | None = None,
                 masks: Sequence[Image.Image] | None = None,
                 progress: ProgressCallback | None = None,
                 progress_interval: float = 0.0,
                 cancel: threading.Event | None = None) -> GenerationResult:
        """Render ``recipes`` (sharing one batch key) in ONE pipeline call, one seed per image.

        ``progress`` hears of the first and last step and of at most one step per
        ``progress_interval`` seconds between; only those steps pay for a preview.

        Each image equals its unbatched render up to float rounding. Raises ValidationError for
        a bad request, GenerationCancelled when ``cancel`` is set between two steps, and
        GenerationError when the device runs out of memory.
        """
        # 1. Validate everything before touching a tensor.
        _require_images(images, "image")
        _require_images(masks, "mask")
        checked = self._validated(recipes, has_images=bool(images), has_masks=bool(masks))
        first, count = checked[0], len(checked)
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled("cancelled before the first step")

        # 2. Fill in seeds and the model; these recipes are what the result records.
        started = time.perf_counter()
        seeds = [secrets.randbelow(SEED_MAX + 1) if r.seed is None else r.seed for r in checked]
        done = [dataclasses.replace(r, model=self.model_id, seed=seed)
                for r, seed in zip(checked, seeds, strict=True)]
        # One generator per image, so each image is its own seed's, batched or not.
        generators = [torch.Generator(device=self.device).manual_seed(seed) for seed in seeds]

        # 3. Arguments of the mode's pipeline call.
        kwargs: dict[str, Any] = {
            # Explicit negatives, even empty ones: SDXL turns a missing negative into zeros but
            # encodes "", so a batch mixing both would differ from its unbatched renders.
            "prompt": [r.prompt for r in done],
            "negative_prompt": [r.negative for r in done],
            "num_inference_steps": first.steps,
            "guidance_scale": first.guidance,
            "generator": generators,
            "output_type": "pil",
        }
        if first.mode is not Mode.IMG2IMG:  # img2img takes its size from the image
            kwargs.update(width=first.width, height=first.height)
        if first.mode is not Mode.TXT2IMG:
            kwargs["image"] = _fit_all(images or [], count, first, "RGB", "image")
            kwargs["strength"] = first.strength
        if first.mode is Mode.INPAINT:
            kwargs["mask_image"] = _fit_all(masks or [], count, first, "L", "mask")

        self._log_cut_prompts(done)

        # 4. Run, reporting each step and stopping between steps when cancelled.
        pipe = self.pipeline_for(first.mode)
        stamps: list[float] = []
        reported = float("-inf")

        def on_step_end(pipeline: Any, index: int, timestep: Any,
                        tensors: dict[str, Any]) -> dict[str, Any]:
            nonlocal reported
            self._synchronize()  # GPUs run ahead of Python: time the step, not its launch
            now = time.perf_counter()
            stamps.append(now)
            total = int(getattr(pipeline, "num_timesteps", first.steps))
            if progress is not None and (now - reported >= progress_interval
                                         or index + 1 in (1, total)):
                reported = now
                preview = latent_preview(tensors["latents"], self.family)
                progress(StepProgress(index + 1, total, now - started, preview))
            if cancel is not None and cancel.is_set():
                # The documented interrupt flag alone would still VAE-decode the half image
                # (seconds on CPU); raising stops right here.
                pipeline._interrupt = True
                raise GenerationCancelled(f"cancelled after step {index + 1}")
            return tensors

        output = self._call(pipe, first, count, kwargs, on_step_end)
        results = list(output.images)
        if first.mode is Mode.INPAINT:
            # The pipeline redraws the kept area too (through the VAE): put the original back.
            results = [keep_unmasked(original, result, mask) for original, result, mask
                       in zip(kwargs["image"], results, kwargs["mask_image"], strict=True)]

        # 5. The result, with timings.
        seconds = time.perf_counter() - started
        if len(stamps) >= 2:
            step_seconds = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
        else:
            step_seconds = stamps[0] - started if stamps else 0.0
        return GenerationResult(images=results, recipes=done, seconds=seconds,
                                step_seconds=step_seconds)

    def _log_cut_prompts(self, recipes: Sequence[Recipe]) -> None:
        """Log (at INFO) the words of each prompt that the 77-token text encoder will ignore."""
        # diffusers' own warning lists decoded BPE pieces and is filtered (bot.inference.quiet);
        # the bot and the CLI tell the user themselves, so this line is for the log only.
        tokenize = getattr(getattr(self.pipeline, "tokenizer", None), "tokenize", None)
        if not callable(tokenize) or not log.isEnabledFor(logging.INFO):
            return
        for recipe in recipes:
            cut = words_cut(recipe.prompt, lambda text: len(tokenize(text)))
            if cut:
                log.info("seed %s: %s", recipe.seed, cut_note(cut))

    def _call(self, pipe: DiffusionPipeline, recipe: Recipe, count: int, kwargs: dict[str, Any],
              on_step_end: Callable[..., dict[str, Any]]) -> Any:
        """One pipeline call with the recipe's scheduler; out-of-memory becomes GenerationError."""
        pipe.scheduler = make_scheduler(recipe.scheduler, self._scheduler.config)
        try:
            with torch.inference_mode():
                return pipe(**kwargs, callback_on_step_end=on_step_end,
                            callback_on_step_end_tensor_inputs=["latents"])
        except RuntimeError as error:
            # CUDA raises OutOfMemoryError (a RuntimeError); MPS a plain RuntimeError.
            out_of_memory = isinstance(error, torch.cuda.OutOfMemoryError) or (
                self.device.type != "cpu" and "out of memory" in str(error).lower())
            if not out_of_memory:
                raise
            # The traceback's frames hold the step's activations: drop their locals, then
            # return the cached blocks, so the next (smaller) job finds the memory free.
            traceback.clear_frames(error.__traceback__)
            self._free_cache()
            raise self._oom_error(recipe, count, error) from error
        finally:
            pipe.scheduler = self._scheduler

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()

    def _free_cache(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        elif self.device.type == "mps":
            torch.mps.empty_cache()

    @property
    def inpainting_only(self) -> bool:
        """True for 9-channel inpainting checkpoints (image + mask + latents in the UNet)."""
        unet = getattr(self.pipeline, "unet", None)
        return bool(unet is not None and getattr(unet.config, "in_channels", 4) == 9)

    def _oom_error(self, recipe: Recipe, count: int, error: BaseException) -> GenerationError:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return OutOfMemory(
            f"out of GPU memory at {recipe.width}x{recipe.height}, batch {count}: try a smaller "
            f"size or fewer images at once ({first_line})")


def load_engine(source: str, device: str = "auto", dtype: str = "auto", *,
                family: str | None = None, limits: Limits | None = None) -> Engine:
    """Load a model (``"tiny"``, a diffusers folder, a checkpoint file or a HF id) as an Engine."""
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    started = time.perf_counter()
    pipeline, model_family = load_pipeline(source, family=family, torch_dtype=torch_dtype)
    pipeline = pipeline.to(torch_device)
    log.info("loaded model %r (%s) on %s in %s in %.1f s", source, model_family, torch_device,
             torch_dtype, time.perf_counter() - started)
    return Engine(pipeline, model_id=source, family=model_family, device=torch_device,
                  dtype=torch_dtype, limits=limits)
