"""Shared fixtures: offline hub, sensible torch threads, one tiny engine for the session."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # an accidental hub call fails fast instead of hanging
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bot.inference.engine import Engine
    from bot.queue.backend import Backend
    from bot.queue.queue import JobQueue
    from bot.storage.database import Database


@pytest.fixture(autouse=True)
def private_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-user data folder (the default database, outputs) inside each test's folder, for
    the test and the processes it starts: no test touches the real ~/.local/share."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data-home"))


@pytest.fixture(scope="session")
def shared_engine() -> Engine:
    """The built-in tiny model, loaded once (a test that needs its own builds another)."""
    import torch

    from bot.inference import load_engine

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    return load_engine("tiny", device="cpu")


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """A real SQLite file in a temporary folder."""
    from bot.storage.database import Database

    db = await Database.open(tmp_path / "neurostream.db")
    yield db
    await db.close()


@pytest.fixture
async def worker(shared_engine: Engine) -> AsyncIterator[Any]:
    """An inference worker thread owning the shared tiny engine."""
    from bot.inference.worker import InferenceWorker

    inference: InferenceWorker[Engine] = InferenceWorker(lambda: shared_engine)
    await inference.start()
    yield inference
    await inference.close()


@pytest.fixture
def make_queue(database: Database, worker: Any, tmp_path: Path
               ) -> Callable[..., JobQueue]:
    """Build a JobQueue on the test database and worker (optionally around another backend)."""
    from bot.queue.backend import InProcessBackend
    from bot.queue.queue import JobQueue
    from bot.storage.jobs import JobRepository

    def build(backend: Backend | None = None, **kwargs: Any) -> JobQueue:
        return JobQueue(JobRepository(database), backend or InProcessBackend(worker),
                        tmp_path / "outputs", **kwargs)

    return build
