"""GPU speed settings of a loaded model: attention kernels, channels-last, a compiled UNet.

``torch.compile`` specialises a graph to its input shapes, and compiling a new shape takes
seconds to minutes: done mid-queue, one person's odd size would stall everyone behind them. So
the UNet is compiled and warmed up when the model loads, for a fixed set of shape buckets (the
model's default size and ``compile_sizes``, at batch 1 and the largest batch); any other shape,
and any call with a LoRA loaded (its wrapped layers are other modules), runs the eager UNet
instead of recompiling. The VAE decodes a whole batch in one call already (the pipeline does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot.domain.errors import ConfigError
from bot.domain.models import ModelSpec

if TYPE_CHECKING:
    from bot.inference.engine import Engine

log = logging.getLogger(__name__)

Compiler = Callable[[Callable[..., Any]], Callable[..., Any]]


def default_compiler(forward: Callable[..., Any]) -> Callable[..., Any]:
    """torch.compile for a fixed set of shapes (no dynamic shapes: they cost speed)."""
    import torch

    return torch.compile(forward, mode="max-autotune-no-cudagraphs", fullgraph=False,
                         dynamic=False)


def set_attention(pipe: Any, choice: str) -> None:
    """Choose the attention kernels of a pipeline's UNet and VAE."""
    if choice == "auto":
        return  # diffusers already uses PyTorch's SDPA (flash / memory-efficient) on torch 2
    if choice == "xformers":
        try:
            pipe.enable_xformers_memory_efficient_attention()
        except Exception as error:  # not installed, or no GPU build of it
            raise ConfigError(f"attention = \"xformers\" is not available here ({error}); use "
                              "\"auto\"") from error
        return
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    processor = AttnProcessor2_0() if choice == "sdpa" else AttnProcessor()
    for name in ("unet", "vae"):
        module = getattr(pipe, name, None)
        if module is not None and hasattr(module, "set_attn_processor"):
            module.set_attn_processor(processor)


class BucketedForward:
    """A UNet's ``forward``: through the compiled graph for warmed-up shapes, eager otherwise.

    ``use_compiled`` says whether the compiled graph may run now (False while LoRAs are
    loaded). ``compiled_calls`` / ``eager_calls`` count the route taken (for tests and logs).
    """

    def __init__(self, eager: Callable[..., Any], compiled: Callable[..., Any], *,
                 use_compiled: Callable[[], bool] = lambda: True) -> None:
        self.eager = eager
        self.compiled = compiled
        self.use_compiled = use_compiled
        self.shapes: set[tuple[int, ...]] = set()
        self.warming = False
        self.compiled_calls = 0
        self.eager_calls = 0

    def __call__(self, sample: Any, *args: Any, **kwargs: Any) -> Any:
        shape = tuple(sample.shape)
        if self.warming:
            self.shapes.add(shape)
        elif shape not in self.shapes or not self.use_compiled():
            self.eager_calls += 1
            return self.eager(sample, *args, **kwargs)
        self.compiled_calls += 1
        return self.compiled(sample, *args, **kwargs)


def compile_unet(engine: Engine, sizes: Sequence[tuple[int, int]], batch_sizes: Sequence[int],
                 *, guidance: float, compiler: Compiler = default_compiler) -> BucketedForward:
    """Compile ``engine``'s UNet and warm it up: one 2-step render per size and batch size."""
    unet = engine.pipeline.unet
    eager = unet.forward
    forward = BucketedForward(eager, compiler(eager),
                              use_compiled=lambda: not (engine.loras and engine.loras.loaded))
    unet.forward = forward  # an instance attribute: nn.Module.__call__ finds it first
    forward.warming = True
    try:
        for width, height in sizes:
            for count in sorted(set(batch_sizes)):
                started = time.perf_counter()
                prompts = ["warm-up"] * count
                engine.pipeline(prompt=prompts, negative_prompt=[""] * count, width=width,
                                height=height, num_inference_steps=2, guidance_scale=guidance,
                                output_type="latent")
                log.info("compiled UNet warmed up for %dx%d, batch %d in %.1f s", width, height,
                         count, time.perf_counter() - started)
    finally:
        forward.warming = False
        forward.compiled_calls = 0  # count the queue's calls from here
    return forward


def apply_speed(engine: Engine, spec: ModelSpec, *, batch_sizes: Sequence[int] = (1,),
                compiler: Compiler = default_compiler) -> BucketedForward | None:
    """Apply ``spec``'s attention, channels-last and compile settings to a loaded engine;
    returns the compiled UNet's router when compiled."""
    import torch

    pipe = engine.pipeline
    set_attention(pipe, spec.attention)
    if spec.channels_last:
        for name in ("unet", "vae"):
            module = getattr(pipe, name, None)
            if module is not None:
                module.to(memory_format=torch.channels_last)
    if not spec.compile:
        return None
    if engine.device.type == "cpu":
        log.warning("model %s: compile = true on a CPU gains little and takes minutes",
                    spec.name)
    with torch.inference_mode():
        return compile_unet(engine, spec.warm_sizes(), batch_sizes,
                            guidance=spec.defaults.guidance, compiler=compiler)
