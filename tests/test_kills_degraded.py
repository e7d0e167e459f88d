"""The monitor-degraded alerts as receivers get them, field by field: the episode's start,
its end, and a down alert the episode held. Expected documents are written out here;
alert ids come from a reference implementation of the documented dedupe key (sha256 of
target id, event and key), so a receiver's dedupe across versions holds.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from smtpwatch.core import alert_text
from smtpwatch.core.alerting import (
    degraded,
    degraded_alert,
    degraded_end_alert,
    held_down_alert,
)
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.core.target import Target

NOW = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)
TICK = "2026-11-25T12:00:00Z"
MONITOR = {"target_id": "#monitor", "name": "smtpwatch monitor", "tags": {}}


def reference_id(target_id: str, event: str, key: str) -> str:
    return hashlib.sha256(f"{target_id}\x00{event}\x00{key}".encode()).hexdigest()[:32]


@pytest.mark.parametrize(
    ("failed", "total", "min_count", "expected"),
    [
        (5, 0, 5, False),  # nothing counted as dispatched: no share to exceed
        (1, 1, 1, True),  # the floor set to one: a single target checked and failing
        (1, 1, 0, True),  # a floor of 0 still needs one failure...
        (0, 1, 0, False),  # ...none failing is never degraded
        (2, 3, 2, True),
    ],
)
def test_degraded_at_the_edges_of_the_settable_floor(
    failed: int, total: int, min_count: int, expected: bool
) -> None:
    assert degraded(failed, total, min_count=min_count) is expected


def test_the_start_alert_is_the_documented_document() -> None:
    sample = [f"t{i:02}" for i in range(12)]
    alert = degraded_alert(
        tick=TICK, failed=8, total=10, now=NOW, sample=sample, kinds={"connect_timeout": 8}
    )
    assert alert.to_dict() == {
        "alert_id": reference_id("#monitor", "degraded", TICK),
        "event": "degraded",
        "target_id": "#monitor",
        "status": "degraded",
        "created_at": "2026-11-25T12:00:30Z",
        "target": MONITOR,
        "result": None,
        "since": TICK,
        "details": {
            "failed": 8,
            "total": 10,
            "sample": sample[:10],  # at most ten named
            "kinds": {"connect_timeout": 8},
            "counted": "targets",
        },
    }
    # the id receivers have deduplicated on so far (a fixed vector)
    assert alert.alert_id == "207f783dc017aa639cccc07094b1f592"
    assert "degraded" in alert_text.text(alert).lower()


def test_the_end_alert_is_the_documented_document() -> None:
    held = [
        {"target_id": "a", "name": "A", "held_since": TICK, "still_down": True},
        {"target_id": "b", "name": "B", "held_since": TICK, "still_down": False},
    ]
    alert = degraded_end_alert(since=TICK, now=NOW, held=held)
    assert alert.to_dict() == {
        "alert_id": reference_id("#monitor", "degraded", f"end\x00{TICK}"),
        "event": "degraded",
        "target_id": "#monitor",
        "status": "ended",
        "created_at": "2026-11-25T12:00:30Z",
        "target": MONITOR,
        "result": None,
        "since": TICK,
        "details": {
            "episode": "ended",
            "ended_at": "2026-11-25T12:00:30Z",
            "held_count": 2,
            "held": held,
            "still_down": 1,
        },
    }


def _held_target() -> Target:
    return Target(
        target_id="mx1",
        host="mx1.example.com",
        name="Main MX",
        encryption="implicit",
        failures_before_alert=3,
        tags={"team": "mail"},
    )


def _held_state(last_scheduled_at: str | None) -> TargetState:
    return TargetState(
        "mx1",
        status=TargetStatus.DOWN,
        consecutive_failures=3,
        failing_since="2026-11-25T11:58:00Z",
        last_result={"target_id": "mx1", "status": "critical"},
        last_change_at="2026-11-25T12:00:05Z",
        last_scheduled_at=last_scheduled_at,
    )


def test_a_held_down_alert_is_the_documented_document_keyed_by_the_held_check() -> None:
    # the check ran for the slot 12:00:00 and was held at 12:00:05: the id is the slot's,
    # the one the check itself would have sent
    alert = held_down_alert(
        _held_target(),
        _held_state("2026-11-25T12:00:00Z"),
        now=NOW,
        episode_since="2026-11-25T11:59:00Z",
        held_since="2026-11-25T12:00:05Z",
    )
    assert alert.to_dict() == {
        "alert_id": reference_id("mx1", "down", "2026-11-25T12:00:00Z"),
        "event": "down",
        "target_id": "mx1",
        "status": "down",
        "created_at": "2026-11-25T12:00:30Z",
        "target": {
            "target_id": "mx1",
            "name": "Main MX",
            "host": "mx1.example.com",
            "port": 465,
            "encryption": "implicit",
            "tags": {"team": "mail"},
        },
        "result": {"target_id": "mx1", "status": "critical"},
        "since": "2026-11-25T12:00:05Z",
        "details": {
            "failures": 3,
            "threshold": 3,
            "held": True,
            "held_by": "monitor_degraded",
            "episode_since": "2026-11-25T11:59:00Z",
            "held_since": "2026-11-25T12:00:05Z",
        },
    }


def test_a_held_down_alert_without_a_recorded_slot_is_keyed_by_its_hold() -> None:
    alert = held_down_alert(
        _held_target(),
        _held_state(None),
        now=NOW,
        episode_since="2026-11-25T11:59:00Z",
        held_since="2026-11-25T12:00:05Z",
    )
    assert alert.alert_id == reference_id("mx1", "down", "2026-11-25T12:00:05Z")
