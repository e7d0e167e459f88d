"""What one check reports and logs: the outcome of every kind of skip, the write
count, the log lines an operator searches by target, what the gate is told, the
held-too-long rule's edges, and results stored with their dispatch."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smtpwatch.core.kinds import ErrorKind, Phase, Status
from smtpwatch.core.probe import ProbeEnvironment
from smtpwatch.core.result import ErrorInfo, ProbeResult
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus
from smtpwatch.core.target import Target
from smtpwatch.service.check import CheckDeps, CheckOutcome, default_probe_fn, run_check
from smtpwatch.service.gate import HOLD_GRACE, MAX_HOLD
from smtpwatch.service.memory import MemoryResultStore, MemorySink, MemoryStateStore
from smtpwatch.testing.servers import SmtpServer

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
T0_TEXT = "2026-11-25T12:00:00Z"
LOGGER = "smtpwatch.check"


def tgt(**kw: Any) -> Target:
    fields: dict[str, Any] = {"target_id": "mx1", "host": "mx1.example.com"}
    fields.update(kw)
    return Target(**fields)


def result(status: str, at: datetime = T0) -> ProbeResult:
    error = None
    if status == "critical":
        error = ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "connection refused")
    return ProbeResult(
        target_id="mx1", started_at=format_ts(at), status=Status(status), error=error
    )


class CountingResults(MemoryResultStore):
    """Remembers the ``scheduled_at`` each result was stored with."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str | None] = []

    def add_result(self, result: ProbeResult, *, scheduled_at: str | None = None) -> bool:
        self.keys.append(scheduled_at)
        return super().add_result(result, scheduled_at=scheduled_at)


class LosesEveryRace(MemoryStateStore):
    """Another writer always gets there first (the same state one version on)."""

    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    def save_state(self, state: TargetState) -> bool:
        self.saves += 1
        current = self.get_state(state.target_id) or TargetState(state.target_id)
        self.put(current.evolve(version=current.version + 1))
        return super().save_state(state)


class FailingSink(MemorySink):
    def send(self, alert: Alert) -> None:
        raise ConnectionError("sink down")


@dataclass
class RecordingGate:
    """A gate that records what it is told and holds every down alert."""

    hold: bool = True
    observed: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def observe(self, target: Target, result: ProbeResult, *, scheduled_at: str) -> None:
        self.observed.append(scheduled_at)

    def hold_down(self, target: Target, *, scheduled_at: str) -> bool:
        self.asked.append(scheduled_at)
        return self.hold


class BrokenGate:
    def observe(self, target: Target, result: ProbeResult, *, scheduled_at: str) -> None:
        raise RuntimeError("gate store unreachable")

    def hold_down(self, target: Target, *, scheduled_at: str) -> bool:
        raise RuntimeError("gate store unreachable")


def deps(
    *,
    states: MemoryStateStore | None = None,
    results: MemoryResultStore | None = None,
    health: str = "ok",
    now: datetime = T0,
    **kw: Any,
) -> CheckDeps:
    def probe(t: Target, password: str | None) -> ProbeResult:
        return result(health, now)

    fields: dict[str, Any] = {
        "states": states or MemoryStateStore(),
        "results": results or MemoryResultStore(),
        "sinks": [MemorySink()],
        "probe_fn": probe,
        "now": lambda: now,
        "sleep": lambda s: None,
        "maintenance": lambda t, n: False,
    }
    fields.update(kw)
    return CheckDeps(**fields)


def stored(state: TargetState) -> MemoryStateStore:
    store = MemoryStateStore()
    store.put(state)
    return store


# ---- skipped checks: the outcome says what and why ------------------------------------


def test_a_redelivered_dispatch_is_skipped_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    state = TargetState("mx1", status=TargetStatus.UP, last_scheduled_at=T0_TEXT, version=3)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        out = run_check(tgt(), scheduled_at=T0_TEXT, deps=deps(states=stored(state)))
    assert out == CheckOutcome("mx1", T0_TEXT, state, skipped="redelivered", reason="redelivered")
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert record.getMessage() == "check skipped: redelivered"
    assert (record.target_id, record.scheduled_at) == ("mx1", T0_TEXT)  # type: ignore[attr-defined]


def test_a_dispatch_naming_the_same_instant_differently_is_stale() -> None:
    state = TargetState("mx1", status=TargetStatus.UP, last_scheduled_at=T0_TEXT, version=3)
    same_instant = "2026-11-25T12:00:00+00:00"
    out = run_check(tgt(), scheduled_at=same_instant, deps=deps(states=stored(state)))
    assert out == CheckOutcome("mx1", same_instant, state, skipped="stale", reason="stale")


def test_a_disabled_target_is_skipped_and_says_so() -> None:
    out = run_check(tgt(enabled=False), scheduled_at=T0_TEXT, deps=deps())
    assert out == CheckOutcome(
        "mx1", T0_TEXT, TargetState("mx1"), skipped="disabled", reason="disabled"
    )


def test_a_result_already_stored_stops_the_check_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    results = MemoryResultStore()
    results.add_result(result("ok"), scheduled_at=T0_TEXT)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        out = run_check(tgt(), scheduled_at=T0_TEXT, deps=deps(results=results))
    assert out == CheckOutcome(
        "mx1",
        T0_TEXT,
        TargetState("mx1"),
        result=result("ok"),
        skipped="redelivered",
        reason="redelivered",
    )
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert record.getMessage() == "result exists: redelivered"
    assert record.target_id == "mx1"  # type: ignore[attr-defined]


# ---- a full check: the outcome and its writes -----------------------------------------


def test_a_check_reports_what_it_did_and_counts_every_state_write() -> None:
    # GIVEN a down target whose down alert an earlier run left pending
    pending = Alert(
        alert_id="a-1",
        event=AlertEvent.DOWN,
        target_id="mx1",
        status="down",
        created_at="2026-11-25T11:55:00Z",
    )
    state = TargetState(
        "mx1",
        status=TargetStatus.DOWN,
        consecutive_failures=1,
        failing_since="2026-11-25T11:55:00Z",
        last_change_at="2026-11-25T11:55:00Z",
        last_scheduled_at="2026-11-25T11:55:00Z",
        pending_alert=pending.to_dict(),
        version=2,
    )
    states = stored(state)
    sink = MemorySink()
    # WHEN the next check finds it healthy again
    out = run_check(tgt(), scheduled_at=T0_TEXT, deps=deps(states=states, sinks=[sink], now=T0))
    # THEN the pending alert went out first (recorded as sent now), then the recovery
    assert sink.events == ["down", "recovered"]
    assert out.flushed is not None and out.flushed.alert_id == "a-1"
    assert (out.rechecked, out.delivered, out.scheduled_at) == (False, True, T0_TEXT)
    saved = states.get_state("mx1")
    assert saved is not None and saved.last_alert_event == "recovered"
    # flush marked sent, the decision saved the recovery, the send marked it sent
    assert out.state_writes == 3
    assert out == CheckOutcome(
        "mx1",
        T0_TEXT,
        saved,
        result=result("ok"),
        alert=out.alert,
        delivered=True,
        flushed=out.flushed,
        first_result=result("ok"),
        reason="recovered",
        result_written=True,
        state_writes=3,
    )


def test_a_flushed_alert_is_recorded_as_sent_at_the_checks_time() -> None:
    pending = Alert(
        alert_id="a-1", event=AlertEvent.DOWN, target_id="mx1", status="down", created_at=T0_TEXT
    )
    state = TargetState(
        "mx1", status=TargetStatus.DOWN, alerted=False, pending_alert=pending.to_dict(), version=2
    )
    states = stored(state)
    later = T0 + timedelta(minutes=5)
    run_check(
        tgt(), scheduled_at=format_ts(later), deps=deps(states=states, health="critical", now=later)
    )
    saved = states.get_state("mx1")
    assert saved is not None and saved.last_alert_at == format_ts(later)


def test_a_pending_alert_that_cannot_be_sent_is_not_reported_as_flushed() -> None:
    pending = Alert(
        alert_id="a-1", event=AlertEvent.DOWN, target_id="mx1", status="down", created_at=T0_TEXT
    )
    state = TargetState("mx1", status=TargetStatus.DOWN, pending_alert=pending.to_dict(), version=2)
    out = run_check(
        tgt(),
        scheduled_at=format_ts(T0 + timedelta(minutes=5)),
        deps=deps(states=stored(state), health="critical", sinks=[FailingSink()]),
    )
    assert out.flushed is None and not out.delivered


def test_one_save_attempt_means_one(caplog: pytest.LogCaptureFixture) -> None:
    racing = LosesEveryRace()
    racing.put(TargetState("mx1", status=TargetStatus.UP, version=1))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        out = run_check(
            tgt(),
            scheduled_at=T0_TEXT,
            deps=deps(states=racing, health="critical", save_attempts=1),
        )
    assert racing.saves == 1
    assert out.delivered is False
    assert out.alert is None and out.reason == "state write conflict"
    messages = [
        (r.levelname, r.getMessage(), r.target_id) for r in caplog.records if r.name == LOGGER
    ]  # type: ignore[attr-defined]
    assert messages == [
        ("INFO", "state changed meanwhile: deciding again", "mx1"),
        ("ERROR", "state not saved: too many conflicts", "mx1"),
    ]


def test_a_check_overtaken_by_a_newer_one_writes_nothing() -> None:
    class NewerWins(MemoryStateStore):
        def save_state(self, state: TargetState) -> bool:
            newer = state.evolve(last_scheduled_at="2026-11-25T12:05:00Z", version=state.version)
            self.put(newer)
            return False

    states = NewerWins()
    states.put(TargetState("mx1", status=TargetStatus.UP, version=1))
    out = run_check(tgt(), scheduled_at=T0_TEXT, deps=deps(states=states, health="critical"))
    assert (out.state_writes, out.reason, out.alert) == (0, "overtaken by a newer check", None)


# ---- sampling: results stored with their dispatch -------------------------------------


def test_with_sampling_a_changed_passing_result_is_stored_under_its_dispatch() -> None:
    # GIVEN sampling every hour, and a slot that is not the hour's first
    results = CountingResults()
    state = TargetState("mx1", status=TargetStatus.UP, consecutive_failures=1, version=1)
    at = "2026-11-25T12:05:00Z"
    run_check(
        tgt(),
        scheduled_at=at,
        deps=deps(states=stored(state), results=results, passing_result_every_s=3600),
    )
    # THEN the reset of the failure count is stored, under this dispatch's key
    assert results.keys == [at]


def test_with_sampling_a_check_that_finds_a_pending_alert_stores_its_result_first() -> None:
    results = CountingResults()
    pending = Alert(
        alert_id="a-1", event=AlertEvent.DOWN, target_id="mx1", status="down", created_at=T0_TEXT
    )
    state = TargetState(
        "mx1", status=TargetStatus.UP, alerted=False, pending_alert=pending.to_dict(), version=1
    )
    at = "2026-11-25T12:05:00Z"
    run_check(
        tgt(),
        scheduled_at=at,
        deps=deps(
            states=stored(state),
            results=results,
            passing_result_every_s=3600,
            sinks=[FailingSink()],
        ),
    )
    assert results.keys[:1] == [at]


# ---- the gate: what it is told, and when it is not asked ------------------------------


def test_the_gate_is_told_the_dispatch_and_a_held_down_check_still_records_it() -> None:
    gate = RecordingGate()
    states = stored(TargetState("mx1", status=TargetStatus.UP, version=1))
    out = run_check(
        tgt(), scheduled_at=T0_TEXT, deps=deps(states=states, health="critical", gate=gate)
    )
    assert (gate.observed, gate.asked) == ([T0_TEXT], [T0_TEXT])
    assert out.alert is None and out.reason == "monitor degraded: down alert held"
    saved = states.get_state("mx1")
    assert saved is not None and saved.status is TargetStatus.DOWN
    assert saved.last_scheduled_at == T0_TEXT


def _down_since(since: datetime) -> TargetState:
    return TargetState(
        "mx1",
        status=TargetStatus.DOWN,
        consecutive_failures=3,
        failing_since=format_ts(since),
        last_change_at=format_ts(since),
        alerted=False,
        version=5,
    )


@pytest.mark.parametrize(
    ("down_for", "held"),
    [
        (MAX_HOLD + HOLD_GRACE - timedelta(seconds=1), True),
        (MAX_HOLD, True),  # past the gate's own hold, within the grace
        (MAX_HOLD + HOLD_GRACE, False),
    ],
)
def test_a_down_alert_is_held_at_most_the_gates_hold_plus_its_grace(
    down_for: timedelta, held: bool
) -> None:
    gate = RecordingGate()
    state = _down_since(T0 - down_for)
    out = run_check(
        tgt(), scheduled_at=T0_TEXT, deps=deps(states=stored(state), health="critical", gate=gate)
    )
    assert (out.alert is None) is held, out.reason


def test_a_down_alert_with_an_unreadable_change_time_is_not_held() -> None:
    state = _down_since(T0).evolve(last_change_at="not a time")
    out = run_check(
        tgt(),
        scheduled_at=T0_TEXT,
        deps=deps(states=stored(state), health="critical", gate=RecordingGate()),
    )
    assert out.alert is not None and out.alert.event is AlertEvent.DOWN


def test_a_target_up_for_days_that_goes_down_in_a_degraded_tick_is_held() -> None:
    state = TargetState(
        "mx1", status=TargetStatus.UP, last_change_at="2026-11-01T00:00:00Z", version=9
    )
    out = run_check(
        tgt(),
        scheduled_at=T0_TEXT,
        deps=deps(states=stored(state), health="critical", gate=RecordingGate()),
    )
    assert out.alert is None and out.reason == "monitor degraded: down alert held"


def test_a_broken_gate_is_logged_and_lets_the_alert_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    states = stored(TargetState("mx1", status=TargetStatus.UP, version=1))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        out = run_check(
            tgt(),
            scheduled_at=T0_TEXT,
            deps=deps(states=states, health="critical", gate=BrokenGate()),
        )
    assert out.alert is not None and out.delivered
    errors = [
        (r.getMessage(), r.exc_info is not None)
        for r in caplog.records
        if r.levelno >= logging.ERROR
    ]
    assert errors == [("alert gate failed", True), ("hold_down failed", True)]


# ---- the default probe ----------------------------------------------------------------


def test_the_default_probe_uses_the_environment_it_is_given() -> None:
    with SmtpServer("127.0.0.1").start() as srv:
        env = ProbeEnvironment(default_ehlo_name="custom-ehlo.smtpwatch.test")
        probe = default_probe_fn(env)
        res = probe(
            Target(target_id="mx1", host="127.0.0.1", port=srv.port, encryption="none"), None
        )
    assert res.status is Status.OK, res.to_dict()
    assert srv.ehlo_names == ["custom-ehlo.smtpwatch.test"]


class BrokenWindows:
    """A maintenance hook that is a callable object (no ``__name__``) and fails."""

    def __call__(self, target: Target, now: datetime) -> bool:
        raise ValueError("calendar unreadable")


def test_a_broken_maintenance_hook_is_logged_and_lets_the_alert_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    states = stored(TargetState("mx1", status=TargetStatus.UP, version=1))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        out = run_check(
            tgt(),
            scheduled_at=T0_TEXT,
            deps=deps(states=states, health="critical", maintenance=BrokenWindows()),
        )
    assert out.alert is not None and out.delivered
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["hook failed"]


def test_with_sampling_a_second_delivery_reading_a_stale_state_does_not_flush_again() -> None:
    # GIVEN a down target whose down alert is pending, checked on an unsampled slot
    pending = Alert(
        alert_id="a-1", event=AlertEvent.DOWN, target_id="mx1", status="down", created_at=T0_TEXT
    )
    state = TargetState(
        "mx1",
        status=TargetStatus.DOWN,
        consecutive_failures=1,
        last_change_at=T0_TEXT,
        pending_alert=pending.to_dict(),
        version=2,
    )
    sink, results = MemorySink(), MemoryResultStore()
    at = "2026-11-25T12:05:00Z"
    # WHEN the event is delivered twice, the second copy reading the state as it was
    for _ in range(2):
        run_check(
            tgt(),
            scheduled_at=at,
            deps=deps(
                states=stored(state), results=results, sinks=[sink], passing_result_every_s=3600
            ),
        )
    # THEN the pending alert and the recovery went out once each: the result key,
    # stored before the flush, stopped the second copy
    assert sink.events == ["down", "recovered"]


def test_a_state_deleted_during_the_check_is_written_again_under_its_target() -> None:
    # GIVEN a store whose item vanishes (purged) just as the check's write conflicts
    class Vanishes(MemoryStateStore):
        def __init__(self) -> None:
            super().__init__()
            self.first = True

        def save_state(self, state: TargetState) -> bool:
            if self.first:
                self.first = False
                self._states.clear()
                return False
            return super().save_state(state)

    states = Vanishes()
    states.put(TargetState("mx1", status=TargetStatus.UP, version=1))
    out = run_check(tgt(), scheduled_at=T0_TEXT, deps=deps(states=states, health="critical"))
    # THEN the decision is taken again on a fresh state of the same target and saved
    saved = states.get_state("mx1")
    assert saved is not None and saved.target_id == "mx1" and out.state.target_id == "mx1"
