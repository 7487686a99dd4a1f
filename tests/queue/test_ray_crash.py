"""kill -9 of a bot rendering on its own local Ray Serve: each queued job is delivered exactly
once after the restart (``-m ray``).

A module of its own: its two bot processes each start a Ray instance, and none of
test_ray_backend's (whose replicas would share the two cores with them) runs by then.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.queue.ray_crash_child import CHILD_BOUND_S, run_child


@pytest.mark.ray
@pytest.mark.timeout(5 * CHILD_BOUND_S)  # the submitting child, then the resuming one
async def test_jobs_queued_on_ray_survive_kill_9_and_are_delivered_once(
        tmp_path: Path) -> None:
    pytest.importorskip("ray")
    first = await run_child(tmp_path, "submit")
    assert "error" not in first, first
    second = await run_child(tmp_path, "resume")
    assert "error" not in second, second
    jobs = second["jobs"]
    assert sorted(jobs) == sorted(str(i) for i in first["jobs"])
    assert all(job["state"] == "done" for job in jobs.values()), jobs
    # The running job's killed run counted; each job has exactly one PNG, delivered once.
    assert sorted(job["attempts"] for job in jobs.values()) == [1, 1, 2]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == sorted(
        Path(job["output"]).name for job in jobs.values())
    assert second["done_events"] == {job_id: 1 for job_id in jobs}
    assert json.dumps(second)  # plain data
