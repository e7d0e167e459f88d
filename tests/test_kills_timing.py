"""When a reminder of a told outage is due, at the edges of its slack, and which copy of
the last result readers see. Expected values are worked out here from the rule: a
reminder is due ``remind_every_s`` after the last sent alert, less a slack of the
smallest of 60 s, a tenth of the period and half the check interval.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smtpwatch.core.alerting.timing import reminder_due, with_latest_result
from smtpwatch.core.result import ProbeResult, Status
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.core.target import Target

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
LAST_ALERT = "2026-11-25T12:00:00Z"


def _told(**changes: object) -> TargetState:
    state = TargetState(
        "mx1",
        status=TargetStatus.DOWN,
        last_alert_at=LAST_ALERT,
        last_alert_event="down",
        alerted=True,
    )
    return state.evolve(**changes)


@pytest.mark.parametrize(
    ("every", "interval", "elapsed", "due"),
    [
        # slack 60 s (the cap): a day's period checked hourly
        (86_400, 3_600, 86_400 - 60, True),
        (86_400, 3_600, 86_400 - 61, False),
        (86_400, 3_600, 86_400 - 100, False),
        # slack 30 s (a tenth of 300 s), though the interval allows 60
        (300, 3_600, 270, True),
        (300, 3_600, 269, False),
        (300, 3_600, 255, False),
        # slack 30 s (half of a 60 s interval), though a tenth of the period is 360
        (3_600, 60, 3_570, True),
        (3_600, 60, 3_569, False),
        (3_600, 60, 3_575, True),
        # slack 30 s, reached exactly
        (600, 60, 570, True),
    ],
)
def test_a_reminder_is_due_after_its_period_less_the_slack(
    every: int, interval: int, elapsed: int, due: bool
) -> None:
    target = Target(
        target_id="mx1", host="mx1.example.com", interval_s=interval, remind_every_s=every
    )
    assert reminder_due(target, _told(), T0 + timedelta(seconds=elapsed)) is due


def test_no_reminder_while_an_alert_is_being_delivered() -> None:
    target = Target(target_id="mx1", host="mx1.example.com", interval_s=60, remind_every_s=300)
    later = T0 + timedelta(hours=5)
    assert reminder_due(target, _told(), later)
    assert not reminder_due(target, _told(pending_alert={"alert_id": "x"}), later)


def test_an_unreadable_last_alert_time_gives_a_reminder_rather_than_none() -> None:
    target = Target(target_id="mx1", host="mx1.example.com", interval_s=60, remind_every_s=300)
    assert reminder_due(target, _told(last_alert_at="not a time"), T0)


def test_a_stored_result_no_newer_than_the_states_copy_leaves_the_state_as_it_is() -> None:
    # the state item's copy of the check's result (bounded as states store it) and the
    # same check's result as the results table holds it: readers see the state's copy
    stored = ProbeResult(target_id="mx1", started_at="2026-11-25T12:00:00Z", status=Status.OK)
    state = TargetState(
        "mx1",
        status=TargetStatus.UP,
        last_result={"target_id": "mx1", "status": "ok", "kept": "state copy"},
        last_checked_at="2026-11-25T12:00:00Z",
    )
    assert with_latest_result(state, stored) is state
    newer = ProbeResult(target_id="mx1", started_at="2026-11-25T12:00:01Z", status=Status.OK)
    merged = with_latest_result(state, newer)
    assert merged.last_checked_at == "2026-11-25T12:00:01Z"
    assert merged.last_result == newer.to_dict()
