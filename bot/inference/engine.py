"""The engine: one loaded model, its modes on shared components, and batched generation.

Text-to-image, image-to-image, inpainting and upscales (image-to-image on the enlarged image,
tiled beyond the size limits); variations and morph frames get their own noise and prompt
embeddings per image (``bot.inference.noise``), so they batch like any recipe. The image tools'
convenience methods (vary, remix, upscale, zoom out, morph) come from ``ImageTools``.

Not thread-safe by design: the inference worker's one thread owns an engine and calls it in turn.
"""

from __future__ import annotations

import contextlib
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
from bot.inference.loras import encoder_prompts
from bot.inference.masks import paste_into
from bot.inference.noise import ImageNoise, NoisePlan, blended_prompt_embeds, blends_prompts
from bot.inference.preview import latent_preview
from bot.inference.results import GenerationResult, StepProgress  # re-exported (moved)
from bot.inference.safety import SafetyChecker, detach_safety_checker, run_checker, veiled
from bot.inference.schedulers import make_scheduler
from bot.inference.sources import load_pipeline, resolve_device, resolve_dtype
from bot.inference.steps import StepReporter
from bot.inference.tiles import OVERLAP_FRACTION, blend_tiles, tile_layout, tile_side
from bot.inference.tools import IN_MEMORY, ImageTools, require_image

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

    from bot.inference.loras import LoraAdapters

log = logging.getLogger(__name__)

ProgressCallback = Callable[[StepProgress], None]


def _require_images(values: object, what: str) -> None:
    """Check that ``values`` (if given) is a sequence of PIL images."""
    if values is None:
        return
    if isinstance(values, Image.Image) or not isinstance(values, Sequence):
        raise ValidationError(f"{what}s must be a list of PIL images, got "
                              f"{type(values).__name__}")
    for value in values:
        require_image(value, what)


def _fit_image(image: Image.Image, width: int, height: int, mode: str) -> Image.Image:
    """``image`` in colour ``mode`` at exactly ``width``×``height``."""
    converted = image if image.mode == mode else image.convert(mode)
    if converted.size == (width, height):
        return converted
    # Masks stay hard-edged; photos get a proper filter.
    resample = Image.Resampling.NEAREST if mode == "L" else Image.Resampling.LANCZOS
    return converted.resize((width, height), resample)


def _each(images: Sequence[Image.Image], count: int) -> list[Image.Image]:
    """One image per recipe (a single image is shared by every recipe of the batch)."""
    return list(images) * count if len(images) == 1 else list(images)


def _fit_all(images: Sequence[Image.Image], count: int, recipe: Recipe,
             mode: str, what: str) -> list[Image.Image]:
    """One fitted image per recipe; a single image is shared by every recipe of the batch."""
    if len(images) not in (1, count):
        raise ValueError(f"got {len(images)} {what}s for {count} recipes; give one or {count}")
    fitted = [_fit_image(image, recipe.width, recipe.height, mode) for image in images]
    return fitted * count if len(fitted) == 1 else fitted


class Engine(ImageTools):
    """One loaded model that generates images for recipes: txt2img, img2img, inpaint and
    upscale, with variations and morph frames in latent space."""

    def __init__(self, pipeline: DiffusionPipeline, *, model_id: str, family: str,
                 device: torch.device, dtype: torch.dtype, limits: Limits | None = None,
                 upscaler: str | None = None) -> None:
        self.model_id = model_id
        self.family = family
        self.device = device
        self.dtype = dtype
        self.limits = limits or Limits()
        # A ×4 upscaler model (``[model] upscaler``) for upscales; None: tiled img2img.
        self.upscaler = upscaler or None
        self._upscaler_pipe: DiffusionPipeline | None = None
        self._pipes: dict[Mode, DiffusionPipeline] = {Mode.TXT2IMG: pipeline}
        # Schedulers are rebuilt per call from the model's own config; the original object is
        # put back after each call so that save_pretrained always saves the model's scheduler.
        self._scheduler = pipeline.scheduler
        # Progress goes through our callback; the pipeline's tqdm bar would spam the worker's log.
        pipeline.set_progress_bar_config(disable=True)
        # Applies a recipe's LoRAs around each pipeline call (set by bot.inference.models;
        # None: this engine takes no LoRAs).
        self.loras: LoraAdapters | None = None
        # Flags each image on this thread right after the pipeline returns: the model's own
        # checker (taken out of the pipeline, which would blacken what it flags), None when the
        # model ships none or ``[safety] checker = false``; tests put a deterministic one here.
        self.safety: SafetyChecker | None = detach_safety_checker(pipeline)

    def __repr__(self) -> str:
        return (f"Engine(model_id={self.model_id!r}, family={self.family!r}, "
                f"device={self.device}, dtype={self.dtype})")

    @property
    def pipeline(self) -> DiffusionPipeline:
        """The text-to-image pipeline (the other modes share its components)."""
        return self._pipes[Mode.TXT2IMG]

    def pipeline_for(self, mode: Mode) -> DiffusionPipeline:
        """The pipeline of ``mode``, built once with ``from_pipe`` on the same components."""
        if mode is Mode.UPSCALE:
            mode = Mode.IMG2IMG  # an upscale's passes are image-to-image
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
        require_image(image, "image")
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
        either side) so that the repainted area blends in. Without ``width`` and ``height`` the
        result has the image's own size: an image whose sides are not multiples of 8 is
        rendered at the multiples of 8 below them and the render pasted back into it. With
        them, the image is resized to that size, and so is the result.
        """
        require_image(image, "image")
        require_image(mask, "mask")
        own_size = width is None and height is None
        recipe = Recipe(prompt=prompt, negative=negative,
                        width=width or image.width // 8 * 8, height=height or image.height // 8 * 8,
                        steps=steps, guidance=guidance, seed=seed, scheduler=scheduler,
                        model=self.model_id, mode=Mode.INPAINT, strength=strength,
                        init_image=IN_MEMORY, mask_image=IN_MEMORY,
                        source_size=image.size if own_size else None)
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

        Variations and morph frames get their own initial noise (and prompt embeddings), so
        they batch like any other recipe. An upscale larger than the size limits runs one call
        per tile. ``progress`` hears of the first and last step and of at most one step per
        ``progress_interval`` seconds between; only those steps pay for a preview.

        Each image equals its unbatched render up to float rounding. Raises ValidationError for
        a bad request, GenerationCancelled when ``cancel`` is set between two steps, and
        GenerationError when the device runs out of memory.
        """
        # 1. Validate everything before touching a tensor.
        _require_images(images, "image")
        _require_images(masks, "mask")
        checked = self._validated(recipes, has_images=bool(images), has_masks=bool(masks))
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled("cancelled before the first step")

        # 2. Fill in seeds (variation seeds too) and the model; the result records these.
        started = time.perf_counter()
        done = [self._drawn(recipe) for recipe in checked]
        steps = StepReporter(done[0].steps, started, progress=progress,
                             interval=progress_interval, cancel=cancel,
                             preview=self._preview,
                             synchronize=self._synchronize)
        self._log_cut_prompts(done)

        # 3. Render: one pipeline call, or one per tile (or through the upscaler model).
        if done[0].mode is Mode.UPSCALE:
            results, done = self._upscale(done, list(images or []), steps)
        else:
            results = self._render(done, images, masks, steps)
        # 4. The safety checker, batched with the generation (same call, same thread).
        flagged = run_checker(self.safety, results, done)
        return GenerationResult(images=results, recipes=done,
                                seconds=time.perf_counter() - started,
                                step_seconds=steps.step_seconds, flagged=flagged)

    def _preview(self, latents: torch.Tensor) -> Image.Image | None:
        """A step's preview; coarse while a safety checker is on (it is made before the checker
        sees the image, and may be shown where a flagged image may not)."""
        image = latent_preview(latents, self.family)
        return veiled(image) if image is not None and self.safety is not None else image

    def _drawn(self, recipe: Recipe) -> Recipe:
        """``recipe`` with its seed (and a variation's seed) drawn when unset, and the model."""
        seed = secrets.randbelow(SEED_MAX + 1) if recipe.seed is None else recipe.seed
        variation_seed = recipe.variation_seed
        if variation_seed is None and recipe.variation_strength > 0:
            variation_seed = secrets.randbelow(SEED_MAX + 1)
        return dataclasses.replace(recipe, model=self.model_id, seed=seed,
                                   variation_seed=variation_seed,
                                   lora_hashes=self._lora_hashes(recipe))

    def _lora_hashes(self, recipe: Recipe) -> tuple[tuple[str, str], ...]:
        if not recipe.loras:
            return ()
        if self.loras is None:
            raise ValidationError(f"model {self.model_id!r} takes no LoRAs here (no [loras] "
                                  "dirs), so <lora:...> cannot be used")
        return self.loras.hashes(recipe.loras)

    def _loras_applied(self, recipe: Recipe) -> contextlib.AbstractContextManager[None]:
        """The recipe's LoRAs on for one call, off again after (bot.inference.loras)."""
        if not recipe.loras or self.loras is None:
            return contextlib.nullcontext()
        return self.loras.applied(self.pipeline, recipe.loras)

    def _render(self, done: Sequence[Recipe], images: Sequence[Image.Image] | None,
                masks: Sequence[Image.Image] | None, steps: StepReporter) -> list[Image.Image]:
        """One pipeline call for ``done`` (seeds drawn): the images, in order."""
        first, count = done[0], len(done)
        mode = Mode.IMG2IMG if first.mode is Mode.UPSCALE else first.mode
        pipe = self.pipeline_for(mode)
        noise = [ImageNoise.of(recipe) for recipe in done]
        # One generator per image, so each image is its own seed's, batched or not.
        plan = NoisePlan(noise, self.device)
        planned = any(image.planned for image in noise)
        kwargs: dict[str, Any] = {
            "num_inference_steps": first.steps,
            "guidance_scale": first.guidance,
            "generator": plan.generators,
            "output_type": "pil",
        }
        if mode is not Mode.IMG2IMG:  # img2img takes its size from the image
            kwargs.update(width=first.width, height=first.height)
        if mode is not Mode.TXT2IMG:
            kwargs["image"] = _fit_all(images or [], count, first, "RGB", "image")
            kwargs["strength"] = first.strength
        if mode is Mode.INPAINT:
            kwargs["mask_image"] = _fit_all(masks or [], count, first, "L", "mask")
        with torch.inference_mode():
            if blends_prompts(done):
                with self._loras_applied(first):  # a LoRA may change the text encoder too
                    kwargs.update(blended_prompt_embeds(pipe, done, self.device))
            else:
                # Explicit negatives, even empty ones: SDXL turns a missing negative into zeros
                # but encodes "", so a batch mixing both would differ from its unbatched renders.
                kwargs.update(prompt=[r.prompt for r in done],
                              negative_prompt=[r.negative for r in done])
            if planned and mode is Mode.TXT2IMG:
                # diffusers' documented way in: the initial noise of each image as ``latents``.
                kwargs["latents"] = plan.initial(self._latent_shape(pipe, first, count),
                                                 device=self.device,
                                                 dtype=self._latent_dtype(pipe))
        output = self._call(pipe, first, count, kwargs, steps, plan=plan if planned else None)
        results = list(output.images)
        if mode is Mode.INPAINT:
            # The pipeline redraws the kept area too (through the VAE): put the original back,
            # at the size of the result (an image of sides not multiples of 8: its own size).
            results = [paste_into(_fit_image(image, *recipe.output_size, "RGB"), result,
                                  _fit_image(mask, *recipe.output_size, "L"))
                       for recipe, result, image, mask
                       in zip(done, results, _each(images or [], count),
                              _each(masks or [], count), strict=True)]
        return results

    def _upscale(self, done: list[Recipe], images: list[Image.Image],
                 steps: StepReporter) -> tuple[list[Image.Image], list[Recipe]]:
        """Upscales: the ×4 model, one img2img call within the limits, or tiles beyond them."""
        if len(images) not in (1, len(done)):
            raise ValueError(f"got {len(images)} images for {len(done)} recipes; give one or "
                             f"{len(done)}")
        sources = images * len(done) if len(images) == 1 else images
        first = done[0]
        if self.upscaler is not None:
            steps.parts = len(done)
            results = []
            for recipe, source in zip(done, sources, strict=True):
                results.append(self._upscale_x4(recipe, source, steps))
                steps.part += 1
            return results, [dataclasses.replace(r, upscaler=self.upscaler) for r in done]
        if first.width <= self.limits.width_max and first.height <= self.limits.height_max:
            return self._render(done, sources, None, steps), done  # resized by _fit_all
        side = tile_side(self.family, self.limits.width_max, self.limits.height_max)
        overlap = side // OVERLAP_FRACTION
        layout = tile_layout(first.width, first.height, side, overlap)
        steps.parts = len(layout) * len(done)
        results = []
        for recipe, source in zip(done, sources, strict=True):
            large = source.convert("RGB").resize((recipe.width, recipe.height),
                                                 Image.Resampling.LANCZOS)
            pieces = []
            for index, tile in enumerate(layout):
                # Each tile its own seed: the same noise in every tile would repeat a pattern.
                part = dataclasses.replace(recipe, width=tile.width, height=tile.height,
                                           seed=((recipe.seed or 0) + index) % (SEED_MAX + 1))
                [image] = self._render([part], [large.crop(tile.box)], None, steps)
                pieces.append((tile, image))
                steps.part += 1
            results.append(blend_tiles(recipe.width, recipe.height, pieces, overlap))
        return results, done

    def _upscale_x4(self, recipe: Recipe, source: Image.Image, steps: StepReporter) -> Image.Image:
        """The ×4 upscaler model on ``source``, brought down to the recipe's size."""
        pipe = self._x4_pipeline()
        generator = torch.Generator(device=self.device).manual_seed(recipe.seed or 0)

        def callback(index: int, timestep: Any, latents: torch.Tensor) -> None:
            steps.callback(pipe, index, timestep, {"latents": latents})

        # Its own scheduler (and noise level) stay: they belong to that model.
        kwargs = {"prompt": [recipe.prompt], "negative_prompt": [recipe.negative],
                  "image": [source.convert("RGB")], "num_inference_steps": recipe.steps,
                  "guidance_scale": recipe.guidance, "generator": [generator],
                  "output_type": "pil", "callback": callback, "callback_steps": 1}
        output = self._call(pipe, recipe, 1, kwargs, None, plan=None)
        return output.images[0].convert("RGB").resize((recipe.width, recipe.height),
                                                      Image.Resampling.LANCZOS)

    def _x4_pipeline(self) -> DiffusionPipeline:
        """The ×4 upscaler pipeline, loaded on first use (on the worker thread)."""
        if self._upscaler_pipe is None:
            from diffusers import StableDiffusionUpscalePipeline

            log.info("loading the upscaler %r", self.upscaler)
            pipe = StableDiffusionUpscalePipeline.from_pretrained(self.upscaler,
                                                                  torch_dtype=self.dtype)
            pipe = pipe.to(self.device)
            pipe.set_progress_bar_config(disable=True)
            self._upscaler_pipe = pipe
        return self._upscaler_pipe

    @staticmethod
    def _latent_shape(pipe: DiffusionPipeline, recipe: Recipe, count: int) -> tuple[int, ...]:
        """The shape of the pipeline's initial latents for ``count`` images."""
        scale = int(pipe.vae_scale_factor)
        return (count, int(pipe.unet.config.in_channels), recipe.height // scale,
                recipe.width // scale)

    @staticmethod
    def _latent_dtype(pipe: DiffusionPipeline) -> torch.dtype:
        """The dtype the pipeline draws its noise in (that of the prompt embeddings)."""
        encoder = getattr(pipe, "text_encoder_2", None) or getattr(pipe, "text_encoder", None)
        return encoder.dtype if encoder is not None else pipe.unet.dtype

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
              steps: StepReporter | None, *, plan: NoisePlan | None) -> Any:
        """One pipeline call with the recipe's scheduler (unless ``steps`` is None: the call
        reports through its own callback and keeps its own scheduler); ``plan`` answers the
        noise draws; out-of-memory becomes GenerationError."""
        own_scheduler = pipe.scheduler
        if steps is not None:
            pipe.scheduler = make_scheduler(recipe.scheduler, self._scheduler.config)
            kwargs = {**kwargs, "callback_on_step_end": steps.callback,
                      "callback_on_step_end_tensor_inputs": ["latents"]}
        noise = (plan.drawing(type(pipe).prepare_latents, type(pipe.scheduler).step)
                 if plan is not None else contextlib.nullcontext())
        try:
            with self._loras_applied(recipe), torch.inference_mode(), noise:
                return pipe(**encoder_prompts(kwargs))  # <lora:...> tags are not words
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
            pipe.scheduler = self._scheduler if steps is not None else own_scheduler

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
                family: str | None = None, limits: Limits | None = None,
                upscaler: str | None = None) -> Engine:
    """Load a model (``"tiny"``, a diffusers folder, a checkpoint file or a HF id) as an Engine;
    ``upscaler`` names a ×4 upscaler model for upscales (loaded when first used)."""
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    started = time.perf_counter()
    pipeline, model_family = load_pipeline(source, family=family, torch_dtype=torch_dtype)
    pipeline = pipeline.to(torch_device)
    log.info("loaded model %r (%s) on %s in %s in %.1f s", source, model_family, torch_device,
             torch_dtype, time.perf_counter() - started)
    return Engine(pipeline, model_id=source, family=model_family, device=torch_device,
                  dtype=torch_dtype, limits=limits, upscaler=upscaler)
