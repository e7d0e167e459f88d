"""What the alerts and the state say, field by field: who and when an alert is about,
its details, the times the state records, what operators are believed to know after a
test or degraded alert, and a pending alert that still tells the truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from smtpwatch.core.alerting import decide, mark_sent, needs_recheck
from smtpwatch.core.kinds import ErrorKind, Phase, Status, WarningKind
from smtpwatch.core.result import ErrorInfo, ProbeResult, WarningInfo
from smtpwatch.core.state import AlertEvent, TargetState, TargetStatus
from smtpwatch.core.target import Target

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
T0_TEXT = "2026-11-25T12:00:00Z"


def target(**kw: Any) -> Target:
    fields: dict[str, Any] = {"target_id": "mx1", "host": "smtp.example.com", "name": "Main MX"}
    fields.update(kw)
    return Target(**fields)


def ok(started_at: str = T0_TEXT) -> ProbeResult:
    return ProbeResult(target_id="mx1", started_at=started_at, status=Status.OK)


def warn(started_at: str = T0_TEXT) -> ProbeResult:
    return ProbeResult(
        target_id="mx1",
        started_at=started_at,
        status=Status.WARNING,
        warnings=(WarningInfo(WarningKind.CERT_EXPIRING, "certificate expires in 9 days"),),
    )


def fail(started_at: str = T0_TEXT) -> ProbeResult:
    return ProbeResult(
        target_id="mx1",
        started_at=started_at,
        status=Status.CRITICAL,
        error=ErrorInfo(ErrorKind.STARTTLS, Phase.STARTTLS, "TLS not available", smtp_code=454),
    )


def down_state(**kw: Any) -> TargetState:
    fields: dict[str, Any] = {
        "status": TargetStatus.DOWN,
        "consecutive_failures": 3,
        "failing_since": "2026-11-25T10:00:00Z",
        "last_change_at": "2026-11-25T10:00:00Z",
        "alerted": True,
        "version": 4,
    }
    fields.update(kw)
    return TargetState("mx1", **fields)


def test_a_down_alert_names_its_target_time_and_threshold() -> None:
    tgt = target(failures_before_alert=2, tags={"team": "mail"})
    state = TargetState("mx1", consecutive_failures=1, failing_since="2026-11-25T11:55:00Z")
    d = decide(tgt, state, fail(), now=T0 + timedelta(seconds=7), scheduled_at=T0_TEXT)
    alert = d.alert
    assert alert is not None and alert.event is AlertEvent.DOWN
    assert alert.target_id == "mx1"
    assert alert.created_at == "2026-11-25T12:00:07Z"
    assert alert.target is not None and alert.target["tags"] == {"team": "mail"}
    assert alert.target["host"] == "smtp.example.com"
    assert alert.since == "2026-11-25T11:55:00Z"  # the first failure, not the confirmation
    assert alert.details == {"failures": 2, "threshold": 2, "held": False}


def test_a_reminder_says_since_when_and_how_many_failures() -> None:
    tgt = target(remind_every_s=3600)
    state = down_state(last_alert_at="2026-11-25T10:30:00Z", last_alert_event="down")
    d = decide(tgt, state, fail(), now=T0, scheduled_at=T0_TEXT)
    alert = d.alert
    assert alert is not None and alert.event is AlertEvent.REMINDER
    assert alert.since == "2026-11-25T10:00:00Z"
    assert alert.details["failures"] == 3
    assert alert.details["down_for_s"] == 7200


def test_a_warning_alert_says_since_when() -> None:
    d = decide(target(), TargetState("mx1"), warn(), now=T0, scheduled_at=T0_TEXT)
    assert d.alert is not None and d.alert.event is AlertEvent.WARNING
    assert d.state.last_change_at == T0_TEXT
    assert d.alert.since == T0_TEXT
    assert d.alert.details == {"warnings": ["cert_expiring"]}


def test_a_recovery_to_up_carries_no_warning_list() -> None:
    d = decide(target(), down_state(), ok(), now=T0, scheduled_at=T0_TEXT)
    assert d.alert is not None and d.alert.event is AlertEvent.RECOVERED
    assert "warnings" not in d.alert.details
    assert d.alert.details["was"] == "down"


def test_a_recovery_records_when_the_status_changed() -> None:
    # GIVEN a target down since 10:00 WHEN a check started at 12:00 passes
    d = decide(target(), down_state(), ok(), now=T0 + timedelta(minutes=1), scheduled_at=T0_TEXT)
    # THEN the change happened at the passing check's start, and nothing fails any more
    assert d.state.status is TargetStatus.UP
    assert d.state.last_change_at == T0_TEXT
    assert d.state.failing_since is None


def test_the_check_time_is_the_results_start_not_the_decision_time() -> None:
    later = T0 + timedelta(seconds=42)
    d = decide(target(), TargetState("mx1"), ok(), now=later, scheduled_at=T0_TEXT)
    assert d.state.last_checked_at == T0_TEXT


def test_a_quiet_recovery_forgets_the_told_warnings() -> None:
    state = TargetState(
        "mx1",
        status=TargetStatus.WARNING,
        last_change_at="2026-11-25T10:00:00Z",
        alerted=True,
        warning_kinds=("cert_expiring",),
        version=2,
    )
    d = decide(target(notify_recovery=False), state, ok(), now=T0, scheduled_at=T0_TEXT)
    assert d.alert is None
    assert (d.state.alerted, d.state.warning_kinds) == (False, ())


def test_a_sent_test_alert_leaves_what_operators_know_unchanged() -> None:
    # GIVEN operators were told of a warning, and a test alert is pending
    test_alert = {"alert_id": "t-1", "event": AlertEvent.TEST.value, "target_id": "mx1"}
    state = TargetState(
        "mx1",
        status=TargetStatus.WARNING,
        alerted=True,
        warning_kinds=("cert_expiring",),
        pending_alert=test_alert,
    )
    # WHEN the test alert is published
    sent = mark_sent(state, "t-1", sent_at=T0)
    # THEN it is recorded as sent, and operators still know of the warning
    assert sent is not None and sent.pending_alert is None
    assert (sent.last_alert_at, sent.last_alert_event) == (T0_TEXT, "test")
    assert (sent.alerted, sent.warning_kinds) == (True, ("cert_expiring",))


def test_a_sent_degraded_alert_leaves_a_told_outage_told() -> None:
    degraded = {"alert_id": "d-1", "event": AlertEvent.DEGRADED.value, "target_id": "#monitor"}
    sent = mark_sent(down_state(pending_alert=degraded), "d-1", sent_at=T0)
    assert sent is not None and (sent.alerted, sent.warning_kinds) == (True, ())


def test_a_pending_warning_alert_that_still_tells_the_truth_is_kept() -> None:
    # GIVEN a warning alert decided by an earlier check but not yet published
    first = decide(target(), TargetState("mx1"), warn(), now=T0, scheduled_at=T0_TEXT)
    assert first.alert is not None
    later = "2026-11-25T12:05:00Z"
    # WHEN the next check sees the same warning
    d = decide(
        target(), first.state, warn(later), now=T0 + timedelta(minutes=5), scheduled_at=later
    )
    # THEN no new alert: the pending one is kept as it is
    assert d.alert is None
    assert d.state.pending_alert == first.state.pending_alert


def test_a_recheck_delay_of_one_second_is_honoured() -> None:
    tgt = target(recheck_delay_s=1)
    assert needs_recheck(tgt, TargetState("mx1"), fail())
    assert not needs_recheck(target(recheck_delay_s=0), TargetState("mx1"), fail())
