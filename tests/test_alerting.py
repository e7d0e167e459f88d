"""The alert state machine (docs/design.md#alert-state-machine), pure: states and results
in, decisions out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpwatch.core.alerting import (
    Decision,
    alert_id_for,
    decide,
    degraded,
    degraded_alert,
    degraded_end_alert,
    held_down_alert,
    mark_sent,
    needs_recheck,
    with_latest_result,
)
from smtpwatch.core.result import (
    ErrorInfo,
    ErrorKind,
    Phase,
    ProbeResult,
    Status,
    WarningInfo,
    WarningKind,
)
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus
from smtpwatch.core.target import Target

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def target(**kw: Any) -> Target:
    fields: dict[str, Any] = {"target_id": "mx1", "host": "smtp.example.com"}
    fields.update(kw)
    return Target(**fields)


def ok(at: datetime = T0) -> ProbeResult:
    return ProbeResult(target_id="mx1", started_at=format_ts(at), status=Status.OK)


def warn(at: datetime = T0, *kinds: WarningKind, days: int = 9) -> ProbeResult:
    kinds = kinds or (WarningKind.CERT_EXPIRING,)
    return ProbeResult(
        target_id="mx1",
        started_at=format_ts(at),
        status=Status.WARNING,
        warnings=tuple(WarningInfo(k, f"{k.value}: {days} days left") for k in kinds),
    )


def fail(at: datetime = T0, kind: ErrorKind = ErrorKind.STARTTLS) -> ProbeResult:
    return ProbeResult(
        target_id="mx1",
        started_at=format_ts(at),
        status=Status.CRITICAL,
        error=ErrorInfo(kind, Phase.STARTTLS, "TLS not available", smtp_code=454),
    )


def crashed(at: datetime = T0) -> ProbeResult:
    return ProbeResult(
        target_id="mx1",
        started_at=format_ts(at),
        status=Status.UNKNOWN,
        error=ErrorInfo(ErrorKind.INTERNAL, None, "probe crashed: RuntimeError"),
    )


@dataclass
class Run:
    """Drives the state machine through checks, delivering every alert at once
    (or not, with ``deliver=False``), as the check service does."""

    tgt: Target
    state: TargetState = field(default_factory=lambda: TargetState("mx1"))
    at: datetime = T0
    alerts: list[AlertEvent] = field(default_factory=list)
    last: Decision | None = None

    def check(
        self,
        result_fn: Any,
        *,
        maintenance: bool = False,
        hold_down: bool = False,
        deliver: bool = True,
        step: timedelta = timedelta(minutes=5),
    ) -> Decision:
        self.at += step
        result = result_fn(self.at)
        d = decide(
            self.tgt,
            self.state,
            result,
            now=self.at,
            scheduled_at=format_ts(self.at),
            in_maintenance=maintenance,
            hold_down=hold_down,
        )
        self.state = d.state
        if d.alert is not None:
            self.alerts.append(d.alert.event)
            if deliver:
                sent = mark_sent(self.state, d.alert.alert_id, sent_at=self.at)
                assert sent is not None
                self.state = sent
        self.last = d
        return d


# ---- confirmed status and the down alert -------------------------------------------


def test_first_success_of_a_new_target_makes_it_up_without_alert() -> None:
    run = Run(target())
    d = run.check(ok)
    assert d.state.status is TargetStatus.UP
    assert d.alert is None
    assert d.write  # pending -> up is a change


def test_first_failure_with_threshold_one_is_a_down_alert() -> None:
    run = Run(target())
    d = run.check(fail)
    assert d.state.status is TargetStatus.DOWN
    assert d.alert is not None and d.alert.event is AlertEvent.DOWN
    assert d.alert.status == "down"
    assert d.alert.result is not None and d.alert.result["error"]["smtp_code"] == 454


@pytest.mark.parametrize("threshold", [1, 2, 3, 5])
def test_down_alert_after_exactly_failures_before_alert_consecutive_failures(
    threshold: int,
) -> None:
    run = Run(target(failures_before_alert=threshold))
    run.check(ok)
    for n in range(1, threshold):
        d = run.check(fail)
        assert d.alert is None, f"alert after {n} of {threshold} failures"
        assert d.state.status is TargetStatus.UP
        assert d.state.consecutive_failures == n
    d = run.check(fail)
    assert d.alert is not None and d.alert.event is AlertEvent.DOWN
    assert d.alert.details["failures"] == threshold
    assert run.alerts == [AlertEvent.DOWN]


def test_a_success_between_failures_resets_the_count() -> None:
    run = Run(target(failures_before_alert=2))
    run.check(ok)
    run.check(fail)
    d = run.check(ok)
    assert d.state.consecutive_failures == 0 and d.state.failing_since is None
    run.check(fail)
    assert run.alerts == []


def test_down_episode_starts_at_its_first_failure() -> None:
    run = Run(target(failures_before_alert=3))
    run.check(ok)
    first = run.check(fail).state.failing_since
    run.check(fail)
    d = run.check(fail)
    assert d.state.last_change_at == first
    assert d.alert is not None and d.alert.since == first


def test_still_down_sends_nothing_and_writes_nothing() -> None:
    run = Run(target())
    run.check(fail)
    d = run.check(fail)
    assert d.alert is None
    assert not d.write  # a steady outage costs no state write per check
    assert d.state.status is TargetStatus.DOWN


def test_first_success_after_a_sent_down_alert_is_one_recovered_alert() -> None:
    run = Run(target())
    run.check(fail)
    since = run.state.last_change_at
    d = run.check(ok)
    assert d.alert is not None and d.alert.event is AlertEvent.RECOVERED
    assert d.alert.status == "up"
    assert d.alert.since == since
    assert d.alert.details["down_for_s"] == 300
    run.check(ok)
    assert run.alerts == [AlertEvent.DOWN, AlertEvent.RECOVERED]


def test_no_recovered_alert_when_notify_recovery_is_off() -> None:
    run = Run(target(notify_recovery=False))
    run.check(fail)
    d = run.check(ok)
    assert d.alert is None and d.state.status is TargetStatus.UP and not d.state.alerted
    assert run.alerts == [AlertEvent.DOWN]


def test_no_recovered_alert_after_failures_that_never_reached_the_threshold() -> None:
    run = Run(target(failures_before_alert=3))
    run.check(ok)
    run.check(fail)
    run.check(fail)
    assert run.check(ok).alert is None
    assert run.alerts == []


# ---- unknown -----------------------------------------------------------------------


@pytest.mark.parametrize("before", ["pending", "up", "down", "counting"])
def test_a_crashed_probe_changes_nothing_but_the_last_result(before: str) -> None:
    run = Run(target(failures_before_alert=3))
    if before == "up":
        run.check(ok)
    elif before == "down":
        run.check(fail)
        run.check(fail)
        run.check(fail)
    elif before == "counting":
        run.check(ok)
        run.check(fail)
    prior = run.state
    d = run.check(crashed)
    assert d.alert is None and not d.write
    assert d.state.evolve(last_result=None, last_checked_at=None, last_scheduled_at=None) == (
        prior.evolve(last_result=None, last_checked_at=None, last_scheduled_at=None)
    )
    assert d.state.last_result is not None and d.state.last_result["status"] == "unknown"
    assert d.state.last_checked_at == format_ts(run.at)


# ---- re-check ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "failures", "status", "recheck_s", "result", "expected"),
    [
        (1, 0, TargetStatus.UP, 10, "fail", True),  # would cross: re-check
        (1, 0, TargetStatus.PENDING, 10, "fail", True),  # new target, threshold 1
        (3, 1, TargetStatus.UP, 10, "fail", False),  # 2 of 3: not yet
        (3, 2, TargetStatus.UP, 10, "fail", True),  # 3 of 3
        (1, 0, TargetStatus.UP, 0, "fail", False),  # recheck_delay_s 0 = off
        (1, 1, TargetStatus.DOWN, 10, "fail", False),  # already down
        (1, 0, TargetStatus.UP, 10, "ok", False),
        (1, 0, TargetStatus.UP, 10, "crashed", False),  # unknown is no failure
        (1, 0, TargetStatus.UP, 10, "config", False),  # cannot pass a moment later
    ],
)
def test_needs_recheck_only_for_the_failure_that_would_cross_the_threshold(
    threshold: int,
    failures: int,
    status: TargetStatus,
    recheck_s: int,
    result: str,
    expected: bool,
) -> None:
    results = {
        "fail": fail(),
        "ok": ok(),
        "crashed": crashed(),
        "config": fail(kind=ErrorKind.CONFIG),
    }
    tgt = target(failures_before_alert=threshold, recheck_delay_s=recheck_s)
    state = TargetState("mx1", status=status, consecutive_failures=failures)
    assert needs_recheck(tgt, state, results[result]) is expected


def test_a_passing_recheck_result_resets_the_count() -> None:
    # The service decides on the re-check's result: a pass means no failure at all.
    run = Run(target(failures_before_alert=2))
    run.check(ok)
    run.check(fail)
    d = run.check(ok)  # the re-check of the 2nd failure passed
    assert d.state.consecutive_failures == 0 and d.alert is None


# ---- reminders ---------------------------------------------------------------------


def test_reminder_every_remind_every_s_while_down() -> None:
    run = Run(target(remind_every_s=3600))
    run.check(fail)
    events = [run.check(fail, step=timedelta(minutes=10)).alert for _ in range(12)]
    reminders = [e for e in events if e is not None]
    assert [a.event for a in reminders] == [AlertEvent.REMINDER, AlertEvent.REMINDER]
    assert events.index(reminders[0]) == 5  # 60 min after the down alert
    assert reminders[0].details["down_for_s"] == 3600
    assert reminders[0].alert_id != reminders[1].alert_id


def test_reminders_tolerate_a_check_a_few_seconds_early() -> None:
    # The down alert went out 15 s after its slot (probe + re-check); the check one
    # hour later starts on its slot: the reminder must not slip a whole interval.
    run = Run(target(remind_every_s=3600))
    run.check(fail)
    run.state = run.state.evolve(last_alert_at=format_ts(run.at + timedelta(seconds=15)))
    d = run.check(fail, step=timedelta(minutes=60))
    assert d.alert is not None and d.alert.event is AlertEvent.REMINDER


def test_reminders_of_a_one_minute_target_are_not_an_interval_early() -> None:
    run = Run(target(interval_s=60, remind_every_s=3600))
    run.check(fail, step=timedelta(minutes=1))
    events = [run.check(fail, step=timedelta(minutes=1)).alert for _ in range(120)]
    assert [i + 1 for i, a in enumerate(events) if a is not None] == [60, 120]


def test_no_reminders_when_remind_every_s_is_zero() -> None:
    run = Run(target(remind_every_s=0))
    run.check(fail)
    for _ in range(30):
        run.check(fail, step=timedelta(hours=1))
    assert run.alerts == [AlertEvent.DOWN]


def test_no_reminder_while_the_down_alert_is_still_unsent() -> None:
    run = Run(target(remind_every_s=600))
    run.check(fail, deliver=False)
    d = run.check(fail, step=timedelta(hours=1))
    assert d.alert is None
    assert d.state.pending_alert is not None
    assert d.state.pending_alert["event"] == "down"


# ---- warnings ----------------------------------------------------------------------


def test_entering_a_warning_is_one_warning_alert_and_days_counting_down_are_not() -> None:
    run = Run(target())
    run.check(ok)
    d = run.check(lambda at: warn(at, days=9))
    assert d.alert is not None and d.alert.event is AlertEvent.WARNING
    assert d.alert.status == "warning"
    assert d.alert.details["warnings"] == ["cert_expiring"]
    for days in (8, 7, 6):
        d = run.check(lambda at, days=days: warn(at, days=days))
        assert d.alert is None and not d.write
    assert run.alerts == [AlertEvent.WARNING]


def test_new_target_with_a_warning_alerts_at_once() -> None:
    run = Run(target())
    d = run.check(warn)
    assert d.state.status is TargetStatus.WARNING
    assert d.alert is not None and d.alert.event is AlertEvent.WARNING


def test_a_change_of_warning_kinds_is_a_new_warning_alert() -> None:
    run = Run(target())
    run.check(lambda at: warn(at, WarningKind.CERT_EXPIRING))
    d = run.check(lambda at: warn(at, WarningKind.CERT_EXPIRING, WarningKind.SLOW))
    assert d.alert is not None and d.alert.event is AlertEvent.WARNING
    assert d.alert.details["warnings"] == ["cert_expiring", "slow"]
    d = run.check(lambda at: warn(at, WarningKind.SLOW))
    assert d.alert is not None and d.alert.details["warnings"] == ["slow"]
    assert run.alerts == [AlertEvent.WARNING] * 3


def test_warning_cleared_is_a_recovered_alert() -> None:
    run = Run(target())
    run.check(ok)
    run.check(warn)
    d = run.check(ok)
    assert d.alert is not None and d.alert.event is AlertEvent.RECOVERED
    assert d.alert.details["was"] == "warning"
    assert not run.state.alerted and run.state.warning_kinds == ()


def test_down_then_passing_with_a_warning_is_one_recovered_alert_with_status_warning() -> None:
    run = Run(target())
    run.check(fail)
    d = run.check(warn)
    assert d.alert is not None and d.alert.event is AlertEvent.RECOVERED
    assert d.alert.status == "warning"
    assert d.alert.details["warnings"] == ["cert_expiring"]
    assert run.check(warn).alert is None  # the recovery already told of the warning
    d = run.check(ok)
    assert d.alert is not None and d.alert.event is AlertEvent.RECOVERED
    assert run.alerts == [AlertEvent.DOWN, AlertEvent.RECOVERED, AlertEvent.RECOVERED]


def test_down_then_warning_without_notify_recovery_announces_the_warning() -> None:
    run = Run(target(notify_recovery=False))
    run.check(fail)
    d = run.check(warn)
    assert d.alert is not None and d.alert.event is AlertEvent.WARNING


def test_warning_then_failure_is_a_down_alert() -> None:
    run = Run(target())
    run.check(warn)
    d = run.check(fail)
    assert d.alert is not None and d.alert.event is AlertEvent.DOWN
    assert run.state.warning_kinds == ()  # once sent, operators know it is down


def test_warning_then_failures_below_threshold_keep_warning_status() -> None:
    run = Run(target(failures_before_alert=2))
    run.check(warn)
    d = run.check(fail)
    assert d.state.status is TargetStatus.WARNING and d.alert is None


# ---- maintenance -------------------------------------------------------------------


def test_maintenance_holds_the_down_alert_and_releases_it_when_still_down() -> None:
    run = Run(target())
    run.check(ok)
    d = run.check(fail, maintenance=True)
    assert d.state.status is TargetStatus.DOWN and d.alert is None
    assert run.check(fail, maintenance=True).alert is None
    d = run.check(fail)  # window over, still down
    assert d.alert is not None and d.alert.event is AlertEvent.DOWN
    assert d.alert.details["held"] is True
    assert d.alert.since == run.state.last_change_at
    assert run.alerts == [AlertEvent.DOWN]


def test_down_and_up_inside_maintenance_is_silent() -> None:
    run = Run(target())
    run.check(ok)
    run.check(fail, maintenance=True)
    run.check(ok, maintenance=True)
    run.check(ok)
    assert run.alerts == []


def test_recovery_inside_maintenance_after_a_sent_down_alert_is_announced_after_it() -> None:
    run = Run(target())
    run.check(fail)
    assert run.check(ok, maintenance=True).alert is None
    d = run.check(ok)
    assert d.alert is not None and d.alert.event is AlertEvent.RECOVERED
    assert run.alerts == [AlertEvent.DOWN, AlertEvent.RECOVERED]


def test_no_reminders_in_maintenance() -> None:
    run = Run(target(remind_every_s=600))
    run.check(fail)
    for _ in range(5):
        assert run.check(fail, maintenance=True, step=timedelta(hours=1)).alert is None
    d = run.check(fail)
    assert d.alert is not None and d.alert.event is AlertEvent.REMINDER


def test_warning_held_in_maintenance_is_sent_after_it() -> None:
    run = Run(target())
    run.check(ok)
    assert run.check(warn, maintenance=True).alert is None
    d = run.check(warn)
    assert d.alert is not None and d.alert.event is AlertEvent.WARNING


# ---- monitor degraded gate -----------------------------------------------------------


def test_hold_down_holds_a_new_down_alert_until_a_check_without_it() -> None:
    run = Run(target())
    run.check(ok)
    d = run.check(fail, hold_down=True)
    assert d.alert is None and d.state.status is TargetStatus.DOWN
    d = run.check(fail)
    assert d.alert is not None and d.alert.event is AlertEvent.DOWN


def test_hold_down_then_recovery_is_silent() -> None:
    run = Run(target())
    run.check(ok)
    run.check(fail, hold_down=True)
    assert run.check(ok).alert is None


@pytest.mark.parametrize(
    ("failed", "total", "expected"),
    [
        (0, 0, False),
        (4, 4, False),  # under the minimum count: a real outage of a few targets
        (5, 5, True),
        (5, 10, False),  # exactly half is not more than half
        (6, 10, True),
        (50, 100, False),
        (51, 100, True),
        (600, 10_000, False),
    ],
)
def test_degraded_when_more_than_half_and_at_least_five_fail(
    failed: int, total: int, expected: bool
) -> None:
    assert degraded(failed, total) is expected


def test_degraded_policy_share_and_min_count_are_settable() -> None:
    assert degraded(3, 10, share=0.25, min_count=3)
    assert not degraded(2, 4, share=0.25, min_count=3)


def test_degraded_alert_has_one_stable_id_per_tick() -> None:
    a = degraded_alert(tick="2026-11-25T12:00:00Z", failed=8, total=10, now=T0, sample=["a"])
    b = degraded_alert(tick="2026-11-25T12:00:00Z", failed=9, total=10, now=T0)
    c = degraded_alert(tick="2026-11-25T12:01:00Z", failed=8, total=10, now=T0)
    assert a.alert_id == b.alert_id != c.alert_id
    assert a.event is AlertEvent.DEGRADED and a.details["failed"] == 8


# ---- delivery bookkeeping ----------------------------------------------------------


def test_the_alert_is_recorded_as_pending_in_the_decided_state() -> None:
    d = decide(target(), TargetState("mx1"), fail(), now=T0, scheduled_at=format_ts(T0))
    assert d.alert is not None
    assert d.state.pending_alert == d.alert.to_dict()
    assert d.write


def test_mark_sent_clears_the_pending_alert_and_remembers_when() -> None:
    d = decide(target(), TargetState("mx1"), fail(), now=T0, scheduled_at=format_ts(T0))
    assert d.alert is not None
    sent = mark_sent(d.state, d.alert.alert_id, sent_at=T0 + timedelta(seconds=3))
    assert sent is not None
    assert sent.pending_alert is None
    assert sent.last_alert_at == "2026-11-25T12:00:03Z"
    assert sent.last_alert_event == "down"
    assert mark_sent(sent, d.alert.alert_id, sent_at=T0) is None  # already sent


def test_alert_id_is_the_same_for_the_same_run_and_differs_between_runs() -> None:
    def alert_id(at: datetime) -> str:
        d = decide(target(), TargetState("mx1"), fail(at), now=at, scheduled_at=format_ts(at))
        assert d.alert is not None
        return d.alert.alert_id

    # Fixed vectors: the first 32 hex digits of SHA-256 of "target_id NUL event NUL
    # scheduled_at", worked out with `printf '%s\0%s\0%s' mx1 down ... | sha256sum`. Receivers
    # dedupe on this id, so it must not change between runs, processes or releases.
    assert alert_id(T0) == "ee0776f6955e27b86c7e537ab1d81a04"
    assert alert_id(T0) == alert_id(T0)
    assert alert_id(T0 + timedelta(minutes=5)) == "0f5f097c76dde260a08777f5c9937457"
    assert alert_id_for("mx1", AlertEvent.DOWN, "2026-11-25T12:00:00Z") == alert_id(T0)


def test_a_newer_alert_replaces_an_unsent_one() -> None:
    run = Run(target())
    run.check(warn, deliver=False)
    d = run.check(fail)
    assert d.alert is not None and d.alert.event is AlertEvent.DOWN
    assert run.alerts == [AlertEvent.WARNING, AlertEvent.DOWN]


def test_recovery_while_the_down_alert_is_unsent_cancels_it_and_alerts_nothing() -> None:
    run = Run(target())
    run.check(fail, deliver=False)
    d = run.check(ok)
    assert d.alert is None
    assert d.state.pending_alert is None and not d.state.alerted
    assert d.write


def test_recovery_while_a_reminder_is_unsent_is_announced() -> None:
    run = Run(target(remind_every_s=600))
    run.check(fail)
    d = run.check(fail, step=timedelta(minutes=10), deliver=False)
    assert d.alert is not None and d.alert.event is AlertEvent.REMINDER
    d = run.check(ok)
    assert d.alert is not None and d.alert.event is AlertEvent.RECOVERED


def test_a_healthy_unchanged_check_needs_no_state_write() -> None:
    run = Run(target())
    run.check(ok)
    for _ in range(3):
        d = run.check(ok)
        assert not d.write and d.alert is None
    # ...but the state in memory carries the latest result for whoever writes it next.
    assert d.state.last_checked_at == format_ts(run.at)


def test_with_latest_result_takes_the_newer_result() -> None:
    state = TargetState("mx1", status=TargetStatus.UP, last_checked_at="2026-11-25T12:00:00Z")
    newer = ok(T0 + timedelta(minutes=5))
    merged = with_latest_result(state, newer)
    assert merged.last_checked_at == "2026-11-25T12:05:00Z"
    assert merged.last_result == newer.to_dict()
    assert with_latest_result(merged, ok(T0)) == merged  # older: ignored
    assert with_latest_result(state, None) == state


def test_an_unconfirmed_failure_after_a_recovery_held_in_maintenance_announces_nothing() -> None:
    run = Run(target(failures_before_alert=2))
    run.check(fail)
    run.check(fail)  # down alert sent
    run.check(ok, maintenance=True)  # recovered inside the window: held
    assert run.check(fail).alert is None  # failing again, 1 of 2: no "recovered"
    d = run.check(ok)
    assert d.alert is not None and d.alert.event is AlertEvent.RECOVERED


# ---- property: announcements converge on the truth -------------------------------------

_RESULTS = {
    "ok": ok,
    "fail": fail,
    "crash": crashed,
    "warn_a": lambda at: warn(at, WarningKind.CERT_EXPIRING),
    "warn_b": lambda at: warn(at, WarningKind.SLOW),
}
_step = st.tuples(
    st.sampled_from(sorted(_RESULTS)),
    st.booleans(),  # in maintenance
    st.booleans(),  # sinks deliver
    st.booleans(),  # monitor degraded (hold_down)
)


@given(
    steps=st.lists(_step, max_size=25),
    final=st.sampled_from(["ok", "fail", "warn_a"]),
    threshold=st.integers(min_value=1, max_value=3),
    remind=st.sampled_from([0, 900]),
)
@settings(max_examples=400, deadline=None)
def test_whatever_happens_the_sent_alerts_tell_a_consistent_story(
    steps: list[tuple[str, bool, bool, bool]], final: str, threshold: int, remind: int
) -> None:
    tgt = target(failures_before_alert=threshold, remind_every_s=remind)
    state = TargetState("mx1")
    at = T0
    sent: list[Alert] = []

    def check(kind: str, maintenance: bool, delivers: bool, hold: bool) -> None:
        nonlocal state, at
        at += timedelta(minutes=5)
        if state.pending_alert and delivers:  # the run first flushes what is pending
            pending = Alert.from_dict(state.pending_alert)
            marked = mark_sent(state, pending.alert_id, sent_at=at)
            assert marked is not None
            state, _ = marked, sent.append(pending)
        d = decide(
            tgt,
            state,
            _RESULTS[kind](at),
            now=at,
            scheduled_at=format_ts(at),
            in_maintenance=maintenance,
            hold_down=hold,
        )
        state = d.state
        if d.alert is not None and delivers:
            marked = mark_sent(state, d.alert.alert_id, sent_at=at)
            assert marked is not None
            state = marked
            sent.append(d.alert)

    for step in steps:
        check(*step)
    for _ in range(threshold + 1):  # then the world settles, alerts flow
        check(final, False, True, False)

    # Story: a recovery or reminder follows a sent problem alert; no problem is
    # announced twice in a row; ids are unique.
    told: str | None = None  # "down" / "warning" / None (nothing outstanding)
    for alert in sent:
        event = alert.event
        if event is AlertEvent.DOWN:
            assert told != "down", [a.event.value for a in sent]
            told = "down"
        elif event is AlertEvent.REMINDER:
            assert told == "down"
        elif event is AlertEvent.RECOVERED:
            assert told is not None, [a.event.value for a in sent]
            told = "warning" if alert.status == "warning" else None
        elif event is AlertEvent.WARNING:
            told = "warning"
    assert len({a.alert_id for a in sent}) == len(sent)
    # ...and it ends where the target is.
    expected = {"ok": None, "fail": "down", "warn_a": "warning"}[final]
    assert told == expected, [a.event.value for a in sent]
    assert state.pending_alert is None


def test_a_held_down_alert_released_later_keeps_the_id_the_held_check_would_have_sent() -> None:
    # GIVEN a down alert held by a monitor-degraded episode
    run = Run(target())
    run.check(ok)
    held = run.check(fail, hold_down=True)
    would_have = decide(
        run.tgt, run.state, fail(run.at), now=run.at, scheduled_at=format_ts(run.at)
    )
    # WHEN it is released at the episode's end
    alert = held_down_alert(
        run.tgt,
        held.state,
        now=run.at + timedelta(minutes=3),
        episode_since="2026-11-25T12:04:00Z",
        held_since=format_ts(run.at),
    )
    # THEN a receiver's dedupe sees one alert, and it says it was held and since when
    assert would_have.alert is not None and alert.alert_id == would_have.alert.alert_id
    assert alert.event is AlertEvent.DOWN and alert.since == held.state.last_change_at
    assert alert.details["held"] is True
    assert alert.details["episode_since"] == "2026-11-25T12:04:00Z"
    assert alert.details["held_since"] == format_ts(run.at)
    # AND once sent, operators are told "down": the state machine says nothing more
    sent = mark_sent(
        held.state.evolve(pending_alert=alert.to_dict()), alert.alert_id, sent_at=run.at
    )
    assert sent is not None and sent.alerted
    run.state = sent
    assert run.check(fail).alert is None


def test_the_end_of_episode_alert_lists_the_held_targets_bounded() -> None:
    held = [
        {"target_id": f"t{i}", "name": f"t{i}", "held_since": "x", "still_down": i % 2 == 0}
        for i in range(60)
    ]
    alert = degraded_end_alert(since="2026-11-25T12:00:00Z", now=T0, held=held)
    assert alert.event is AlertEvent.DEGRADED and alert.status == "ended"
    assert alert.details["held_count"] == 60 and len(alert.details["held"]) == 50
    assert alert.details["still_down"] == 30
    other = degraded_alert(tick="2026-11-25T12:00:00Z", failed=8, total=10, now=T0)
    assert alert.alert_id != other.alert_id
