"""Every scheduler key runs, is recorded, and leaves the model's own scheduler in place."""

from __future__ import annotations

import pytest

from bot.domain.recipe import SCHEDULERS
from bot.inference import Engine
from bot.inference.schedulers import SCHEDULER_CLASSES, make_scheduler
from bot.inference.tiny import SD15_SCHEDULER_CONFIG


def test_every_domain_key_has_a_scheduler_class() -> None:
    assert SCHEDULER_CLASSES.keys() == SCHEDULERS.keys()


@pytest.mark.parametrize("key", list(SCHEDULERS))
def test_every_scheduler_runs_and_is_recorded(tiny_engine: Engine, key: str) -> None:
    original = tiny_engine.pipeline.scheduler
    result = tiny_engine.txt2img("a lighthouse", width=64, height=64, steps=3, seed=7,
                                 scheduler=key)
    assert result.recipes[0].scheduler == key
    assert result.recipes[0].sampler == SCHEDULERS[key]
    assert result.images[0].size == (64, 64)
    # Saved models must keep their own scheduler, whichever one the last call used.
    assert tiny_engine.pipeline.scheduler is original


def test_karras_and_model_config_are_applied() -> None:
    config = {**SD15_SCHEDULER_CONFIG, "prediction_type": "v_prediction"}
    karras = make_scheduler("dpm++_2m_karras", config)
    plain = make_scheduler("dpm++_2m", {**config, "use_karras_sigmas": True})
    assert type(karras).__name__ == "DPMSolverMultistepScheduler"
    assert karras.config.use_karras_sigmas is True
    assert plain.config.use_karras_sigmas is False
    assert karras.config.prediction_type == "v_prediction"
    assert karras.config.beta_schedule == "scaled_linear"
    assert type(make_scheduler("euler_a", config)).__name__ == "EulerAncestralDiscreteScheduler"
