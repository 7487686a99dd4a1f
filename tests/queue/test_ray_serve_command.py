"""``neurostream serve``: renderers on this machine's Ray, reached by a bot over HTTP.

A module of its own: the command joins the Ray instance it finds on the machine, so it must
not run while test_ray_backend's instance does (that module's fixture is gone by now).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.config import settings_from_dict
from bot.domain import Recipe
from bot.queue.ray_backend import RayServeBackend
from tests.queue.ray_crash_child import CHILD_BOUND_S

SMALL = Recipe(prompt="a lighthouse at dusk", width=64, height=64, steps=2, seed=11)


@pytest.mark.ray
@pytest.mark.timeout(3 * CHILD_BOUND_S)  # start-up, one render, shutdown
async def test_neurostream_serve_runs_renderers_that_a_bot_reaches_by_url(
        tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from bot.inference.ray_cluster import free_port

    config = tmp_path / "cluster.toml"
    config.write_text('[model]\nid = "tiny"\ndevice = "cpu"\n[backend]\nreplicas = 1\n'
                      f'listen = "127.0.0.1:{free_port()}"\n')
    errors = tmp_path / "serve.err"
    with errors.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", "--config", str(config),
            cwd=Path(__file__).parents[2], stdout=subprocess.PIPE, stderr=stderr,
            # As in a script's background job: SIGINT ignored. Ctrl-C must work all the same.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), CHILD_BOUND_S)).decode()
        assert "ready at http://127.0.0.1:" in line, errors.read_text()[-3000:]
        address = line.split("ready at ")[1].split()[0]
        settings = settings_from_dict({"backend": {"kind": "ray", "address": address}})
        backend = RayServeBackend.from_settings(settings)
        await backend.start()
        try:
            result = await backend.generate([SMALL], on_progress=None, cancel=threading.Event())
        finally:
            await backend.close()
        assert result.recipes[0].seed == SMALL.seed and result.images[0].size == (64, 64)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the renderers are removed, Ray stopped
        try:  # Serve removes the replicas, then Ray stops: minutes on a busy machine
            code = await asyncio.wait_for(proc.wait(), CHILD_BOUND_S)
        except TimeoutError:
            proc.kill()  # not left running after the test
            raise
    assert code == 0
