"""Quotas: how many images one person may ask for per minute, hour and day, and how long to wait.

Counts are kept in a ``QuotaLedger``: the creation times of each person's recent images per
server, filled from the jobs table at start (so a restart resets nothing) and kept current as
each job is recorded. Checking is a pure function of the ledger, the limits and the clock.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass

from bot.domain.errors import ValidationError

# (name, seconds, how a limit of it reads)
WINDOWS: tuple[tuple[str, float, str], ...] = (
    ("per_minute", 60.0, "a minute"),
    ("per_hour", 3600.0, "an hour"),
    ("per_day", 86400.0, "a day"),
)
HORIZON = max(seconds for _, seconds, _ in WINDOWS)
QUOTA_MAX = 10_000


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """Images per person per window; 0 means no limit."""

    per_minute: int = 0
    per_hour: int = 0
    per_day: int = 0

    def __post_init__(self) -> None:
        for name, _, _ in WINDOWS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not (
                    0 <= value <= QUOTA_MAX):
                raise ValidationError(f"{name} must be a whole number between 0 (no limit) "
                                      f"and {QUOTA_MAX}, got {value!r}")

    @property
    def unlimited(self) -> bool:
        """Whether no window has a limit."""
        return not (self.per_minute or self.per_hour or self.per_day)

    def updated(self, per_minute: int | None = None, per_hour: int | None = None,
                per_day: int | None = None) -> QuotaLimits:
        """These limits with the values given replaced (None keeps a value)."""
        return QuotaLimits(
            per_minute=self.per_minute if per_minute is None else per_minute,
            per_hour=self.per_hour if per_hour is None else per_hour,
            per_day=self.per_day if per_day is None else per_day)

    def describe(self) -> str:
        """"10 a minute, 100 an hour" or "no limit"."""
        parts = [f"{getattr(self, name)} {label}" for name, _, label in WINDOWS
                 if getattr(self, name)]
        return ", ".join(parts) if parts else "no limit"


def wait_text(seconds: float) -> str:
    """"42 s", "3 min 20 s", "2 h 5 min" (whole seconds, rounded up)."""
    total = max(1, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    if minutes:
        return f"{minutes} min" + (f" {secs} s" if secs else "")
    return f"{secs} s"


class QuotaLedger:
    """When each person's recent images were asked for, per server (the last day only)."""

    def __init__(self) -> None:
        self._times: dict[tuple[int | None, int], deque[float]] = {}

    def note(self, guild_id: int | None, user_id: int, at: float) -> None:
        """Count one image asked for at ``at`` (out-of-order times are sorted in)."""
        times = self._times.setdefault((guild_id, user_id), deque())
        if not times or at >= times[-1]:
            times.append(at)
        else:  # rare: a job recorded with an earlier clock reading
            ordered = sorted([*times, at])
            times.clear()
            times.extend(ordered)

    def times(self, guild_id: int | None, user_id: int, now: float) -> list[float]:
        """This person's times within the last day, oldest first (older ones are dropped)."""
        times = self._times.get((guild_id, user_id))
        if not times:
            return []
        while times and times[0] <= now - HORIZON:
            times.popleft()
        if not times:
            del self._times[(guild_id, user_id)]
            return []
        return list(times)

    def __len__(self) -> int:
        return sum(len(t) for t in self._times.values())


@dataclass(frozen=True, slots=True)
class QuotaRefusal:
    """Which window is full, its limit, and how long until the request would fit."""

    label: str
    limit: int
    wait: float
    asked: int

    @property
    def message(self) -> str:
        """What the person is told."""
        if self.asked > self.limit:
            return (f"this server allows {self.limit} image(s) {self.label} per person, and "
                    f"this request asks for {self.asked}")
        return (f"you have reached this server's limit of {self.limit} image(s) {self.label}; "
                f"your next request is allowed in {wait_text(self.wait)}")


def quota_refusal(times: list[float], limits: QuotaLimits, now: float, *, asking: int,
                  in_flight: int = 0) -> QuotaRefusal | None:
    """Why ``asking`` more images would pass a limit (None: they fit).

    ``times`` are the person's recorded images (oldest first); ``in_flight`` their images
    admitted but not yet recorded, which count as made now.
    """
    worst: QuotaRefusal | None = None
    for name, seconds, label in WINDOWS:
        limit = getattr(limits, name)
        if not limit:
            continue
        recent = times[bisect_right(times, now - seconds):]
        over = len(recent) + in_flight + asking - limit
        if over <= 0:
            continue
        if asking > limit:
            return QuotaRefusal(label, limit, math.inf, asking)
        # The ``over`` oldest must leave the window; in-flight ones leave it last.
        wait = recent[over - 1] + seconds - now if over <= len(recent) else seconds
        if worst is None or wait > worst.wait:
            worst = QuotaRefusal(label, limit, max(wait, 0.0), asking)
    return worst
