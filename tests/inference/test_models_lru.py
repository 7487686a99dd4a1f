"""The pool of loaded models: least recently used unloaded, failures contained, jobs routed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.domain.errors import GenerationError
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.models import ModelCatalog, ModelSpec
from bot.domain.recipe import Recipe
from bot.inference import Engine
from bot.inference.models import ModelEvent, ModelEventKind, ModelPool, load_model
from bot.queue.backend import InProcessBackend
from bot.queue.policy import BusySlot, QueuePolicy

SPECS = [ModelSpec("alpha", device="cpu"), ModelSpec("beta", device="cpu"),
         ModelSpec("gamma", device="cpu"),
         ModelSpec("broken", source="/nowhere/broken.safetensors", device="cpu")]


def _pool(capacity: int = 2) -> tuple[ModelPool, list[ModelEvent]]:
    """A pool over the tiny model under three names (real loads, nothing mocked)."""
    pool = ModelPool(ModelCatalog(SPECS), load_model, capacity=capacity)
    events: list[ModelEvent] = []
    pool.listeners.append(events.append)
    return pool, events


def _weights_device(engine: Engine) -> str:
    return next(engine.pipeline.unet.parameters()).device.type


def test_a_third_model_unloads_the_least_recently_used() -> None:
    pool, events = _pool()
    alpha = pool.engine("alpha")
    pool.engine("beta")
    assert pool.engine("alpha") is alpha  # used again: beta is now the oldest
    assert pool.loaded == ["beta", "alpha"]
    gamma = pool.engine("gamma")
    assert pool.loaded == ["alpha", "gamma"]
    assert gamma.model_id == "gamma"
    assert pool.loads == 3
    kinds = [(e.kind, e.name) for e in events]
    assert kinds[-3:] == [(ModelEventKind.UNLOADED, "beta"), (ModelEventKind.LOADING, "gamma"),
                          (ModelEventKind.LOADED, "gamma")]
    # Unloaded before the new one loads, so that its memory is free first.
    assert kinds.index((ModelEventKind.UNLOADED, "beta")) < kinds.index(
        (ModelEventKind.LOADING, "gamma"))


def test_an_unloaded_model_frees_its_weights_and_loads_again() -> None:
    pool, _ = _pool(capacity=1)
    alpha = pool.engine("alpha")
    pool.engine("beta")
    assert _weights_device(alpha) == "meta"  # no data left, even though we still hold it
    again = pool.engine("alpha")
    assert again is not alpha and _weights_device(again) == "cpu"


def test_a_borrowed_start_engine_is_dropped_not_freed(tiny_engine: Engine) -> None:
    pool = ModelPool(ModelCatalog(SPECS), load_model, capacity=1, owns_first=False)
    pool.adopt(tiny_engine)  # the worker's engine, shared with other tests
    assert pool.catalog.default.name == "tiny"
    assert pool.engine("tiny") is tiny_engine
    pool.engine("beta")
    assert pool.loaded == ["beta"]
    assert _weights_device(tiny_engine) == "cpu"


def test_a_model_that_fails_to_load_says_why_and_the_others_carry_on() -> None:
    pool, events = _pool()
    pool.engine("alpha")
    with pytest.raises(GenerationError) as caught:
        pool.engine("broken")
    assert "model 'broken' could not be loaded" in str(caught.value)
    assert "no such file or folder" in str(caught.value)
    assert events[-1].kind is ModelEventKind.FAILED and pool.loading is None
    assert pool.engine("alpha").model_id == "alpha"
    with pytest.raises(GenerationError, match="not one of this bot's models"):
        pool.engine("delta")


async def test_jobs_of_a_broken_model_fail_and_the_others_render(
        worker: Any, make_queue: Callable[..., Any], tmp_path: Path) -> None:
    # The worker's engine (the shared tiny one) is the default model, "tiny".
    catalog = ModelCatalog([ModelSpec("tiny", device="cpu"), *SPECS])
    pool = ModelPool(catalog, load_model, capacity=2, owns_first=False)
    queue = make_queue(InProcessBackend(worker, models=pool))
    await queue.start()
    try:
        requester = Requester(user_id=1, source="discord")
        jobs = {}
        for name in ("broken", "alpha", "tiny", "beta"):
            recipe = Recipe(prompt="a lighthouse", width=64, height=64, steps=2, seed=3,
                            model=name)
            jobs[name] = await queue.submit(recipe, requester)
        ended = {name: await asyncio.wait_for(queue.wait(job.id), 300)
                 for name, job in jobs.items()}
    finally:
        await queue.close()
    assert ended["broken"].state is JobState.FAILED
    assert "model 'broken' could not be loaded" in (ended["broken"].error or "")
    for name in ("alpha", "tiny", "beta"):
        assert ended[name].state is JobState.DONE, ended[name].error
        assert ended[name].recipe.model == name
    # Three models passed through a pool of two: the oldest went when the third came.
    assert len(pool.loaded) == 2 and pool.loaded[-1] == "beta"
    # The same tiny weights under every name: the same seed gives the same image.
    images = [np.asarray(Image.open(ended[n].output_path)) for n in ("alpha", "tiny", "beta")]
    assert np.array_equal(images[0], images[1]) and np.array_equal(images[1], images[2])


def test_the_eta_counts_a_model_switch_once() -> None:
    pool, _ = _pool()
    pool.engine("alpha")
    pool.engine("beta")
    pool.unload("beta")  # measured, then unloaded: a job of beta must wait for its load
    load = pool.load_seconds["beta"]
    assert load > 0 and pool.switch_seconds("alpha") == 0.0
    assert pool.switch_seconds("beta") == load
    recipe = Recipe(prompt="x", width=64, height=64, steps=2, model="alpha")
    order = [Job(id=i, recipe=dataclasses.replace(recipe, model=model),
                 requester=Requester(user_id=1), state=JobState.QUEUED, created_at=i)
             for i, model in enumerate(["alpha", "beta", "beta", "alpha"], start=1)]
    busy = [BusySlot(recipe, steps_done=1)]
    plain, switching = QueuePolicy(), QueuePolicy()
    switching.switch_seconds = pool.switch_seconds
    for policy in (plain, switching):
        policy.step_cost = 1e-5
    extra = [b - a for a, b in zip(plain.etas(order, busy), switching.etas(order, busy),
                                   strict=True)]
    # beta's load before job 2 (not again for job 3); alpha is loaded for job 4.
    assert extra == pytest.approx([0.0, load, load, load])
