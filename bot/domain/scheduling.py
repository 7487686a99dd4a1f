"""Scheduling policy: which waiting jobs run next. Pure, so the positions shown equal what runs.

The order, from the most to the least significant:

1. priority — people's jobs before stream jobs;
2. round — a user's k-th waiting job is in round k, so nobody waits behind more than one job per
   other active user (round-robin across users);
3. server fair share — within a round, servers take turns: the first user of every server, then
   the second user of every server, ... so a busy server cannot fill a whole round;
4. service — within a round, users (and servers) served least recently go first, so someone who
   arrives while a heavy user's jobs keep running is served after at most one more of them;
5. arrival — older first.

``last_served`` maps a user key (see ``user_key``) or ``("guild", id)`` to a number that grows
each time one of its jobs starts; the queue keeps it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.domain.errors import UserError
from bot.domain.jobs import Job

PRIORITY_PERSON = 0
PRIORITY_STREAM = -10


LastServed = Mapping[tuple[object, ...], float]


def user_key(job: Job) -> tuple[str, int | None, str]:
    """Whose job this is, for fairness."""
    return _user_key(job)


def guild_key(job: Job) -> tuple[str, int | None]:
    """Which server a job is from, for fairness."""
    return ("guild", job.requester.guild_id)


def _user_key(job: Job) -> tuple[str, int | None, str]:
    # CLI jobs have no Discord id; they share one "user" per source.
    requester = job.requester
    return (requester.source, requester.user_id, "" if requester.user_id else requester.user_name)


def _order_keys(waiting: Sequence[Job], last_served: LastServed
                ) -> dict[int, tuple[int, int, int, float, int, float, int]]:
    by_id = sorted(waiting, key=lambda job: job.id)
    # Each job's user key once: the queue orders every waiting job at each start, so this
    # runs on the event loop's hot path.
    users = {job.id: _user_key(job) for job in by_id}
    # Round of each job: its index among its user's waiting jobs of the same priority.
    counts: dict[tuple[object, ...], int] = defaultdict(int)
    rounds: dict[int, int] = {}
    for job in by_id:
        key = (job.priority, *users[job.id])
        rounds[job.id] = counts[key]
        counts[key] += 1
    # Within one (priority, round): each server's users in arrival order, servers taking turns.
    first_arrival: dict[tuple[object, ...], int] = {}
    for job in by_id:
        first_arrival.setdefault(users[job.id], job.id)
    groups: dict[tuple[int, int], list[Job]] = defaultdict(list)
    for job in by_id:
        groups[(job.priority, rounds[job.id])].append(job)
    never = float("-inf")
    served = {user: last_served.get(user, never) for user in first_arrival}
    arrival = {job.id: first_arrival[users[job.id]] for job in by_id}

    keys: dict[int, tuple[int, int, int, float, int, float, int]] = {}
    for (priority, round_), jobs in groups.items():
        turn_in_guild: dict[int | None, int] = defaultdict(int)
        guild_arrival: dict[int | None, int] = {}
        by_service = sorted(jobs, key=lambda j: (served[users[j.id]], arrival[j.id]))
        for job in by_service:
            guild = job.requester.guild_id
            guild_arrival.setdefault(guild, arrival[job.id])
            keys[job.id] = (-priority, round_, turn_in_guild[guild],
                            last_served.get(("guild", guild), never), guild_arrival[guild],
                            served[users[job.id]], arrival[job.id])
            turn_in_guild[guild] += 1
    return keys


def ordered(waiting: Sequence[Job], last_served: LastServed | None = None) -> list[Job]:
    """The waiting jobs in the order they will run."""
    keys = _order_keys(waiting, last_served or {})
    return sorted(waiting, key=lambda job: (keys[job.id], job.id))


def pick_batch(waiting: Sequence[Job], max_batch: int,
               last_served: LastServed | None = None) -> list[Job]:
    """The next job and up to ``max_batch - 1`` later ones that can share its pipeline call.

    Only jobs of the same priority join (a stream job never rides with a person's), and a lone
    job never waits for company: the batch is formed only from jobs already waiting.
    """
    queue = ordered(waiting, last_served)
    if not queue:
        return []
    first = queue[0]
    key = first.recipe.batch_key()
    batch = [first]
    for job in queue[1:]:
        if len(batch) >= max_batch:
            break
        if job.priority == first.priority and job.recipe.batch_key() == key:
            batch.append(job)
    return batch


def position(waiting: Sequence[Job], job_id: int,
             last_served: LastServed | None = None) -> int | None:
    """1-based place of ``job_id`` among the waiting jobs, or None if it is not waiting."""
    for index, job in enumerate(ordered(waiting, last_served), start=1):
        if job.id == job_id:
            return index
    return None


def estimate_wait(ahead: Sequence[Job], running_steps_left: int, running_pixels: int,
                  seconds_per_step_pixel: float) -> float:
    """Seconds until a job starts: what is left of the running job plus every job ahead.

    Step time is modelled as proportional to the image's pixel count, measured on this machine.
    """
    left = running_steps_left * running_pixels
    for job in ahead:
        left += job.recipe.steps * job.recipe.width * job.recipe.height
    return left * seconds_per_step_pixel


@dataclass(frozen=True, slots=True)
class Caps:
    """Admission limits: queued jobs per user and in total (0 = no limit)."""

    per_user: int = 0
    total: int = 0


def check_admission(waiting: Sequence[Job], user_id: int | None, count: int, caps: Caps, *,
                    in_flight: int = 0, in_flight_total: int = 0, grouped: bool = False) -> None:
    """Refuse (UserError) a request that would pass a cap; the message says the cap and count.

    ``in_flight`` counts the user's jobs admitted but not yet in ``waiting`` (being recorded).
    A ``grouped`` request (one grid of ``count`` images) counts as one against the person's
    cap, so a default cap does not forbid a 2×2 grid or a morph; while its images wait, they
    count one by one against the person's next requests, and every image counts in the total.
    """
    queued = len(waiting) + in_flight_total
    if caps.total and queued + count > caps.total:
        raise UserError(f"the queue is full: {queued} jobs are waiting and the limit is "
                        f"{caps.total}; try again in a little while")
    if caps.per_user and user_id is not None:
        mine = in_flight + sum(1 for job in waiting
                               if job.requester.user_id == user_id
                               and job.priority >= PRIORITY_PERSON)
        asked = 1 if grouped else count
        if mine + asked > caps.per_user:
            if mine == 0:  # the request alone is too big: say so, not "you already have 0"
                raise UserError(f"this request makes {count} images and the limit is "
                                f"{caps.per_user} waiting per person; ask for fewer at once")
            raise UserError(f"you already have {mine} job(s) waiting and the limit is "
                            f"{caps.per_user} per person; wait for one to finish or /cancel one")
