"""Maintenance windows with fixed clocks: one-off UTC windows, weekly wall-clock windows
across midnight and across both DST changes of Europe/Berlin (2026-03-29 and
2026-10-25, each at 01:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from smtpwatch.core.maintenance import in_maintenance, window_end
from smtpwatch.core.target import Target


def target(*windows: dict[str, Any]) -> Target:
    fields: dict[str, Any] = {"target_id": "mx1", "host": "mx1.example.com"}
    return Target(**fields, maintenance=list(windows))  # type: ignore[arg-type]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_no_windows_is_never_maintenance() -> None:
    assert not in_maintenance(target(), utc(2026, 11, 25, 12, 0))
    assert window_end(target(), utc(2026, 11, 25, 12, 0)) is None


def test_one_off_window_includes_start_and_excludes_end() -> None:
    t = target({"start": "2026-11-25T22:00:00Z", "end": "2026-11-26T02:00:00Z"})
    assert not in_maintenance(t, utc(2026, 11, 25, 21, 59, 59))
    assert in_maintenance(t, utc(2026, 11, 25, 22, 0))
    assert in_maintenance(t, utc(2026, 11, 26, 1, 59, 59))
    assert not in_maintenance(t, utc(2026, 11, 26, 2, 0))
    assert window_end(t, utc(2026, 11, 25, 23, 0)) == utc(2026, 11, 26, 2, 0)


def test_one_off_window_with_offset_is_converted_to_utc() -> None:
    t = target({"start": "2026-11-25T22:00:00+01:00", "end": "2026-11-25T23:00:00+01:00"})
    assert in_maintenance(t, utc(2026, 11, 25, 21, 30))
    assert not in_maintenance(t, utc(2026, 11, 25, 22, 30))


def test_now_in_another_offset_or_naive_means_the_same_instant() -> None:
    t = target({"start": "2026-11-25T22:00:00Z", "end": "2026-11-25T23:00:00Z"})
    plus_two = timezone(timedelta(hours=2))
    assert in_maintenance(t, datetime(2026, 11, 26, 0, 30, tzinfo=plus_two))
    assert in_maintenance(t, datetime(2026, 11, 25, 22, 30))  # naive = UTC


def test_weekly_window_crossing_midnight_belongs_to_its_start_day() -> None:
    # GIVEN Saturday 22:00 - 02:00 Berlin time (winter: UTC+1); 2026-11-28 is a Saturday
    t = target({"days": ["sat"], "start": "22:00", "end": "02:00", "tz": "Europe/Berlin"})
    # THEN it runs Sat 21:00 UTC to Sun 01:00 UTC
    assert not in_maintenance(t, utc(2026, 11, 28, 20, 59))
    assert in_maintenance(t, utc(2026, 11, 28, 21, 0))
    assert in_maintenance(t, utc(2026, 11, 29, 0, 30))  # Sunday 01:30 local, started Saturday
    assert not in_maintenance(t, utc(2026, 11, 29, 1, 0))
    # AND Sunday evening is not in it (only Saturday starts a window)
    assert not in_maintenance(t, utc(2026, 11, 29, 21, 30))
    # AND Friday night before is not either
    assert not in_maintenance(t, utc(2026, 11, 27, 23, 30))
    assert window_end(t, utc(2026, 11, 28, 23, 0)) == utc(2026, 11, 29, 1, 0)


def test_weekly_window_follows_summer_time() -> None:
    t = target({"days": "sat", "start": "22:00", "end": "02:00", "tz": "Europe/Berlin"})
    # 2026-07-04 is a Saturday; CEST is UTC+2
    assert not in_maintenance(t, utc(2026, 7, 4, 19, 59))
    assert in_maintenance(t, utc(2026, 7, 4, 20, 0))
    assert in_maintenance(t, utc(2026, 7, 4, 23, 59))
    assert not in_maintenance(t, utc(2026, 7, 5, 0, 0))


def test_window_over_spring_forward_is_an_hour_shorter_in_real_time() -> None:
    # GIVEN 01:00-04:00 local every day; on 2026-03-29 02:00 CET jumps to 03:00 CEST
    t = target({"start": "01:00", "end": "04:00", "tz": "Europe/Berlin"})
    # THEN that day it runs 00:00-02:00 UTC (01:00 CET to 04:00 CEST) ...
    assert in_maintenance(t, utc(2026, 3, 29, 0, 0))
    assert in_maintenance(t, utc(2026, 3, 29, 1, 59))
    assert not in_maintenance(t, utc(2026, 3, 29, 2, 0))
    # ... while the day before it ran 00:00-03:00 UTC
    assert in_maintenance(t, utc(2026, 3, 28, 2, 30))
    assert window_end(t, utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 2, 0)


def test_window_over_fall_back_is_an_hour_longer_in_real_time() -> None:
    # GIVEN 01:00-04:00 local; on 2026-10-25 03:00 CEST falls back to 02:00 CET
    t = target({"start": "01:00", "end": "04:00", "tz": "Europe/Berlin"})
    # THEN it runs 23:00 UTC (01:00 CEST) to 03:00 UTC (04:00 CET): four hours
    assert not in_maintenance(t, utc(2026, 10, 24, 22, 59))
    assert in_maintenance(t, utc(2026, 10, 24, 23, 0))
    assert in_maintenance(t, utc(2026, 10, 25, 2, 30))
    assert not in_maintenance(t, utc(2026, 10, 25, 3, 0))


def test_window_starting_in_the_spring_gap_starts_when_the_clock_passes_it() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin; it is read with the offset before the
    # change (CET), i.e. 01:30 UTC = 03:30 CEST.
    t = target({"days": ["sun"], "start": "02:30", "end": "05:00", "tz": "Europe/Berlin"})
    assert not in_maintenance(t, utc(2026, 3, 29, 1, 29))
    assert in_maintenance(t, utc(2026, 3, 29, 1, 30))
    assert not in_maintenance(t, utc(2026, 3, 29, 3, 0))  # 05:00 CEST


def test_window_until_24_00_ends_at_local_midnight() -> None:
    t = target({"days": ["wed"], "start": "20:00", "end": "24:00", "tz": "America/New_York"})
    # 2026-11-25 is a Wednesday; EST is UTC-5
    assert in_maintenance(t, utc(2026, 11, 26, 1, 0))
    assert in_maintenance(t, utc(2026, 11, 26, 4, 59))
    assert not in_maintenance(t, utc(2026, 11, 26, 5, 0))


def test_day_ranges_may_wrap_the_week() -> None:
    t = target({"days": "fri-mon", "start": "00:00", "end": "24:00"})
    on = {utc(2026, 11, d, 12) for d in (23, 27, 28, 29, 30)}  # Mon; Fri, Sat, Sun, Mon
    for day in range(23, 31):
        moment = utc(2026, 11, day, 12)
        assert in_maintenance(t, moment) is (moment in on)


def test_window_end_follows_overlapping_and_touching_windows() -> None:
    t = target(
        {"start": "2026-11-25T22:00:00Z", "end": "2026-11-26T01:00:00Z"},
        {"start": "00:30", "end": "02:00"},  # daily, UTC: overlaps the one-off
        {"start": "02:00", "end": "02:15"},  # touches the daily one
    )
    assert window_end(t, utc(2026, 11, 25, 23, 0)) == utc(2026, 11, 26, 2, 15)


@pytest.mark.parametrize("hour", range(24))
def test_daily_all_day_window_always_holds(hour: int) -> None:
    t = target({"start": "00:00", "end": "24:00", "tz": "Europe/Berlin"})
    assert in_maintenance(t, utc(2026, 3, 29, hour, 30))
    assert in_maintenance(t, utc(2026, 10, 25, hour, 30))
