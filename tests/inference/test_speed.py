"""GPU speed settings, wired and checked on the CPU: bucketed compile, attention, channels-last.

The compile path is tested with a stand-in compiler that records what it is given: the routing
(warmed-up shapes through the compiled forward, any other shape eager, never a compile
mid-queue) is the bot's own logic and runs for real. The real ``torch.compile`` of even the tiny
UNet takes minutes on two CPU cores, so that test runs only with NEUROSTREAM_COMPILE_TESTS=1
(and on a lent GPU); it checks that the compiled UNet gives the eager images.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bot.domain.errors import ConfigError
from bot.domain.models import ModelSpec
from bot.domain.recipe import Recipe
from bot.domain.requests import Defaults
from bot.inference import Engine
from bot.inference.lora_files import LoraFiles
from bot.inference.loras import LoraAdapters, make_random_lora
from bot.inference.models import load_model
from bot.inference.speed import BucketedForward, apply_speed

SPEC = ModelSpec("tiny", device="cpu", defaults=Defaults(width=64, height=64, guidance=7.5),
                 compile=True, compile_sizes=((64, 96),))


class RecordingCompiler:
    """Stands in for torch.compile: returns the function, counting what it was asked for."""

    def __init__(self) -> None:
        self.compiled: list[Callable[..., Any]] = []

    def __call__(self, forward: Callable[..., Any]) -> Callable[..., Any]:
        self.compiled.append(forward)
        return forward


def _render(engine: Engine, width: int, height: int, count: int = 1) -> np.ndarray:
    recipes = [Recipe(prompt="a lighthouse", width=width, height=height, steps=2, seed=5 + i,
                      model=engine.model_id) for i in range(count)]
    return np.asarray(engine.generate(recipes).images[0])


def test_compile_warms_up_every_bucket_at_load_and_routes_by_shape() -> None:
    engine = load_model(dataclasses.replace(SPEC, compile=False))
    compiler = RecordingCompiler()
    forward = apply_speed(engine, SPEC, batch_sizes=(1, 2), compiler=compiler)
    assert isinstance(forward, BucketedForward) and len(compiler.compiled) == 1
    # Latents of 64x64 and 96x64 (width 64, height 96), batch 1 and 2, doubled by CFG.
    assert forward.shapes == {(2, 4, 8, 8), (4, 4, 8, 8), (2, 4, 12, 8), (4, 4, 12, 8)}
    assert engine.pipeline.unet.forward is forward
    _render(engine, 64, 64)
    assert (forward.compiled_calls, forward.eager_calls) == (2, 0)
    _render(engine, 64, 64, count=2)
    assert (forward.compiled_calls, forward.eager_calls) == (4, 0)
    _render(engine, 96, 64)  # not warmed up: eager, no compile mid-queue
    assert (forward.compiled_calls, forward.eager_calls) == (4, 2)
    assert len(compiler.compiled) == 1


def test_a_compiled_unet_runs_eager_while_loras_are_loaded(tmp_path: Path) -> None:
    engine = load_model(dataclasses.replace(SPEC, compile=False))
    forward = apply_speed(engine, SPEC, compiler=RecordingCompiler())
    assert forward is not None
    make_random_lora(tmp_path / "ink.safetensors", seed=3)
    engine.loras = LoraAdapters(LoraFiles([tmp_path]), keep=0)
    recipe = Recipe(prompt="x", width=64, height=64, steps=2, seed=1, loras=(("ink", 1.0),))
    engine.generate([recipe])
    assert (forward.compiled_calls, forward.eager_calls) == (0, 2)
    _render(engine, 64, 64)  # unloaded after the job: compiled again
    assert forward.compiled_calls == 2


def test_attention_and_channels_last() -> None:
    from diffusers.models.attention_processor import AttnProcessor

    engine = load_model(dataclasses.replace(SPEC, compile=False))
    before = _render(engine, 64, 64)
    apply_speed(engine, dataclasses.replace(SPEC, compile=False, attention="eager",
                                            channels_last=True))
    unet = engine.pipeline.unet
    assert all(isinstance(p, AttnProcessor) for p in unet.attn_processors.values())
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    after = _render(engine, 64, 64)
    # Other kernels, the same image up to float rounding.
    assert np.abs(before.astype(int) - after.astype(int)).max() <= 1


def test_xformers_missing_is_a_clear_error() -> None:
    engine = load_model(dataclasses.replace(SPEC, compile=False))
    pytest.importorskip("torch")  # always there; xformers never is on the CPU machines
    with pytest.raises(ConfigError, match='attention = "xformers" is not available here'):
        apply_speed(engine, dataclasses.replace(SPEC, compile=False, attention="xformers"))


@pytest.mark.skipif(not os.environ.get("NEUROSTREAM_COMPILE_TESTS"),
                    reason="a real torch.compile takes minutes on 2 CPU cores; set "
                           "NEUROSTREAM_COMPILE_TESTS=1 (done on a lent GPU)")
def test_real_compile_gives_the_eager_image() -> None:
    eager = load_model(dataclasses.replace(SPEC, compile=False, compile_sizes=()))
    compiled = load_model(dataclasses.replace(SPEC, compile_sizes=()))
    assert np.abs(_render(eager, 64, 64).astype(int)
                  - _render(compiled, 64, 64).astype(int)).max() <= 2
