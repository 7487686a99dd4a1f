"""Latent-space noise for variations and morphs: spherical interpolation between seeds' noises.

A *variation* (A1111's "variation seed") starts from ``slerp(noise(seed), noise(variation
seed), strength)``; the sampler's later noise (an ancestral sampler draws some every step) still
comes from the seed, as in A1111. Strength 0 is the seed's own noise, bit for bit.

A *morph frame* at position ``t`` interpolates every noise draw between its two ends: the
initial noise (each end's own, variation included) and each step's noise, drawn from both
ends' generators. Frame 0 is the first image's and frame 1 the second's, bit for bit.

Noise is drawn exactly as diffusers draws it (``randn_tensor`` with one generator per image), so
an image whose noise is planned here is the image diffusers would have made from the same
seeds. Text-to-image takes the planned initial noise as ``latents=``; image-to-image and
inpainting draw theirs inside the pipeline, and every sampler draws its step noise inside its
``step``: for those, ``NoisePlan.drawing`` has diffusers' ``randn_tensor`` answer from the plan
for this plan's generators (and only for them: any other call gets diffusers' own function).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.utils.torch_utils import randn_tensor

from bot.domain.loras import strip_loras
from bot.domain.recipe import Recipe

# Nearly parallel vectors: sin(ω) is too small to divide by; a straight line is as good there.
PARALLEL_DOT = 0.9995


def slerp(t: float, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from ``start`` (t=0) to ``end`` (t=1) over the whole tensor.

    The ends are returned as they are (t ≤ 0 gives ``start`` itself), so strength 0 and a
    morph's last frame reproduce their images exactly. Computed in float32 at least.
    """
    if t <= 0.0:
        return start
    if t >= 1.0:
        return end
    work = torch.promote_types(start.dtype, torch.float32)
    a, b = start.to(work), end.to(work)
    dot = float((a.flatten() @ b.flatten()) / (a.norm() * b.norm()).clamp_min(1e-12))
    if abs(dot) > PARALLEL_DOT:
        mixed = (1.0 - t) * a + t * b
    else:
        omega = math.acos(max(-1.0, min(1.0, dot)))
        sin_omega = math.sin(omega)
        mixed = (math.sin((1.0 - t) * omega) / sin_omega) * a + (math.sin(t * omega)
                                                                 / sin_omega) * b
    return mixed.to(start.dtype)


@dataclass(frozen=True, slots=True)
class ImageNoise:
    """Where one image's noise comes from (its recipe's seeds, all set)."""

    seed: int
    variation_seed: int | None = None
    variation_strength: float = 0.0
    blend: float = 0.0
    blend_seed: int | None = None
    blend_variation_seed: int | None = None
    blend_variation_strength: float = 0.0

    @classmethod
    def of(cls, recipe: Recipe) -> ImageNoise:
        """The noise of a recipe whose seeds are drawn."""
        if recipe.seed is None:
            raise ValueError("a recipe's seed must be drawn before its noise is planned")
        return cls(recipe.seed, recipe.variation_seed, recipe.variation_strength, recipe.blend,
                   recipe.blend_seed, recipe.blend_variation_seed,
                   recipe.blend_variation_strength)

    @property
    def planned(self) -> bool:
        """Whether this differs from diffusers' own noise for the seed (a plan is needed)."""
        return self.variation_seed is not None or self.blend_seed is not None


def needs_plan(recipes: Sequence[Recipe]) -> bool:
    """Whether any recipe is a variation or a morph frame."""
    return any(ImageNoise.of(recipe).planned for recipe in recipes)


Draw = Callable[..., torch.Tensor]
_local = threading.local()  # the plan drawing on this thread (the worker's), if any


class NoisePlan:
    """Every noise draw of one pipeline call, image by image.

    ``generators`` are the ones to hand to the pipeline (one per image, seeded with the seed).
    The first draw made through ``draw`` is the initial noise; the later ones are step noise.
    """

    def __init__(self, images: Sequence[ImageNoise], device: torch.device) -> None:
        self.images = list(images)
        self.device = device
        self.generators = [self._generator(image.seed) for image in self.images]
        # A morph frame's other end: its generator gives the other image's noise, step by step.
        self._partners = [None if image.blend_seed is None else self._generator(image.blend_seed)
                          for image in self.images]
        self._initial_drawn = False

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    @property
    def blends_steps(self) -> bool:
        """Whether any image takes part of its step noise from another generator."""
        return any(image.blend > 0 and partner is not None
                   for image, partner in zip(self.images, self._partners, strict=True))

    def initial(self, shape: Sequence[int], *, device: torch.device | str | None,
                dtype: torch.dtype | None, layout: torch.layout | None = None) -> torch.Tensor:
        """The initial noise of every image (``shape[0]`` is the batch), drawn as diffusers
        would draw the seeds' noise and then interpolated."""
        self._initial_drawn = True
        one = (1, *shape[1:])

        def draw(generator: torch.Generator) -> torch.Tensor:
            return randn_tensor(one, generator=generator, device=device, dtype=dtype,
                                layout=layout)

        noises = []
        for image, generator, partner in zip(self.images, self.generators, self._partners,
                                             strict=True):
            noise = draw(generator)
            if image.variation_seed is not None:
                noise = slerp(image.variation_strength, noise,
                              draw(self._generator(image.variation_seed)))
            if partner is not None:
                other = draw(partner)
                if image.blend_variation_seed is not None:
                    other = slerp(image.blend_variation_strength, other,
                                  draw(self._generator(image.blend_variation_seed)))
                noise = slerp(image.blend, noise, other)
            noises.append(noise)
        return torch.cat(noises)

    def step(self, shape: Sequence[int], *, device: torch.device | str | None,
             dtype: torch.dtype | None, layout: torch.layout | None = None) -> torch.Tensor:
        """A sampler step's noise: the seed's, interpolated towards a morph's other end."""
        one = (1, *shape[1:])
        noises = []
        for image, generator, partner in zip(self.images, self.generators, self._partners,
                                             strict=True):
            noise = randn_tensor(one, generator=generator, device=device, dtype=dtype,
                                 layout=layout)
            if partner is not None:
                other = randn_tensor(one, generator=partner, device=device, dtype=dtype,
                                     layout=layout)
                noise = slerp(image.blend, noise, other)
            noises.append(noise)
        return torch.cat(noises)

    def owns(self, generator: object) -> bool:
        """Whether a draw with ``generator`` is one of this plan's."""
        first = self.generators[0]
        if isinstance(generator, list):
            return bool(generator) and generator[0] is first
        return generator is first

    def draw(self, shape: Sequence[int], *, device: Any = None, dtype: Any = None,
             layout: Any = None) -> torch.Tensor:
        """The plan's answer to one of diffusers' draws: the initial noise first, then steps."""
        if not self._initial_drawn:
            return self.initial(shape, device=device, dtype=dtype, layout=layout)
        return self.step(shape, device=device, dtype=dtype, layout=layout)

    @contextlib.contextmanager
    def drawing(self, *functions: Callable[..., Any]) -> Iterator[None]:
        """Within the block, diffusers' draws with this plan's generators, in the modules that
        define ``functions`` (a pipeline's ``prepare_latents``, a scheduler's ``step``), come
        from the plan."""
        for function in functions:
            _route(function)
        previous = getattr(_local, "plan", None)
        _local.plan = self
        try:
            yield
        finally:
            _local.plan = previous


def _planned_randn(shape: Sequence[int], generator: Any = None, device: Any = None,
                   dtype: Any = None, layout: Any = None) -> torch.Tensor:
    """diffusers' ``randn_tensor``, answered by the thread's plan for that plan's generators."""
    plan: NoisePlan | None = getattr(_local, "plan", None)
    if plan is not None and plan.owns(generator):
        return plan.draw(shape, device=device, dtype=dtype, layout=layout)
    return randn_tensor(shape, generator=generator, device=device, dtype=dtype, layout=layout)


def _route(function: Callable[..., Any]) -> None:
    """Let the module defining ``function`` draw through ``_planned_randn`` (once, for good:
    it is diffusers' own function for every draw that is not a plan's, so it is never undone,
    and no other thread can see a half-restored module)."""
    namespace = getattr(function, "__globals__", None)
    if namespace is not None and namespace.get("randn_tensor") is randn_tensor:
        namespace["randn_tensor"] = _planned_randn


# What ``encode_prompt`` returns, in order (SD: the first two; SDXL: all four).
EMBEDDING_NAMES = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                   "negative_pooled_prompt_embeds")


def blends_prompts(recipes: Sequence[Recipe]) -> bool:
    """Whether any recipe is a morph frame between two different prompts (or negatives)."""
    return any(recipe.blend_prompt is not None
               and (recipe.blend_prompt, recipe.blend_negative) != (recipe.prompt,
                                                                     recipe.negative)
               for recipe in recipes)


def blended_prompt_embeds(pipe: Any, recipes: Sequence[Recipe],
                          device: torch.device) -> dict[str, torch.Tensor]:
    """The pipeline's prompt embeddings (keyword → tensor) for each recipe, interpolated
    spherically from its own prompts' towards its blend prompts' (its morph position).

    Each side is encoded as the pipeline would encode it alone, so a morph's first frame has
    its first image's embeddings and the last frame its second image's, exactly.
    """
    def encode(prompts: list[str], negatives: list[str]) -> dict[str, torch.Tensor]:
        # ``<lora:...>`` tags choose weights; they are not words for the text encoder.
        encoded = pipe.encode_prompt(prompt=[strip_loras(p) for p in prompts], device=device,
                                     num_images_per_prompt=1, do_classifier_free_guidance=True,
                                     negative_prompt=[strip_loras(n) for n in negatives])
        return {name: tensor for name, tensor in zip(EMBEDDING_NAMES, encoded, strict=False)
                if tensor is not None}

    own = encode([r.prompt for r in recipes], [r.negative for r in recipes])
    other = encode([r.prompt if r.blend_prompt is None else r.blend_prompt for r in recipes],
                   [r.negative if r.blend_prompt is None else r.blend_negative
                    for r in recipes])
    return {name: torch.cat([slerp(recipe.blend, own[name][i:i + 1], other[name][i:i + 1])
                             for i, recipe in enumerate(recipes)])
            for name in own}
