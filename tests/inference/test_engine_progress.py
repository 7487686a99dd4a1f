"""Progress is reported once per step with a preview; a cancel stops within one step."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bot.domain.errors import GenerationCancelled
from bot.inference import Engine, StepProgress


def test_progress_is_called_once_per_step_with_a_preview(tiny_engine: Engine) -> None:
    seen: list[StepProgress] = []
    tiny_engine.txt2img("a lighthouse", width=128, height=64, steps=3, seed=1,
                        progress=seen.append)
    assert [(p.step, p.total) for p in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(p.preview is not None for p in seen)
    preview = seen[-1].preview
    assert preview is not None and preview.mode == "RGB"
    assert preview.size == (16, 8)  # latent resolution: 1/8 of the image
    elapsed = [p.elapsed for p in seen]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0


def test_throttled_progress_keeps_first_and_last_step_and_skips_other_previews(
        tiny_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.inference.engine as engine_module
    from bot.domain.recipe import Recipe

    previews: list[int] = []
    real = engine_module.latent_preview

    def counting(latents: Any, family: str) -> Any:
        previews.append(1)
        return real(latents, family)

    monkeypatch.setattr(engine_module, "latent_preview", counting)
    seen: list[int] = []
    recipe = Recipe(prompt="a lighthouse", width=64, height=64, steps=6, seed=1)
    tiny_engine.generate([recipe], progress=lambda p: seen.append(p.step),
                         progress_interval=3600)
    assert seen == [1, 6]
    assert len(previews) == 2  # a preview only for the steps that are reported


def test_cancel_from_progress_stops_within_a_step(tiny_engine: Engine) -> None:
    cancel = threading.Event()
    steps: list[int] = []

    def on_progress(progress: StepProgress) -> None:
        steps.append(progress.step)
        if progress.step == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled, match="after step 2"):
        tiny_engine.txt2img("a lighthouse", width=64, height=64, steps=10, seed=1,
                            progress=on_progress, cancel=cancel)
    assert steps == [1, 2]


def test_a_cancelled_engine_still_works(tiny_engine: Engine) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled, match="before the first step"):
        tiny_engine.txt2img("a lighthouse", width=64, height=64, steps=2, seed=1, cancel=cancel)
    result = tiny_engine.txt2img("a lighthouse", width=64, height=64, steps=2, seed=1,
                                 cancel=threading.Event())
    assert len(result.images) == 1
