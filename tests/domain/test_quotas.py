"""Quotas: the N+1th image in a window is refused with the right wait; the ledger forgets a day."""

from __future__ import annotations

import pytest

from bot.domain.errors import ValidationError
from bot.domain.quotas import QuotaLedger, QuotaLimits, quota_refusal, wait_text


@pytest.mark.parametrize(("seconds", "text"), [
    (0.2, "1 s"), (1, "1 s"), (42, "42 s"), (59.1, "1 min"), (60, "1 min"), (200, "3 min 20 s"),
    (3599.5, "1 h"), (3600, "1 h"), (3900, "1 h 5 min"), (86399, "23 h 59 min"),
])
def test_wait_text(seconds: float, text: str) -> None:
    assert wait_text(seconds) == text


def test_the_n_plus_first_image_in_a_minute_is_refused_until_the_oldest_leaves() -> None:
    limits = QuotaLimits(per_minute=3)
    times = [1000.0, 1010.0, 1020.0]
    assert quota_refusal(times[:2], limits, 1030.0, asking=1) is None
    refusal = quota_refusal(times, limits, 1030.0, asking=1)
    assert refusal is not None
    assert refusal.wait == pytest.approx(30.0)  # 1000 + 60 - 1030
    assert refusal.message == ("you have reached this server's limit of 3 image(s) a minute; "
                               "your next request is allowed in 30 s")
    assert quota_refusal(times, limits, 1060.0, asking=1) is None  # the oldest has left


def test_a_request_of_several_images_waits_until_enough_have_left() -> None:
    limits = QuotaLimits(per_hour=4)
    times = [0.0, 100.0, 200.0, 300.0]
    refusal = quota_refusal(times, limits, 400.0, asking=2)
    assert refusal is not None and refusal.wait == pytest.approx(100.0 + 3600 - 400)
    assert "in 55 min" in refusal.message


def test_the_longest_wait_of_all_windows_is_said() -> None:
    limits = QuotaLimits(per_minute=2, per_hour=3)
    times = [0.0, 1000.0, 1030.0]
    refusal = quota_refusal(times, limits, 1040.0, asking=1)
    assert refusal is not None and refusal.label == "an hour"
    assert refusal.wait == pytest.approx(3600 - 1040)  # "in 42 min 40 s"
    assert refusal.message.endswith("allowed in 42 min 40 s")


def test_images_admitted_but_not_recorded_count_as_made_now() -> None:
    limits = QuotaLimits(per_minute=2)
    assert quota_refusal([10.0], limits, 20.0, asking=1) is None
    refusal = quota_refusal([10.0], limits, 20.0, asking=1, in_flight=1)
    assert refusal is not None and refusal.wait == pytest.approx(50.0)
    refusal = quota_refusal([], limits, 20.0, asking=1, in_flight=2)
    assert refusal is not None and refusal.wait == pytest.approx(60.0)


def test_more_than_a_window_allows_at_once_says_so() -> None:
    refusal = quota_refusal([], QuotaLimits(per_minute=2), 0.0, asking=4)
    assert refusal is not None
    assert refusal.message == ("this server allows 2 image(s) a minute per person, and this "
                               "request asks for 4")


def test_no_limit_means_none() -> None:
    assert QuotaLimits().unlimited
    assert quota_refusal([0.0] * 1000, QuotaLimits(), 1.0, asking=1) is None
    assert QuotaLimits(per_day=5).describe() == "5 a day"
    assert QuotaLimits().describe() == "no limit"


@pytest.mark.parametrize("value", [-1, 10_001, 1.5, True, "3"])
def test_limits_are_validated(value: object) -> None:
    with pytest.raises(ValidationError, match="per_hour must be a whole number"):
        QuotaLimits(per_hour=value)  # type: ignore[arg-type]


def test_updated_keeps_what_is_not_given() -> None:
    limits = QuotaLimits(1, 2, 3).updated(per_hour=0)
    assert limits == QuotaLimits(1, 0, 3)


def test_the_ledger_keeps_a_day_per_person_and_server_in_order() -> None:
    ledger = QuotaLedger()
    ledger.note(1, 7, 100.0)
    ledger.note(1, 7, 50.0)  # recorded out of order: sorted in
    ledger.note(2, 7, 60.0)
    ledger.note(1, 8, 70.0)
    assert ledger.times(1, 7, 200.0) == [50.0, 100.0]
    assert ledger.times(2, 7, 200.0) == [60.0]
    assert ledger.times(1, 7, 50.0 + 86400) == [100.0]  # a day old is gone
    assert ledger.times(1, 7, 100.0 + 86400) == []
    assert len(ledger) == 2
