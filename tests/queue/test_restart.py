"""An img2img job whose input is only in the attachments store survives kill -9 and a restart."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from bot.app import open_app
from bot.domain import JobState, Mode
from tests.queue.crash_child import SOURCES, recipe_for, settings_for

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_an_img2img_job_from_a_stored_image_survives_kill_9(
        tmp_path: Path, shared_engine: Any) -> None:
    original = tmp_path / "sketch.png"
    Image.radial_gradient("L").resize((64, 64)).convert("RGB").save(original)
    errors = tmp_path / "child.err"  # a file, not a pipe: nobody reads it while the child runs
    with errors.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.queue.crash_child", str(tmp_path), str(original),
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line, errors.read_text()[-3000:]
        report = json.loads(line)
        assert "error" not in report, report
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-generation: the job is recorded as running
        await proc.wait()
    assert not original.exists()  # the stored bytes are the only copy left

    # The model of the restarted process loads only when the test lets it: the job must be back
    # in line at once (recovery does not wait for the model), and start only after.
    may_load = threading.Event()

    def gated_engine() -> Any:
        may_load.wait(60)
        return shared_engine

    settings = settings_for(tmp_path)
    async with open_app(settings, sources=SOURCES, recover=True, factory=gated_engine,
                        wait_for_model=False) as app:
        try:
            job_id = report["job"]
            assert [job.id for job in app.queue.waiting()] == [job_id]
            assert app.queue.position(job_id) == 1
            stored = await app.jobs.get(job_id)
            assert stored is not None and stored.state is JobState.QUEUED
            assert stored.attempts == 1  # the killed run counted
        finally:
            may_load.set()
        done = await asyncio.wait_for(app.queue.wait(job_id), 120)
    assert done.state is JobState.DONE, done.error
    assert done.recipe.mode is Mode.IMG2IMG and done.recipe.init_image == report["ref"]
    assert done.recipe == recipe_for(report["ref"])
    assert done.attempts == 2 and done.output_path and Path(done.output_path).is_file()
