"""Applying LoRAs for one pipeline call, and undoing them exactly after.

A LoRA file is loaded once per model as a PEFT adapter (diffusers' ``load_lora_weights``) and
kept, disabled, for the next job that names it (at most ``keep`` per model, least recently
used dropped). For a call, ``set_adapters`` turns on the recipe's LoRAs at their weights; after
it, ``disable_lora`` makes every wrapped layer compute its base layer alone, so the next job
renders exactly as if no LoRA had ever been loaded: the base weights are never changed (fusing
would add and subtract the LoRA's product and leave rounding behind). With ``keep=0`` the
adapters are removed after each call instead (a compiled UNet: its graph must see the plain
modules again).
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.domain.errors import GenerationError
from bot.domain.loras import strip_loras
from bot.inference.lora_files import LoraFiles

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

log = logging.getLogger(__name__)

Loras = Sequence[tuple[str, float]]


def encoder_prompts(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A pipeline call's arguments with the ``<lora:...>`` tags taken out of its prompts."""
    changed = dict(kwargs)
    for key in ("prompt", "negative_prompt", "prompt_2", "negative_prompt_2"):
        value = kwargs.get(key)
        if isinstance(value, str):
            changed[key] = strip_loras(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            changed[key] = [strip_loras(v) for v in value]
    return changed


class LoraAdapters:
    """The LoRAs loaded into one engine's pipeline, and their use call by call."""

    def __init__(self, files: LoraFiles, *, keep: int = 8) -> None:
        self.files = files
        self.keep = keep
        self._adapters: OrderedDict[str, str] = OrderedDict()  # LoRA name → adapter name
        self._counter = 0

    @property
    def loaded(self) -> list[str]:
        """The LoRAs loaded now, least recently used first."""
        return list(self._adapters)

    def hashes(self, loras: Loras) -> tuple[tuple[str, str], ...]:
        """The A1111 short hash of each LoRA (the PNG's ``Lora hashes``)."""
        return tuple((name, self.files.short_hash(name)) for name, _ in loras)

    @contextlib.contextmanager
    def applied(self, pipe: DiffusionPipeline, loras: Loras) -> Iterator[None]:
        """``loras`` on at their weights for the body, then off again (or unloaded)."""
        adapters = [self._load(pipe, name, keep_loaded=[n for n, _ in loras])
                    for name, _ in loras]
        try:
            pipe.enable_lora()
            pipe.set_adapters(adapters, adapter_weights=[float(w) for _, w in loras])
            yield
        finally:
            if self.keep:
                pipe.disable_lora()
            else:
                self.unload(pipe)

    def unload(self, pipe: DiffusionPipeline) -> None:
        """Remove every adapter: the pipeline's modules are the plain ones again."""
        if self._adapters:
            pipe.unload_lora_weights()
            self._adapters.clear()

    def _load(self, pipe: DiffusionPipeline, name: str, *, keep_loaded: list[str]) -> str:
        """The adapter name of LoRA ``name``, loading its file on first use."""
        if name in self._adapters:
            self._adapters.move_to_end(name)
            return self._adapters[name]
        while self.keep and len(self._adapters) >= self.keep:
            oldest = next((n for n in self._adapters if n not in keep_loaded), None)
            if oldest is None:
                break
            pipe.delete_adapters([self._adapters.pop(oldest)])
        path = self.files.path(name)
        self._counter += 1
        adapter = f"lora{self._counter}"  # file names may hold dots, which PEFT refuses
        try:
            pipe.load_lora_weights(str(path), adapter_name=adapter)
        except Exception as error:
            with contextlib.suppress(Exception):  # a half-loaded adapter must not linger
                pipe.delete_adapters([adapter])
            lines = str(error).strip().splitlines()
            raise GenerationError(f"LoRA {name!r} could not be applied to this model "
                                  f"({type(error).__name__}: {lines[0] if lines else ''}); is "
                                  "it made for another model family?") from error
        self._adapters[name] = adapter
        log.info("loaded LoRA %s from %s", name, path)
        return adapter


def make_random_lora(path: Path, *, rank: int = 4, seed: int = 0, scale: float = 1.0) -> Path:
    """Write a small random LoRA for the built-in ``tiny`` model (tests, benchmarks, demos).

    A real LoRA file in diffusers' format: PEFT adapters on the tiny UNet's attention
    projections, with random (not zero) up-projections so that it visibly changes an image.
    """
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from bot.inference.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline()
    config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                        target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pipe.unet.add_adapter(config)
        state = get_peft_model_state_dict(pipe.unet)
        state = {key: value * scale if "lora_B" in key else value for key, value in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(path.parent, unet_lora_layers=state,
                                              weight_name=path.name, safe_serialization=True)
    return path
