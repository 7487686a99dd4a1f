"""Named models in one process: loading one from its catalogue entry, and the LRU pool of loaded
engines that the inference thread renders with.

``load_model(spec)`` is all a replica needs to serve a catalogue name (the in-process pool below,
a Ray Serve replica multiplexing by ``Recipe.model``). ``ModelPool`` keeps at most ``capacity``
engines; asking for another unloads the least recently used first, so its memory is free before
the new one loads. Every method of the pool runs on the inference thread (loading is blocking
work); ``loading`` may be read from any thread, and listeners are called on the inference
thread (hop to the event loop with ``call_soon_threadsafe``).
"""

from __future__ import annotations

import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.domain.errors import GenerationError
from bot.domain.models import ModelCatalog, ModelSpec

if TYPE_CHECKING:
    from bot.inference.engine import Engine
    from bot.inference.lora_files import LoraFiles

log = logging.getLogger(__name__)


def load_model(spec: ModelSpec, *, loras: LoraFiles | None = None, keep_loras: int = 8,
               batch_sizes: Sequence[int] = (1,)) -> Engine:
    """Load the model ``spec`` describes as an engine named ``spec.name``, with LoRAs from
    ``loras`` and the speed settings applied (a compiled UNet is warmed up here for
    ``batch_sizes``)."""
    from bot.inference.engine import load_engine
    from bot.inference.loras import LoraAdapters
    from bot.inference.speed import apply_speed

    engine = load_engine(spec.source, device=spec.device, dtype=spec.dtype,
                         family=spec.family or None, limits=spec.limits,
                         upscaler=spec.upscaler or None)
    engine.model_id = spec.name  # what recipes and PNGs call it
    if not spec.safety_checker:
        engine.safety = None  # [safety] checker = false: the model's checker is dropped (freed)
    if loras is not None:
        # A compiled UNet must see its plain modules again after a LoRA job: no adapters kept.
        engine.loras = LoraAdapters(loras, keep=0 if spec.compile else keep_loras)
    apply_speed(engine, spec, batch_sizes=batch_sizes)
    return engine


def release_engine(engine: Engine) -> None:
    """Free an engine's weights now, even where something still holds the engine (the worker
    keeps the one it started with): every module's tensors move to the "meta" device, which
    holds no data. The engine cannot render after this."""
    import torch

    for module in engine.pipeline.components.values():
        if isinstance(module, torch.nn.Module):
            torch.nn.Module.to(module, device="meta")
    engine.safety = None  # the model's checker was taken out of the pipeline: drop it too
    gc.collect()
    if engine.device.type == "cuda":
        torch.cuda.empty_cache()
    elif engine.device.type == "mps":
        torch.mps.empty_cache()


class ModelEventKind(StrEnum):
    """What happened to a model in the pool."""

    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"
    UNLOADED = "unloaded"


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """One model's load or unload; ``seconds`` a load took; ``error`` why it failed."""

    kind: ModelEventKind
    name: str
    seconds: float = 0.0
    error: str = ""


Listener = Callable[[ModelEvent], None]


class ModelPool:
    """At most ``capacity`` loaded engines by catalogue name, least recently used unloaded."""

    def __init__(self, catalog: ModelCatalog, load: Callable[[ModelSpec], Engine], *,
                 capacity: int, owns_first: bool = True,
                 release: Callable[[Engine], None] = release_engine) -> None:
        """``owns_first``: whether the engine the worker started with (``adopt``) may be
        freed when it is evicted; False for an engine shared with others (tests' factories),
        which is then only dropped."""
        if capacity < 1:
            raise ValueError(f"a model pool holds at least one model, got {capacity}")
        self.catalog = catalog
        self.capacity = capacity
        self._load = load
        self._release = release
        self._owns_first = owns_first
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._borrowed: set[str] = set()  # adopted engines this pool must not free
        self._adopted = False
        self.listeners: list[Listener] = []
        # The model being loaded now (read from the event loop for the waiting message).
        self.loading: str | None = None
        self.loads = 0  # loads done (the adopted engine not counted)
        # Seconds each model's last load took, for the ETAs of jobs that need a switch.
        self.load_seconds: dict[str, float] = {}
        # A copy of the loaded names, replaced whole: the event loop reads it while the
        # inference thread changes the pool.
        self._loaded: tuple[str, ...] = ()

    @property
    def loaded(self) -> list[str]:
        """The loaded models, least recently used first."""
        return list(self._loaded)

    def switch_seconds(self, name: str) -> float:
        """About how long model ``name`` takes to get ready: 0 when loaded, else its last
        load's time (or the mean of the loads seen; 0 before any)."""
        if name in self._loaded:
            return 0.0
        if name in self.load_seconds:
            return self.load_seconds[name]
        seen = list(self.load_seconds.values())
        return sum(seen) / len(seen) if seen else 0.0

    def adopt(self, engine: Engine) -> None:
        """Take the engine the worker loaded at start as the default model's (once)."""
        if self._adopted:
            return
        self._adopted = True
        self.catalog = self.catalog.with_default_name(engine.model_id)
        self._engines[engine.model_id] = engine
        self._loaded = tuple(self._engines)
        if not self._owns_first:
            self._borrowed.add(engine.model_id)

    def engine(self, name: str) -> Engine:
        """The engine of model ``name``, loaded now if it is not (after unloading the least
        recently used ones to make room). GenerationError with the reason if it fails."""
        if name in self._engines:
            self._engines.move_to_end(name)
            self._loaded = tuple(self._engines)
            return self._engines[name]
        try:
            spec = self.catalog.get(name)
        except ValueError as error:  # a recipe of a model this bot no longer has
            raise GenerationError(str(error)) from None
        while len(self._engines) >= self.capacity:
            self.unload(next(iter(self._engines)))
        self._emit(ModelEvent(ModelEventKind.LOADING, name))
        self.loading = name
        started = time.perf_counter()
        try:
            engine = self._load(spec)
        except Exception as error:
            lines = str(error).strip().splitlines()
            reason = f"{type(error).__name__}: {lines[0] if lines else ''}"
            log.error("model %s could not be loaded: %s", name, reason)
            self._emit(ModelEvent(ModelEventKind.FAILED, name, error=reason))
            raise GenerationError(f"model {name!r} could not be loaded ({reason})") from error
        finally:
            self.loading = None
        seconds = time.perf_counter() - started
        self.loads += 1
        self.load_seconds[name] = seconds
        self._engines[name] = engine
        self._loaded = tuple(self._engines)
        log.info("model %s loaded in %.1f s (loaded: %s)", name, seconds, ", ".join(self._engines))
        self._emit(ModelEvent(ModelEventKind.LOADED, name, seconds=seconds))
        return engine

    def unload(self, name: str) -> None:
        """Unload model ``name`` (freeing its memory unless it is borrowed)."""
        engine = self._engines.pop(name, None)
        if engine is None:
            return
        self._loaded = tuple(self._engines)
        if name in self._borrowed:
            self._borrowed.discard(name)
        else:
            self._release(engine)
        log.info("model %s unloaded", name)
        self._emit(ModelEvent(ModelEventKind.UNLOADED, name))

    def _emit(self, event: ModelEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a listener must not fail a load
                log.exception("a model event listener failed on %s", event)
