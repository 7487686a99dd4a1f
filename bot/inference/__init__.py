"""Inference: load a model as an :class:`Engine` and generate images from recipes.

```python
from bot.inference import load_engine
engine = load_engine("tiny")     # or a HF id, a diffusers folder, a .safetensors file
result = engine.txt2img(prompt="a lighthouse at dusk", width=512, height=512,
                        steps=20, guidance=7.5, seed=1)
result.images[0].save("out.png")
```

The names are imported on first use, so ``import bot.inference`` (e.g. by the CLI's ``--help``)
does not pay for importing torch and diffusers. Importing the package drops the libraries'
irrelevant log lines (see :mod:`bot.inference.quiet`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from bot.inference.quiet import silence_library_noise

if TYPE_CHECKING:
    from bot.inference.engine import (
        IN_MEMORY,
        Engine,
        load_engine,
    )
    from bot.inference.results import GenerationResult, StepProgress
    from bot.inference.tokenizer import clip_tokenizer

__all__ = [
    "IN_MEMORY",
    "Engine",
    "GenerationResult",
    "StepProgress",
    "clip_tokenizer",
    "load_engine",
]

# Every path into diffusers and transformers passes through this package: filtering their
# noise here (logging only, no heavy import) covers the bot, the CLI, the API and the benchmarks.
silence_library_noise()

_LOCATIONS = {
    "IN_MEMORY": "bot.inference.engine",
    "Engine": "bot.inference.engine",
    "GenerationResult": "bot.inference.results",  # torch-free: a backend needs no torch
    "StepProgress": "bot.inference.results",
    "load_engine": "bot.inference.engine",
    "clip_tokenizer": "bot.inference.tokenizer",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name not in _LOCATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LOCATIONS[name]), name)
    globals()[name] = value
    return value
