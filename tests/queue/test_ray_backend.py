"""Ray Serve behind the Backend interface: the queue's fault handling (no Ray needed), then the
real thing on a local Ray instance with the tiny model (``-m ray``; scripts/test leaves them to
``.ci/run``'s second pass).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.client.bot import UNREACHABLE_NOTE, place_text_while_loading
from bot.config import settings_from_dict
from bot.domain import JobState, Recipe, Requester
from bot.domain.errors import (
    ConfigError,
    GenerationCancelled,
    RendererLost,
    RenderersUnreachable,
)
from bot.queue import EventKind, JobQueue
from bot.queue.backend import InProcessBackend
from bot.queue.ray_backend import RayServeBackend, require_ray
from bot.storage import JobRepository

SMALL = Recipe(prompt="a lighthouse at dusk", width=64, height=64, steps=2, seed=11)
# Long enough that a replica is still rendering when the test kills or cancels it.
LONG = Recipe(prompt="a slow lighthouse", width=128, height=128, steps=150, seed=5)
CLI = Requester(user_id=1, source="cli")


def _pixels(path: str | Path | None) -> np.ndarray:
    with Image.open(path or "") as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


async def _events_until_final(events: asyncio.Queue[Any]) -> list[Any]:
    seen = []
    while not (event := await asyncio.wait_for(events.get(), 120)).kind.final:
        seen.append(event)
    return [*seen, event]


# -- the queue's side of the faults, with injected errors (no Ray) -------------------------------

class FlakyBackend:
    """The real in-process backend, whose renderer is "lost" on the calls the test names."""

    def __init__(self, inner: InProcessBackend, lose: set[int]) -> None:
        self.inner, self.lose, self.calls = inner, lose, 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: Any,
                       cancel: threading.Event) -> Any:
        self.calls += 1
        if self.calls in self.lose:
            raise RendererLost("the renderer stopped mid-job (injected)")
        return await self.inner.generate(recipes, on_progress=on_progress, cancel=cancel)


class AwayBackend(FlakyBackend):
    """Unreachable until the test brings the renderers back."""

    def __init__(self, inner: InProcessBackend) -> None:
        super().__init__(inner, set())
        self.back = asyncio.Event()
        self.waited = asyncio.Event()
        self.unreachable = False

    async def wait_reachable(self) -> None:
        if self.unreachable:
            self.waited.set()
            await self.back.wait()
            self.unreachable = False

    async def generate(self, recipes: Sequence[Recipe], *, on_progress: Any,
                       cancel: threading.Event) -> Any:
        if not self.back.is_set():
            self.unreachable = True
            raise RenderersUnreachable("the renderers are unreachable (injected)")
        return await super().generate(recipes, on_progress=on_progress, cancel=cancel)


async def test_a_lost_renderer_is_retried_once_and_the_job_delivered_once(
        make_queue: Any, worker: Any) -> None:
    backend = FlakyBackend(InProcessBackend(worker), lose={1})
    queue: JobQueue = make_queue(backend)
    await queue.start()
    try:
        job = await queue.submit(SMALL, CLI)
        events = await _events_until_final(queue.subscribe(job.id))
    finally:
        await queue.close()
    assert backend.calls == 2
    assert [e.kind for e in events if e.kind.final] == [EventKind.DONE]
    assert events[-1].job.attempts == 1  # the lost run is not held against the job


async def test_a_renderer_lost_twice_fails_the_job_with_the_reason(
        make_queue: Any, worker: Any) -> None:
    backend = FlakyBackend(InProcessBackend(worker), lose={1, 2})
    queue: JobQueue = make_queue(backend)
    await queue.start()
    try:
        job = await queue.submit(SMALL, CLI)
        done = await asyncio.wait_for(queue.wait(job.id), 60)
    finally:
        await queue.close()
    assert backend.calls == 2  # once, not for ever
    assert done.state is JobState.FAILED and "renderer stopped" in (done.error or "")


async def test_unreachable_renderers_keep_the_job_waiting_until_they_are_back(
        make_queue: Any, worker: Any, database: Any) -> None:
    backend = AwayBackend(InProcessBackend(worker))
    queue: JobQueue = make_queue(backend)
    await queue.start()
    try:
        job = await queue.submit(SMALL, CLI)
        await asyncio.wait_for(backend.waited.wait(), 30)
        kept = await JobRepository(database).get(job.id)
        assert kept is not None and kept.state is JobState.QUEUED and kept.attempts == 0
        assert [j.id for j in queue.waiting()] == [job.id]
        backend.back.set()
        done = await asyncio.wait_for(queue.wait(job.id), 60)
    finally:
        await queue.close()
    assert done.state is JobState.DONE and done.attempts == 1


def test_waiting_users_are_told_the_renderers_are_unreachable() -> None:
    app: Any = SimpleNamespace(renderers_unreachable=True, loading=False, models=None)
    assert UNREACHABLE_NOTE in place_text_while_loading(app)(2, None)
    app.renderers_unreachable = False
    assert UNREACHABLE_NOTE not in place_text_while_loading(app)(2, None)


def test_the_backend_section_is_checked() -> None:
    settings = settings_from_dict({"backend": {"kind": "ray", "replicas": 3}})
    assert settings.backend.address == "local" and settings.backend.replicas == 3
    with pytest.raises(ConfigError, match=r"backend\.address"):
        settings_from_dict({"backend": {"kind": "ray", "address": "gpu-head:8000"}})
    with pytest.raises(ConfigError, match=r"backend\.kind"):
        settings_from_dict({"backend": {"kind": "slurm"}})


def test_without_ray_the_local_backend_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[ray\]"'):
        require_ray()
    settings = settings_from_dict({"backend": {"kind": "ray"}})
    with pytest.raises(ConfigError, match="Ray Serve"):
        RayServeBackend.from_settings(settings)


def test_a_remote_cluster_needs_no_ray_in_the_bot() -> None:
    settings = settings_from_dict({"backend": {"kind": "ray", "address": "http://gpu:8000/",
                                               "replicas": 8}})
    backend = RayServeBackend.from_settings(settings)
    assert backend.slots == 8 and backend._url == "http://gpu:8000/neurostream"


# -- on a local Ray instance ---------------------------------------------------------------------

# Ray's start-up (its processes, then each replica importing torch and loading the model) is
# most of these tests' time: over a minute on an idle 2-core machine, several on a busy one.
RAY_STARTUP_BOUND_S = 900


def ray_only(test: Any) -> Any:
    """Marks a test that needs a local Ray instance (``-m ray``), with room for its start-up."""
    return pytest.mark.ray(pytest.mark.timeout(RAY_STARTUP_BOUND_S)(test))


@pytest.fixture(scope="module")
def serve_base() -> Iterator[str]:
    """One local Ray instance for the module: the app (2 replicas) and a 1-replica app
    serving three model names (the tiny model under each), two of them at once."""
    pytest.importorskip("ray")
    from ray import serve

    from bot.domain.models import ModelCatalog, ModelSpec
    from bot.inference import ray_cluster as rc
    from bot.inference.ray_serve import RendererConfig

    # The bot's own way to start an instance (its environment matters: Serve's checks).
    rc.init_local(cpus=3)
    try:
        main = RendererConfig(ModelCatalog([ModelSpec("tiny", device="cpu")]),
                              torch_threads=1, max_batch_size=1)
        base = rc.start_local(main, rc.ClusterShape(replicas=2, cpus_per_replica=1))
        # Three names for the tiny model, each loaded on its own: the LRU's keys are names.
        names = ModelCatalog([ModelSpec(name, source="tiny", device="cpu")
                              for name in ("tiny-a", "tiny-b", "tiny-c")])
        solo = RendererConfig(names, torch_threads=1, max_batch_size=1, models_per_replica=2)
        serve.run(rc.renderer_app(solo, rc.ClusterShape(replicas=1, cpus_per_replica=1)),
                  name="solo", route_prefix="/solo")
        yield base
    finally:
        rc.stop_local()


@contextlib.asynccontextmanager
async def _backend(url: str, slots: int = 1, **kwargs: Any) -> AsyncIterator[RayServeBackend]:
    backend = RayServeBackend(model_id="tiny", slots=slots, url=url, **kwargs)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


async def _status(backend: RayServeBackend) -> dict[str, Any]:
    assert backend._session is not None and backend._url is not None
    async with backend._session.get(backend._url) as response:
        return dict(await response.json())


@ray_only
async def test_a_job_through_ray_gives_the_in_process_image(
        serve_base: str, make_queue: Any, tmp_path: Path) -> None:
    local = make_queue()
    await local.start()
    try:
        expected = await asyncio.wait_for(local.wait((await local.submit(SMALL, CLI)).id), 60)
    finally:
        await local.close()
    async with _backend(serve_base + "/neurostream", slots=2) as backend:
        queue: JobQueue = make_queue(backend)
        await queue.start()
        try:
            done = await asyncio.wait_for(queue.wait((await queue.submit(SMALL, CLI)).id), 120)
        finally:
            await queue.close()
    assert done.state is JobState.DONE, done.error
    assert done.recipe == expected.recipe
    difference = np.abs(_pixels(done.output_path) - _pixels(expected.output_path))
    assert difference.max() <= 1 and difference.mean() < 0.01  # float rounding at most
    with Image.open(done.output_path or "") as ours, Image.open(expected.output_path or "") as its:
        assert ours.info["parameters"] == its.info["parameters"]


@ray_only
async def test_models_are_multiplexed_and_the_least_recently_used_evicted(
        serve_base: str) -> None:
    async with _backend(serve_base + "/solo") as backend:
        for name in ("tiny-b", "tiny-a", "tiny-c"):
            result = await backend.generate([Recipe(prompt="x", width=64, height=64, steps=1,
                                                    seed=1, model=name)],
                                            on_progress=None, cancel=threading.Event())
            assert result.recipes[0].model == name
        status = await _status(backend)
        # a was loaded first, b next; a was used again, so c evicts b, not a.
        assert status["loads"] == ["tiny-a", "tiny-b", "tiny-c"]
        assert sorted(status["loaded"]) == ["tiny-a", "tiny-c"]


@ray_only
async def test_a_cancelled_job_stops_its_replica(serve_base: str) -> None:
    async with _backend(serve_base + "/solo") as backend:
        before = (await _status(backend))["stopped"]
        cancel = threading.Event()
        with pytest.raises(GenerationCancelled):
            await backend.generate([dataclasses.replace(LONG, model="tiny-a")],
                                   on_progress=lambda step: cancel.set(), cancel=cancel)
        # The replica hears the connection close and stops at its next step: wait for it.
        for _ in range(600):
            if (await _status(backend))["stopped"] == before + 1:
                break
            await asyncio.sleep(0.1)
        assert (await _status(backend))["stopped"] == before + 1


@ray_only
async def test_a_killed_replica_is_retried_once_and_the_job_delivered_once(
        serve_base: str, make_queue: Any, tmp_path: Path) -> None:
    import ray

    async with _backend(serve_base + "/neurostream", slots=2) as backend:
        queue: JobQueue = make_queue(backend)
        await queue.start()
        try:
            job = await queue.submit(LONG, CLI)
            events = queue.subscribe(job.id)
            replicas: list[str] = []
            while (event := await asyncio.wait_for(events.get(), 120)).kind is not \
                    EventKind.DONE:
                assert not event.kind.final, event.job.error
                if event.kind is EventKind.PROGRESS:
                    replicas += [r for r in backend.busy_replicas() if r not in replicas]
                    if len(replicas) == 1 and event.step == 1:
                        ray.kill(ray.get_actor(replicas[0], namespace="serve"))
            assert events.empty()  # nothing after the one DONE
        finally:
            await queue.close()
    assert len(replicas) == 2  # the killed one, then another
    assert event.job.attempts == 1
    assert list((tmp_path / "outputs").glob("*.png")) == [Path(event.job.output_path or "")]


class _Relay:
    """A TCP relay to the Serve proxy that the test takes down and brings back: the network."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        from bot.inference.ray_cluster import free_port

        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.open: list[asyncio.StreamWriter] = []

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def down(self) -> None:
        """Refuse new connections and cut the open ones (the bot's pooled ones too)."""
        if self.server is not None:
            self.server.close()
        for writer in self.open:
            writer.close()
        self.open.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.open += [writer, upstream_writer]

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(copy(reader, upstream_writer), copy(upstream_reader, writer))


@ray_only
async def test_unreachable_renderers_keep_the_job_and_it_resumes(
        serve_base: str, make_queue: Any, database: Any) -> None:
    relay = _Relay(serve_base)
    async with _backend(f"http://127.0.0.1:{relay.port}/neurostream",
                        retry_delays=(0.05,)) as backend:
        assert backend.unreachable  # nothing answered at start: the bot starts all the same
        queue: JobQueue = make_queue(backend)
        await queue.start()
        try:
            await relay.up()
            first = await asyncio.wait_for(queue.wait((await queue.submit(SMALL, CLI)).id), 120)
            assert first.state is JobState.DONE and not backend.unreachable
            await relay.down()  # the cluster goes away between two jobs
            job = await queue.submit(dataclasses.replace(SMALL, seed=12), CLI)
            events = queue.subscribe(job.id)
            kinds = [(await asyncio.wait_for(events.get(), 60)).kind for _ in range(2)]
            assert kinds == [EventKind.STARTED, EventKind.QUEUED]  # tried, then kept
            kept = await JobRepository(database).get(job.id)
            assert kept is not None and kept.state is JobState.QUEUED and kept.attempts == 0
            assert backend.unreachable
            await relay.up()
            done = await asyncio.wait_for(queue.wait(job.id), 120)
        finally:
            await queue.close()
            await relay.down()
    assert done.state is JobState.DONE and done.attempts == 1
    assert not backend.unreachable


def test_the_bot_side_imports_neither_torch_nor_ray() -> None:
    import subprocess
    import sys

    code = ("import sys, bot.queue.ray_backend, bot.inference.ray_cluster\n"
            "print(sorted(m for m in ('torch', 'diffusers', 'ray') if m in sys.modules))\n")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2],
                            check=True, capture_output=True, text=True).stdout.strip()
    assert loaded == "[]"

