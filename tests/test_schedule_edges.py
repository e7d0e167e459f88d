"""Edges of the schedule a dispatcher relies on: window boundaries, the default of
``probed``, rounding of the first window, sub-second local ticks, and times that are
UTC whatever the machine's time zone. Expected values are fixed vectors or computed
here apart from the schedule code."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from smtpwatch.core.schedule import (
    dispatch_slot,
    due_slots,
    format_ts,
    is_due,
    parse_ts,
    tick_window,
    utc_now,
)

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Tgt:
    target_id: str
    interval_s: int = 300


def _slot_at_or_before(target: Tgt, moment: datetime) -> datetime:
    """The latest slot at or before ``moment``, from the documented grid: slots at
    ``offset + k * interval`` epoch seconds, offset from SHA-256 of the id."""
    digest = hashlib.sha256(target.target_id.encode()).hexdigest()
    offset = int(digest[:16], 16) % target.interval_s
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - (seconds - offset) % target.interval_s, tz=UTC)


@pytest.fixture
def new_york() -> Iterator[None]:
    """The machine's local time zone is not UTC for the test's duration."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        yield
    finally:
        mp.undo()
        time.tzset()


def test_the_clock_is_aware_utc() -> None:
    before = time.time()
    now = utc_now()
    assert now.utcoffset() == timedelta(0) and now.tzinfo is UTC
    assert before - 1 <= now.timestamp() <= time.time() + 1


def test_a_lowercase_z_and_a_naive_time_both_read_as_utc() -> None:
    assert parse_ts("2026-11-25T12:00:00z") == T0
    naive = parse_ts("2026-11-25T12:00:00")
    assert naive == T0 and naive.tzinfo is UTC


def test_times_are_written_in_utc_whatever_the_machine_time_zone(new_york: None) -> None:
    # GIVEN a machine in New York WHEN a +01:00 time is written
    moment = datetime(2026, 11, 25, 13, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    # THEN it is the same instant in UTC with Z, not New York time
    assert format_ts(moment) == "2026-11-25T12:00:00Z"
    assert parse_ts("2026-11-25T13:00:00+01:00").tzinfo is UTC


def test_a_slot_on_the_window_start_belongs_to_the_window_before() -> None:
    # GIVEN a 60 s target and a window (slot, slot + 120 s] starting on one of its slots
    t = Tgt("mx1", 60)
    slot = _slot_at_or_before(t, T0)
    # THEN the window holds the next two slots, not the one on its start
    assert due_slots(t, slot, slot + timedelta(seconds=120)) == [
        slot + timedelta(seconds=60),
        slot + timedelta(seconds=120),
    ]


def test_a_probed_target_is_dispatched_for_its_slot_in_the_window_and_only_then() -> None:
    # GIVEN a probed 1-hour target (the default) and the one-minute window holding its slot
    t = Tgt("mx1", 3600)
    slot = _slot_at_or_before(t, T0)
    window = (slot - timedelta(seconds=30), slot + timedelta(seconds=30))
    # THEN that tick dispatches the slot, and the next minute's tick dispatches nothing
    assert dispatch_slot(t, *window) == slot
    later = (window[1], window[1] + timedelta(seconds=60))
    assert dispatch_slot(t, *later) is None
    assert not is_due(t, *later)


def test_a_never_probed_target_is_due_in_a_window_without_its_slot() -> None:
    t = Tgt("brand-new", 3600)
    slot = _slot_at_or_before(t, T0)
    window = (slot + timedelta(minutes=10), slot + timedelta(minutes=11))
    assert is_due(t, *window, probed=False)
    assert not is_due(t, *window)


@pytest.mark.parametrize(
    ("seconds", "end"), [(29, T0), (30, T0 + timedelta(minutes=1)), (35, T0 + timedelta(minutes=1))]
)
def test_the_first_window_ends_on_the_nearest_whole_minute(seconds: int, end: datetime) -> None:
    window = tick_window(None, T0 + timedelta(seconds=seconds))
    assert window == (end - timedelta(minutes=1), end)


def test_a_local_tick_just_over_half_a_second_late_covers_the_next_second() -> None:
    window = tick_window(T0, T0 + timedelta(milliseconds=600), quantum_s=1)
    assert window == (T0, T0 + timedelta(seconds=1))
    assert tick_window(T0, T0 + timedelta(milliseconds=400), quantum_s=1) is None
