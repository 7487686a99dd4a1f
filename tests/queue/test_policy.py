"""The queue's policy state on its own: fairness bookkeeping and ETAs over N slots (pure)."""

from __future__ import annotations

import pytest

from bot.domain import Recipe, Requester, scheduling
from bot.domain.jobs import Job, JobState
from bot.queue.policy import BusySlot, QueuePolicy

COST = 1e-6  # seconds per step per pixel


def _job(job_id: int, user: int, *, steps: int = 10, size: int = 64) -> Job:
    recipe = Recipe(prompt="p", width=size, height=size, steps=steps, seed=job_id)
    return Job(id=job_id, recipe=recipe, requester=Requester(user_id=user),
               state=JobState.QUEUED, created_at=float(job_id))


def _measured() -> QueuePolicy:
    policy = QueuePolicy()
    policy.learn_step_cost(Recipe(prompt="p", width=100, height=100), COST * 100 * 100)
    return policy


def test_no_eta_before_a_step_was_measured() -> None:
    assert QueuePolicy().etas([_job(1, 1)], [None]) == [None]


def test_one_slot_adds_up_the_running_job_and_every_job_ahead() -> None:
    policy = _measured()
    running = _job(9, 9, steps=20, size=128)
    order = [_job(1, 1, steps=10), _job(2, 2, steps=30, size=128), _job(3, 3)]
    etas = policy.etas(order, [BusySlot(running.recipe, 5)])
    # The formula the single-dispatcher queue used: what is left, then each job ahead in turn.
    cost = policy.step_cost
    assert cost == pytest.approx(COST)
    expected, elapsed = [], scheduling.estimate_wait([], 15, 128 * 128, cost)
    for job in order:
        expected.append(elapsed)
        elapsed += scheduling.estimate_wait([job], 0, 0, cost)
    assert etas == expected


def test_each_job_goes_to_the_slot_that_frees_first() -> None:
    policy = _measured()
    px = 64 * 64
    busy = [BusySlot(_job(8, 8, steps=10).recipe, 0), None,
            BusySlot(_job(9, 9, steps=10).recipe, 6)]
    order = [_job(1, 1), _job(2, 2), _job(3, 3), _job(4, 4)]
    etas = policy.etas(order, busy)
    # Slot 2 is idle (0), slot 3 frees after 4 steps, slot 1 after 10; each job takes 10 steps.
    assert etas == pytest.approx([0.0, 4 * px * COST, 10 * px * COST, 10 * px * COST])


def test_a_pick_is_marked_served_before_the_next_pick() -> None:
    policy = QueuePolicy()
    heavy = [_job(i, 1) for i in range(1, 4)]
    light = _job(4, 2)
    first = policy.pick([*heavy, light], 1)
    assert first == [heavy[0]]
    # The light user now comes before the heavy user's second job, without an await between.
    assert policy.pick([*heavy[1:], light], 1) == [light]
    assert policy.ordered(heavy[1:]) == heavy[1:]
