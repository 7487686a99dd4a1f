"""The scheduling policy: round-robin across users, servers take turns, priorities, caps."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Job, JobState, Recipe, Requester, UserError
from bot.domain.scheduling import (
    PRIORITY_PERSON,
    PRIORITY_STREAM,
    Caps,
    check_admission,
    estimate_wait,
    guild_key,
    ordered,
    pick_batch,
    position,
    user_key,
)


def _job(job_id: int, user: int, guild: int = 1, priority: int = PRIORITY_PERSON,
         size: int = 512) -> Job:
    return Job(id=job_id, recipe=Recipe(prompt=f"p{job_id}", width=size, height=size),
               requester=Requester(user_id=user, guild_id=guild, source="discord"),
               state=JobState.QUEUED, created_at=float(job_id), priority=priority)


jobs_strategy = st.lists(
    st.tuples(st.integers(1, 6), st.integers(1, 3), st.sampled_from([PRIORITY_PERSON,
                                                                     PRIORITY_STREAM])),
    min_size=0, max_size=40,
).map(lambda specs: [_job(i + 1, user, guild, priority)
                     for i, (user, guild, priority) in enumerate(specs)])


@given(jobs_strategy)
@settings(max_examples=300, deadline=None)
def test_nobody_waits_behind_more_than_one_job_per_other_user_per_round(jobs: list[Job]) -> None:
    order = ordered(jobs)
    assert sorted(j.id for j in order) == sorted(j.id for j in jobs)
    seen: Counter[tuple[int | None, int]] = Counter()
    for index, job in enumerate(order):
        k = seen[(job.requester.user_id, job.priority)]  # the user's k-th job here (0-based)
        ahead = Counter(j.requester.user_id for j in order[:index] if j.priority == job.priority)
        for other, count in ahead.items():
            if other != job.requester.user_id:
                assert count <= k + 1, (job, other, count)
        seen[(job.requester.user_id, job.priority)] += 1


@given(jobs_strategy)
@settings(max_examples=200, deadline=None)
def test_people_before_streams_and_fifo_per_user(jobs: list[Job]) -> None:
    order = ordered(jobs)
    priorities = [job.priority for job in order]
    assert priorities == sorted(priorities, reverse=True)
    for user in {job.requester.user_id for job in jobs}:
        for priority in (PRIORITY_PERSON, PRIORITY_STREAM):
            ids = [j.id for j in order if j.requester.user_id == user and j.priority == priority]
            assert ids == sorted(ids)


def test_heavy_user_does_not_hold_back_a_light_one() -> None:
    heavy = [_job(i, user=1) for i in range(1, 11)]
    light = _job(11, user=2)
    assert position([*heavy, light], light.id) == 2


def test_servers_take_turns_within_a_round() -> None:
    # Guild 1 has three users, guild 2 one: guild 2's user is served second, not fourth.
    jobs = [_job(1, user=1, guild=1), _job(2, user=2, guild=1), _job(3, user=3, guild=1),
            _job(4, user=4, guild=2)]
    assert [j.id for j in ordered(jobs)] == [1, 4, 2, 3]


def test_batch_takes_compatible_jobs_in_policy_order_only() -> None:
    jobs = [_job(1, user=1), _job(2, user=1, size=256), _job(3, user=2), _job(4, user=3),
            _job(5, user=4, priority=PRIORITY_STREAM)]
    assert [j.id for j in pick_batch(jobs, 3)] == [1, 3, 4]
    assert [j.id for j in pick_batch(jobs, 1)] == [1]
    assert [j.id for j in pick_batch([_job(9, user=1)], 4)] == [9]  # a lone job goes alone
    assert pick_batch([], 4) == []


def test_caps_refuse_with_the_numbers() -> None:
    waiting = [_job(i, user=1) for i in range(1, 4)] + [_job(4, user=2)]
    check_admission(waiting, 2, 1, Caps(per_user=3, total=10))
    with pytest.raises(UserError, match=r"you already have 3 job\(s\) waiting and the limit is 3"):
        check_admission(waiting, 1, 1, Caps(per_user=3, total=10))
    with pytest.raises(UserError, match="4 jobs are waiting and the limit is 4"):
        check_admission(waiting, 3, 1, Caps(per_user=3, total=4))
    check_admission(waiting, 1, 5, Caps())  # 0 = no limit


def test_a_grid_counts_once_against_a_persons_cap_and_fully_in_the_total() -> None:
    caps = Caps(per_user=5, total=20)
    # Eight frames of one morph: one request for the person's cap...
    check_admission([], 1, 8, caps, grouped=True)
    # ... but not when sent as eight separate images, and the refusal names the request.
    with pytest.raises(UserError, match="this request makes 8 images and the limit is 5"):
        check_admission([], 1, 8, caps)
    # Its waiting images count one by one against the next request.
    waiting = [_job(i, 1) for i in range(1, 9)]
    with pytest.raises(UserError, match="you already have 8 job"):
        check_admission(waiting, 1, 1, caps)
    # Every image counts in the total.
    with pytest.raises(UserError, match="the queue is full"):
        check_admission(waiting, 2, 16, caps, grouped=True)


@given(st.integers(1, 6), st.integers(2, 8), st.lists(st.integers(0, 30), min_size=1,
                                                       max_size=8))
@settings(max_examples=150, deadline=None)
def test_over_time_a_newcomer_waits_at_most_one_job_per_active_user(
        heavy_users: int, jobs_each: int, arrivals: list[int]) -> None:
    # Heavy users queue many jobs at once; light users arrive later, one job each. Dispatch one
    # job at a time, recording service as the queue does.
    waiting = [_job(u * 100 + k, user=u) for u in range(1, heavy_users + 1)
               for k in range(jobs_each)]
    pending = {1000 + i: at for i, at in enumerate(sorted(arrivals))}
    last_served: dict[tuple[object, ...], float] = {}
    # light job id → how many jobs each other user started between its arrival and its start
    ahead_of: dict[int, Counter[int | None]] = {}
    clock = 0
    next_id = 10_000
    while waiting or pending:
        for user, at in list(pending.items()):
            if at <= clock:
                next_id += 1
                waiting.append(_job(next_id, user=user))
                ahead_of[next_id] = Counter()
                del pending[user]
        if not waiting:
            clock += 1
            continue
        (job,) = pick_batch(waiting, 1, last_served)
        waiting.remove(job)
        clock += 1
        last_served[user_key(job)] = clock
        last_served[guild_key(job)] = clock
        for light_id, started in ahead_of.items():
            if any(j.id == light_id for j in waiting):
                started[job.requester.user_id] += 1
                # It waits behind at most one job of each other user.
                assert max(started.values()) <= 1, (light_id, started)


def test_round_robin_keeps_the_users_order_in_every_round() -> None:
    # Alice came first: in round two her job goes before Bob's, though Bob queued it earlier.
    jobs = [_job(1, user=1), _job(2, user=2), _job(3, user=2), _job(4, user=1)]
    assert [j.id for j in ordered(jobs)] == [1, 2, 4, 3]


def test_servers_keep_their_turn_order_and_take_every_turn() -> None:
    # Guild 1's first user came first: at every turn guild 1 goes before guild 2.
    jobs = [_job(1, user=1, guild=1), _job(2, user=2, guild=2), _job(3, user=4, guild=2),
            _job(4, user=3, guild=1)]
    assert [j.id for j in ordered(jobs)] == [1, 2, 4, 3]
    three_each = [_job(i, user=i, guild=1 if i <= 3 else 2) for i in range(1, 7)]
    assert [j.id for j in ordered(three_each)] == [1, 4, 2, 5, 3, 6]


def test_the_least_recently_served_server_and_user_go_first() -> None:
    jobs = [_job(1, user=1, guild=1), _job(2, user=2, guild=2)]
    recent_guild = {guild_key(jobs[0]): 5.0}
    assert [j.id for j in ordered(jobs, recent_guild)] == [2, 1]
    assert position(jobs, 1, recent_guild) == 2
    same_guild = [_job(1, user=1), _job(2, user=2)]
    assert [j.id for j in ordered(same_guild, {user_key(same_guild[0]): 5.0})] == [2, 1]
    assert position(same_guild, 3) is None


def test_fairness_keys() -> None:
    job = _job(1, user=7, guild=3)
    assert guild_key(job) == ("guild", 3)
    renamed = Job(id=2, recipe=job.recipe, requester=Requester(user_id=7, user_name="new name",
                                                                guild_id=3, source="discord"),
                  state=JobState.QUEUED, created_at=2.0)
    assert user_key(renamed) == user_key(job)  # a Discord user is their id, whatever the name
    cli = [Job(id=i, recipe=job.recipe, requester=Requester(user_id=None, user_name=name,
                                                            source="cli"),
               state=JobState.QUEUED, created_at=float(i)) for i, name in ((3, "ann"), (4, "bo"))]
    assert user_key(cli[0]) != user_key(cli[1])  # CLI users have only their name


def test_a_batch_never_mixes_sizes_or_priorities_however_large() -> None:
    jobs = [_job(1, user=1), _job(2, user=1, size=256), _job(3, user=2), _job(4, user=3),
            _job(5, user=4, priority=PRIORITY_STREAM)]
    assert [j.id for j in pick_batch(jobs, 8)] == [1, 3, 4]


def test_estimate_wait_adds_the_running_rest_and_every_job_ahead() -> None:
    ahead = [_job(1, user=1, size=64), _job(2, user=2, size=128)]
    # 5 steps of 32x32 left, then 25 steps of 64x64 and 25 of 128x128, at 1 ms per step-pixel.
    wait = estimate_wait(ahead, running_steps_left=5, running_pixels=32 * 32,
                         seconds_per_step_pixel=0.001)
    assert wait == pytest.approx((5 * 1024 + 25 * 4096 + 25 * 16384) * 0.001)
    assert estimate_wait([], 0, 0, 0.001) == 0


def test_caps_count_jobs_in_flight_and_allow_reaching_the_cap() -> None:
    waiting = [_job(1, user=1), _job(2, user=2)]
    check_admission(waiting, 1, 2, Caps(per_user=3, total=4))  # exactly at both caps
    with pytest.raises(UserError, match="3 jobs are waiting and the limit is 4"):
        check_admission(waiting, 3, 2, Caps(total=4), in_flight_total=1)
    with pytest.raises(UserError, match=r"you already have 2 job\(s\) waiting"):
        check_admission(waiting, 1, 2, Caps(per_user=3), in_flight=1)
