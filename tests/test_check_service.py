"""One check of one target (service.check) with in-memory stores and a scripted probe.

The service is not the probe: ``probe_fn`` returns ProbeResults as a real probe would
(real-server probe tests live in tests/probe). What is tested here is what the
operator sees: which alerts go out, when, and what is stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smtpwatch.core.errors import SecretError
from smtpwatch.core.result import ErrorInfo, ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.core.target import Target
from smtpwatch.service.check import CheckDeps, CheckOutcome, run_check
from smtpwatch.service.memory import (
    MemoryResultStore,
    MemorySecrets,
    MemorySink,
    MemoryStateStore,
)
from smtpwatch.service.publish import SAVE_ATTEMPTS, flush_pending
from smtpwatch.service.sweep_gate import SweepGate

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def result(target: Target, status: str, at: datetime, **err: Any) -> ProbeResult:
    error = None
    if status == "critical":
        fields: dict[str, Any] = {
            "kind": ErrorKind.CONNECT_REFUSED,
            "phase": Phase.CONNECT,
            "message": "connection refused",
        }
        fields.update(err)
        error = ErrorInfo(**fields)
    return ProbeResult(
        target_id=target.target_id,
        started_at=format_ts(at),
        status=Status(status),
        host=target.host,
        port=target.effective_port,
        error=error,
    )


@dataclass
class World:
    """Stores, sinks, a clock and a server whose health the test sets."""

    states: MemoryStateStore = field(default_factory=MemoryStateStore)
    results: MemoryResultStore = field(default_factory=MemoryResultStore)
    sink: MemorySink = field(default_factory=MemorySink)
    secrets: MemorySecrets = field(default_factory=MemorySecrets)
    now: datetime = T0
    health: list[str] = field(default_factory=lambda: ["ok"])  # one per probe; last repeats
    probes: list[str | None] = field(default_factory=list)  # password of each probe
    sleeps: list[float] = field(default_factory=list)
    gate: Any = None
    passing_result_every_s: int = 0
    probe_override: Callable[[Target, str | None], ProbeResult] | None = None
    scheduled_at: str = ""

    def probe(self, target: Target, password: str | None) -> ProbeResult:
        self.probes.append(password)
        if self.probe_override is not None:
            return self.probe_override(target, password)
        status = self.health.pop(0) if len(self.health) > 1 else self.health[0]
        if status == "crash":
            raise RuntimeError("bug in the probe")
        return result(target, status, self.now)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)

    def deps(self) -> CheckDeps:
        return CheckDeps(
            states=self.states,
            results=self.results,
            sinks=[self.sink],
            secrets=self.secrets,
            probe_fn=self.probe,
            now=lambda: self.now,
            sleep=self.sleep,
            gate=self.gate,
            passing_result_every_s=self.passing_result_every_s,
        )

    def check(self, target: Target, *, at: datetime | None = None) -> CheckOutcome:
        if at is not None:
            self.now = at
        self.scheduled_at = format_ts(self.now)
        return run_check(target, scheduled_at=self.scheduled_at, deps=self.deps())

    def redeliver(self, target: Target) -> CheckOutcome:
        """The same dispatch event once more (a Lambda retry, a duplicate event)."""
        return run_check(target, scheduled_at=self.scheduled_at, deps=self.deps())

    def tick(self, target: Target, *health: str, minutes: int = 5) -> CheckOutcome:
        """The next slot: advance the clock, set the server's health, check."""
        self.now = self.now.replace(second=0) + timedelta(minutes=minutes)
        if health:
            self.health = list(health)
        return self.check(target)

    def state(self, target: Target) -> TargetState:
        s = self.states.get_state(target.target_id)
        assert s is not None
        return s


def tgt(**kw: Any) -> Target:
    fields: dict[str, Any] = {"target_id": "mx1", "host": "mx1.example.com"}
    fields.update(kw)
    return Target(**fields)


# ---- the alert life cycle -------------------------------------------------------------


def test_a_server_going_down_gives_one_down_alert_after_a_failed_recheck() -> None:
    w, t = World(), tgt(recheck_delay_s=10)
    w.tick(t, "ok")
    out = w.tick(t, "critical")
    assert out.rechecked and w.sleeps == [10.0]
    assert len(w.probes) == 3  # first check, the failure, its re-check
    assert w.sink.events == ["down"]
    assert out.delivered and out.alert is not None
    assert w.state(t).status is TargetStatus.DOWN
    assert w.state(t).pending_alert is None and w.state(t).last_alert_event == "down"


def test_still_down_sends_nothing_more() -> None:
    w, t = World(), tgt()
    w.tick(t, "critical")
    for _ in range(3):
        out = w.tick(t, "critical")
        assert out.alert is None and not out.rechecked
    assert w.sink.events == ["down"]


def test_a_reminder_goes_out_when_due_while_down() -> None:
    w, t = World(), tgt(remind_every_s=1800, recheck_delay_s=0)
    w.tick(t, "critical")
    events = [w.tick(t, "critical", minutes=10).alert for _ in range(6)]
    assert w.sink.events == ["down", "reminder", "reminder"]
    assert [i for i, a in enumerate(events) if a is not None] == [2, 5]


def test_recovery_gives_one_recovered_alert() -> None:
    w, t = World(), tgt()
    w.tick(t, "critical")
    out = w.tick(t, "ok")
    assert out.alert is not None and out.alert.event.value == "recovered"
    w.tick(t, "ok")
    assert w.sink.events == ["down", "recovered"]
    assert w.state(t).status is TargetStatus.UP


def test_a_passing_recheck_resets_the_count_and_alerts_nothing() -> None:
    w, t = World(), tgt(failures_before_alert=2, recheck_delay_s=5)
    w.tick(t, "ok")
    assert not w.tick(t, "critical").rechecked  # 1 of 2: no re-check yet
    out = w.tick(t, "critical", "ok")  # 2 of 2: re-checked, and it passed
    assert out.rechecked and out.result is not None and out.result.status is Status.OK
    assert out.first_result is not None and out.first_result.status is Status.CRITICAL
    assert w.state(t).consecutive_failures == 0
    assert w.sink.events == []
    # the stored result for the slot is the re-check's
    assert w.results.latest("mx1") == out.result


def test_a_crashed_recheck_keeps_the_first_failure() -> None:
    w, t = World(), tgt(recheck_delay_s=5)
    w.tick(t, "ok")
    out = w.tick(t, "critical", "crash")
    assert out.result is not None and out.result.status is Status.CRITICAL
    assert w.sink.events == ["down"]


# ---- redelivery and at-least-once delivery -----------------------------------------------


def test_a_redelivered_down_run_probes_publishes_and_writes_nothing() -> None:
    w, t = World(), tgt()
    first = w.tick(t, "critical")
    probes, writes = len(w.probes), w.states.writes + w.results.writes
    again = w.redeliver(t)
    assert again.skipped == "redelivered"
    assert len(w.probes) == probes and w.states.writes + w.results.writes == writes
    assert w.sink.events == ["down"]
    assert again.state == first.state


def test_a_redelivered_healthy_run_is_stopped_by_the_result_key() -> None:
    w, t = World(), tgt()
    w.tick(t, "ok")
    w.tick(t, "ok")  # healthy and unchanged: the state item was not rewritten
    writes = w.states.writes + w.results.writes
    again = w.redeliver(t)
    assert again.skipped == "redelivered" and again.writes == 0
    assert w.states.writes + w.results.writes == writes
    assert w.sink.events == []


def test_an_older_dispatch_arriving_late_is_skipped() -> None:
    w, t = World(), tgt()
    w.tick(t, "critical")
    late = run_check(t, scheduled_at=format_ts(T0), deps=w.deps())
    assert late.skipped == "stale"


def test_sink_failure_keeps_the_alert_pending_and_the_next_run_sends_it() -> None:
    w, t = World(), tgt()
    w.tick(t, "ok")
    w.sink.down = True
    out = w.tick(t, "critical")
    assert out.alert is not None and not out.delivered
    pending = w.state(t).pending_alert
    assert pending is not None and pending["alert_id"] == out.alert.alert_id
    w.sink.down = False
    nxt = w.tick(t, "critical")
    assert nxt.flushed is not None and nxt.flushed.alert_id == out.alert.alert_id
    assert w.sink.events == ["down"]
    assert w.state(t).pending_alert is None
    w.tick(t, "critical")
    assert w.sink.events == ["down"]  # sent once


def test_recovery_before_an_unsent_down_alert_could_go_out_cancels_it() -> None:
    w, t = World(), tgt()
    w.tick(t, "ok")
    w.sink.down = True
    w.tick(t, "critical")
    out = w.tick(t, "ok")  # sink still down; the target recovered
    assert out.alert is None
    assert w.state(t).pending_alert is None
    w.sink.down = False
    w.tick(t, "ok")
    assert w.sink.events == []


def test_flush_pending_alone_sends_and_marks_sent_for_the_dispatcher() -> None:
    w, t = World(), tgt()
    w.sink.down = True
    out = w.tick(t, "critical")
    w.sink.down = False
    flushed = flush_pending(w.state(t), [w.sink], w.states, now=w.now)
    assert flushed.delivered and flushed.alert is not None
    assert flushed.alert.alert_id == (out.alert.alert_id if out.alert else None)
    assert w.state(t).pending_alert is None and w.state(t).last_alert_event == "down"
    assert not flush_pending(w.state(t), [w.sink], w.states).delivered  # nothing left


def test_state_write_conflict_is_retried_on_the_fresh_state() -> None:
    w, t = World(), tgt()
    w.tick(t, "ok")
    w.states.fail_saves = 2  # two racing writers got there first
    out = w.tick(t, "critical")
    assert w.states.conflicts == 2
    assert out.delivered and w.sink.events == ["down"]
    assert w.state(t).status is TargetStatus.DOWN


class LosesEveryRace(MemoryStateStore):
    """A state store where another writer always gets there first: before each
    conditional write it stores the same state one version on, so the real version
    check refuses the write."""

    def save_state(self, state: TargetState) -> bool:
        current = self.get_state(state.target_id) or TargetState(state.target_id)
        self.put(current.evolve(version=current.version + 1))
        return super().save_state(state)


def test_when_every_state_save_conflicts_no_alert_goes_out_and_none_goes_out_twice() -> None:
    # GIVEN a target that is up, then goes down while every state write loses its race
    w, t = World(), tgt()
    w.tick(t, "ok")
    racing = LosesEveryRace()
    racing.put(w.state(t))
    healthy_store, w.states = w.states, racing
    # WHEN it is checked, and the same event is delivered once more
    out = w.tick(t, "critical")
    again = w.redeliver(t)
    # THEN the down alert was decided but never recorded, so it is not published:
    # an alert goes out only once it is saved as pending (else it could go out twice)
    assert racing.conflicts == SAVE_ATTEMPTS and racing.writes == 0
    assert w.sink.events == [] and w.sink.attempts == 0
    assert out.alert is None and not out.delivered
    assert out.reason == "state write conflict" and out.state_writes == 0
    assert again.alert is None and not again.delivered
    assert w.state(t).status is TargetStatus.UP and w.state(t).pending_alert is None
    # AND once writes succeed again, the next failing check sends the down alert once
    healthy_store.put(w.state(t))
    w.states = healthy_store
    later = w.tick(t, "critical")
    assert later.delivered and w.sink.events == ["down"]
    w.tick(t, "critical")
    assert w.sink.events == ["down"]


# ---- cost -----------------------------------------------------------------------------


def test_a_healthy_unchanged_check_costs_one_write() -> None:
    w, t = World(), tgt()
    first = w.tick(t, "ok")
    assert first.writes == 2  # result + the state item (pending -> up)
    for _ in range(5):
        out = w.tick(t, "ok")
        assert out.writes == 1 and out.result_written and out.state_writes == 0


def test_with_sampling_a_healthy_unchanged_check_costs_no_write_but_the_sample() -> None:
    # GIVEN AWS's policy: keep one passing result per hour (T0 = 12:00 opens one)
    w, t = World(passing_result_every_s=3600), tgt(interval_s=300)
    assert w.check(t, at=T0).writes == 2  # pending -> up: a change
    outs = [w.tick(t, "ok") for _ in range(11)]  # 12:05 ... 12:55
    assert [o.writes for o in outs] == [0] * 11
    assert not any(o.result_written for o in outs)
    assert w.tick(t, "ok").result_written  # 13:00 opens the next hour
    assert w.results.writes == 2
    # A warning that persists is thinned out the same way once announced
    w.tick(t, "warning")
    kept = w.results.writes
    assert [w.tick(t, "warning").writes for _ in range(3)] == [0, 0, 0]
    assert w.results.writes == kept
    # Failures are always stored, steady ones too, and so is the recovery
    outs = [w.tick(t, "critical") for _ in range(3)]
    assert all(o.result_written for o in outs)
    back = w.tick(t, "ok")
    assert back.result_written and back.alert is not None
    assert back.alert.event.value == "recovered"
    # ...and a crashed probe (the monitor's fault) is kept for the record
    assert w.tick(t, "crash").result_written


def test_with_sampling_a_failure_below_the_threshold_and_its_reset_are_both_stored() -> None:
    w, t = World(passing_result_every_s=3600), tgt(interval_s=300, failures_before_alert=3)
    w.check(t, at=T0)
    failed = w.tick(t, "critical")
    assert failed.result_written and w.state(t).consecutive_failures == 1
    reset = w.tick(t, "ok")  # changes the count back to 0: a change, so it is kept
    assert reset.result_written and reset.state_writes == 1
    assert w.state(t).consecutive_failures == 0


def _recovered_alert_left_pending(w: World, t: Target) -> str:
    """GIVEN a target that went down (announced) and came back while the sink was
    down: its recovered alert is pending, and the next passing slot (not the hour's
    sample) changes nothing but publishing it. Returns that slot."""
    w.check(t, at=T0)
    w.tick(t, "critical")
    assert w.sink.events == ["down"]
    w.sink.down = True
    w.tick(t, "ok")
    assert (w.state(t).pending_alert or {}).get("event") == "recovered"
    w.sink.down = False
    w.now = w.now.replace(second=0) + timedelta(minutes=5)
    w.health = ["ok"]
    return format_ts(w.now)


def test_with_sampling_two_deliveries_of_one_event_flush_a_pending_alert_once() -> None:
    # Lambda delivers an async event at least once: two copies may run side by side.
    w, t = World(passing_result_every_s=3600), tgt(interval_s=300, recheck_delay_s=0)
    slot = _recovered_alert_left_pending(w, t)
    both_loaded = threading.Barrier(2, timeout=30)

    def probe(target: Target, _password: str | None) -> ProbeResult:
        both_loaded.wait()  # each copy has read the state (pending alert and all)
        return result(target, "ok", w.now)

    w.probe_override = probe
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _: run_check(t, scheduled_at=slot, deps=w.deps()), range(2)))
    # THEN the pending alert goes out once: the copy that stored the slot's result first
    # publishes it, the other stops as a redelivery (same scheduled_at)
    assert w.sink.events == ["down", "recovered"]
    assert sorted(str(o.skipped) for o in outs) == ["None", "redelivered"]
    assert w.state(t).pending_alert is None


def test_with_sampling_a_redelivery_reading_a_stale_state_does_not_flush_again() -> None:
    # The probe's first state read is eventually consistent: a copy of the event that
    # runs just after the first one may still see the alert the first one sent.
    w, t = World(passing_result_every_s=3600), tgt(interval_s=300, recheck_delay_s=0)
    slot = _recovered_alert_left_pending(w, t)
    stale = w.state(t)
    first = run_check(t, scheduled_at=slot, deps=w.deps())
    assert first.flushed is not None and w.sink.events == ["down", "recovered"]

    class StaleFirstRead:
        """The states as the probe sees them: its first read lags, the rest do not."""

        def __init__(self) -> None:
            self.lagging = True

        def get_state(self, target_id: str) -> TargetState | None:
            if self.lagging:
                self.lagging = False
                return stale
            return w.states.get_state(target_id)

        def save_state(self, state: TargetState) -> bool:
            return w.states.save_state(state)

        def iter_states(self) -> Any:
            return w.states.iter_states()

    deps = w.deps()
    deps.states = StaleFirstRead()
    again = run_check(t, scheduled_at=slot, deps=deps)
    assert again.skipped == "redelivered"
    assert w.sink.events == ["down", "recovered"]


def test_a_down_alert_costs_result_plus_pending_plus_sent() -> None:
    w, t = World(), tgt()
    w.tick(t, "ok")
    assert w.tick(t, "critical").writes == 3
    assert w.tick(t, "critical").writes == 1  # steady outage


# ---- maintenance ----------------------------------------------------------------------


def test_maintenance_holds_the_down_alert_and_releases_it_after_the_window() -> None:
    window = {"start": "2026-11-25T12:07:00Z", "end": "2026-11-25T12:17:00Z"}
    w, t = World(), tgt(maintenance=[window])
    w.tick(t, "ok")  # 12:05
    held = w.tick(t, "critical")  # 12:10, in the window: probed, state down, no alert
    assert held.alert is None and w.state(t).status is TargetStatus.DOWN
    assert w.tick(t, "critical").alert is None  # 12:15
    out = w.tick(t, "critical")  # 12:20: window over, still down
    assert out.alert is not None and out.alert.details["held"] is True
    assert w.sink.events == ["down"]


def test_down_and_back_inside_maintenance_is_silent() -> None:
    window = {"start": "2026-11-25T12:07:00Z", "end": "2026-11-25T12:17:00Z"}
    w, t = World(), tgt(maintenance=[window])
    w.tick(t, "ok")
    w.tick(t, "critical")
    w.tick(t, "ok")
    w.tick(t, "ok")
    assert w.sink.events == []


# ---- secrets and the probe ----------------------------------------------------------------


def auth_server(current: dict[str, str]) -> Callable[[Target, str | None], ProbeResult]:
    def probe(target: Target, password: str | None) -> ProbeResult:
        if password == current["password"]:
            return result(target, "ok", T0)
        return result(
            target,
            "critical",
            T0,
            kind=ErrorKind.AUTH_FAILED,
            phase=Phase.AUTH,
            message="535 5.7.8 authentication failed",
            smtp_code=535,
        )

    return probe


def test_after_auth_failed_the_rotated_secret_is_fetched_again_and_used() -> None:
    server = {"password": "old-pw"}
    w = World(probe_override=auth_server(server))
    w.secrets = MemorySecrets({"env:PW": "old-pw"})
    t = tgt(login=True, username="u", password_ref="env:PW")
    w.tick(t)
    server["password"] = "new-pw"  # rotated on the server and in the secret store
    w.secrets.rotate("env:PW", "new-pw")
    out = w.tick(t)
    assert out.result is not None and out.result.status is Status.OK
    assert w.probes == ["old-pw", "old-pw", "new-pw"]
    assert ("env:PW", True) in w.secrets.lookups
    assert w.sink.events == []


def test_auth_failed_with_an_unchanged_secret_is_not_probed_again() -> None:
    w = World(probe_override=auth_server({"password": "right"}))
    w.secrets = MemorySecrets({"env:PW": "wrong"})
    t = tgt(login=True, username="u", password_ref="env:PW", recheck_delay_s=0)
    out = w.tick(t)
    assert w.probes == ["wrong"]
    assert out.alert is not None and out.alert.event.value == "down"
    assert out.result is not None and out.result.error is not None
    assert out.result.error.kind is ErrorKind.AUTH_FAILED


def test_a_missing_secret_is_a_config_failure_not_a_crash() -> None:
    w, t = World(), tgt(login=True, username="u", password_ref="env:NOPE")
    out = w.tick(t)
    assert w.probes == []  # never probed without its password
    assert out.result is not None and out.result.error is not None
    assert out.result.error.kind is ErrorKind.CONFIG
    assert "env:NOPE not found" in out.result.error.message
    assert not out.rechecked  # a config failure cannot pass a moment later
    assert w.sink.events == ["down"]


def test_a_secret_bound_to_other_hosts_is_refused_as_config() -> None:
    w = World()
    w.secrets = MemorySecrets({"env:PW": "pw"}, hosts={"env:PW": "other.example.com"})
    out = w.tick(tgt(login=True, username="u", password_ref="env:PW"))
    assert w.probes == []
    assert out.result is not None and out.result.error is not None
    assert out.result.error.kind is ErrorKind.CONFIG


def test_a_probe_that_raises_is_unknown_and_not_a_target_failure() -> None:
    w, t = World(), tgt()
    w.tick(t, "ok")
    out = w.tick(t, "crash")
    assert out.result is not None and out.result.status is Status.UNKNOWN
    assert out.result.error is not None and "RuntimeError" in out.result.error.message
    assert out.alert is None and out.state_writes == 0
    assert w.results.latest("mx1") == out.result  # the crash is in the history
    assert w.state(t).status is TargetStatus.UP


def test_a_crash_message_never_carries_the_password() -> None:
    def leaky(target: Target, password: str | None) -> ProbeResult:
        raise ValueError(f"bad login {password}")

    w = World(probe_override=leaky)
    w.secrets = MemorySecrets({"env:PW": "s3cr3t-pw"})
    out = w.tick(tgt(login=True, username="u", password_ref="env:PW"))
    assert out.result is not None and out.result.error is not None
    assert "s3cr3t-pw" not in out.result.error.message
    assert "s3cr3t-pw" not in repr(out.result.to_dict())


@pytest.mark.parametrize(
    "password",
    ["two  spaces\tand tab", "x" * 40],  # whitespace runs; a password cut by the 300 limit
)
def test_a_crash_never_carries_the_password_in_its_result_or_its_log_line(
    password: str, caplog: pytest.LogCaptureFixture
) -> None:
    def leaky(target: Target, pw: str | None) -> ProbeResult:
        raise ValueError("y" * 270 + f" bad login {pw}")

    w = World(probe_override=leaky)
    w.secrets = MemorySecrets({"env:PW": password})
    with caplog.at_level("DEBUG", logger="smtpwatch"):
        out = w.tick(tgt(login=True, username="u", password_ref="env:PW"))
    assert out.result is not None and out.result.error is not None
    text = repr(out.result.to_dict()) + caplog.text
    for piece in (password, " ".join(password.split()), password[:20]):
        assert piece not in text
    assert "ValueError" in out.result.error.message and "ValueError" in caplog.text


def test_a_disabled_target_is_not_probed() -> None:
    w = World()
    out = w.tick(tgt(enabled=False))
    assert out.skipped == "disabled" and w.probes == []


# ---- monitor degraded ---------------------------------------------------------------------


def _sweep(w: World, targets: list[Target], at: datetime) -> tuple[SweepGate, list[CheckOutcome]]:
    """A concurrent sweep as the local scheduler runs it: all checks at once, each
    re-check sleep overlapping the others (a barrier stands in for the 5 s)."""
    w.now = at
    gate = SweepGate(len(targets), tick=format_ts(at), sinks=[w.sink], now=lambda: at)
    barrier = threading.Barrier(len(targets), timeout=30)
    deps = w.deps()
    deps.gate = gate

    def sleep(_seconds: float) -> None:
        barrier.wait()

    deps.sleep = sleep
    deps.now = lambda: at
    with ThreadPoolExecutor(len(targets)) as pool:
        outs = list(
            pool.map(lambda t: run_check(t, scheduled_at=format_ts(at), deps=deps), targets)
        )
    gate.finish()
    return gate, outs


def test_a_sweep_where_most_probes_fail_sends_one_degraded_alert_instead_of_a_flood() -> None:
    # GIVEN 10 targets that are up, re-checked 5 s after a failure
    w = World()
    targets = [tgt(target_id=f"t{i}", recheck_delay_s=5) for i in range(10)]
    for t in targets:
        w.check(t, at=T0)
    # WHEN the monitor's own network fails: every probe of the next sweep fails
    w.health = ["critical"]
    at = T0 + timedelta(minutes=5)
    gate, outs = _sweep(w, targets, at)
    # THEN one degraded alert replaces ten down alerts; the targets are down, unannounced
    assert w.sink.events == ["degraded"]
    assert gate.alert is not None and gate.alert.details["failed"] == 10
    assert all(o.alert is None for o in outs)
    assert all(w.state(t).status is TargetStatus.DOWN for t in targets)

    # WHEN the monitor is fine again, 7 targets are back and 3 really are down
    def health(target: Target, password: str | None) -> ProbeResult:
        down = target.target_id in ("t0", "t1", "t2")
        return result(target, "critical" if down else "ok", w.now)

    w.probe_override = health
    _, outs = _sweep(w, targets, at + timedelta(minutes=5))
    # THEN the 3 get their (held) down alert and the 7 recover silently
    assert sorted(o.target_id for o in outs if o.alert is not None) == ["t0", "t1", "t2"]
    assert w.sink.events == ["degraded", "down", "down", "down"]


def test_a_gate_that_breaks_lets_alerts_through() -> None:
    class Broken:
        def observe(self, *a: Any, **k: Any) -> None:
            raise RuntimeError("counter table unavailable")

        def hold_down(self, *a: Any, **k: Any) -> bool:
            raise RuntimeError("counter table unavailable")

    w, t = World(gate=Broken()), tgt()
    w.tick(t, "ok")
    w.tick(t, "critical")
    assert w.sink.events == ["down"]


@pytest.mark.parametrize("kind", [ErrorKind.CONFIG])
def test_config_failures_do_not_count_towards_degraded(kind: ErrorKind) -> None:
    gate = SweepGate(6, tick="x")
    for i in range(6):
        t = tgt(target_id=f"t{i}")
        gate.observe(t, result(t, "critical", T0, kind=kind), scheduled_at="x")
    assert not gate.is_degraded


def test_secret_error_text_is_the_resolvers_own() -> None:
    class Refusing:
        def resolve(self, ref: str, *, host: str, refresh: bool = False) -> str:
            raise SecretError("ssm:/mail/pw: access denied")

    w, t = World(), tgt(login=True, username="u", password_ref="ssm:/mail/pw")
    deps = w.deps()
    deps.secrets = Refusing()
    out = run_check(t, scheduled_at=format_ts(T0), deps=deps)
    assert out.result is not None and out.result.error is not None
    assert out.result.error.message == "password_ref: ssm:/mail/pw: access denied"


def test_a_slow_check_overtaken_by_a_newer_one_does_not_overrule_it() -> None:
    w, t = World(), tgt(recheck_delay_s=0)
    w.tick(t, "ok")
    older = format_ts(w.now + timedelta(minutes=1))
    newer = format_ts(w.now + timedelta(minutes=2))

    def slow_probe(target: Target, password: str | None) -> ProbeResult:
        # GIVEN the check for the older slot is still probing when the check for the
        # newer slot finds the server down and records (and announces) it
        w.probe_override = lambda tt, _pw: result(tt, "critical", w.now)
        run_check(t, scheduled_at=newer, deps=w.deps())
        return result(target, "warning", w.now)

    w.probe_override = slow_probe
    out = run_check(t, scheduled_at=older, deps=w.deps())
    # THEN the older check stores its result but does not turn the state back
    assert out.result_written
    assert out.reason == "overtaken by a newer check"
    assert w.state(t).status is TargetStatus.DOWN
    assert w.sink.events == ["down"]


# ---- server text after a secret rotation (a real server on loopback) -------------------


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1"], ids=["v4", "v6"])
def test_after_a_rotation_the_reprobe_and_its_recheck_mask_the_old_and_the_new_password(
    ip: str,
) -> None:
    import json

    from smtpwatch.core import alert_text
    from smtpwatch.core.probe import ProbeEnvironment
    from smtpwatch.service.check import default_probe_fn
    from smtpwatch.testing.secret_runs import leaked_runs
    from smtpwatch.testing.servers import CredentialEchoServer

    old, new = "old-Rotated-Secret-4711", "new-Current-Secret-0815"
    # GIVEN a server that greets with every password it was ever sent and rejects all
    server = CredentialEchoServer(
        ip, greeting=lambda pws: f"220 mail ESMTP seen={','.join(pws)}\r\n".encode()
    )
    # AND a secret store whose cached password is the old one, the new one stored
    secrets = MemorySecrets({"env:PW": old})
    secrets.resolve("env:PW", host=ip)
    secrets.rotate("env:PW", new)
    t = Target(
        target_id="mx1", host=ip, port=server.port, encryption="none", login=True,
        allow_plaintext_auth=True, username="u", password_ref="env:PW",
        auth_methods="PLAIN", recheck_delay_s=1, timeout_s=10,
    )  # fmt: skip
    states, results, sink = MemoryStateStore(), MemoryResultStore(), MemorySink()
    deps = CheckDeps(
        states=states,
        results=results,
        sinks=[sink],
        secrets=secrets,
        probe_fn=default_probe_fn(ProbeEnvironment(default_ehlo_name="probe.smtpwatch.test")),
        now=lambda: T0,
        sleep=lambda _s: None,
    )
    # WHEN a check fails with the old password, re-probes with the new one (the server
    # now greets with the old), and re-checks (it greets with both)
    with server:
        out = run_check(t, scheduled_at=format_ts(T0), deps=deps)
    # THEN the rotation path ran, the login failed, and neither password is readable
    # in the results, the state or the alert
    assert server.learned == [old, new, new]
    assert out.rechecked and out.result is not None and out.first_result is not None
    assert out.result.error is not None
    assert (out.result.error.kind, out.result.error.phase) == (ErrorKind.AUTH_FAILED, Phase.AUTH)
    assert out.first_result.server is not None
    assert out.first_result.server.banner == "mail ESMTP seen=***"
    assert out.result.server is not None
    assert out.result.server.banner == "mail ESMTP seen=***,***"
    assert sink.events == ["down"]
    state = states.get_state("mx1")
    assert state is not None
    outputs = [
        json.dumps(out.result.to_dict()),
        json.dumps(out.first_result.to_dict()),
        json.dumps([r.to_dict() for r in results.iter_results("mx1")]),
        json.dumps(state.to_dict()),
    ]
    for alert in sink.alerts:
        outputs += [
            alert_text.text(alert),
            alert_text.subject(alert),
            json.dumps(alert_text.document(alert)),
            json.dumps(alert_text.sns_message(alert)),
        ]
    for text in outputs:
        assert not leaked_runs(text, old) and not leaked_runs(text, new), text[:2000]


def test_a_crash_text_is_masked_by_the_same_guard_as_server_text() -> None:
    # GIVEN a probe that crashes with the password reshaped in its message: upper case,
    # split by whitespace, behind 250 characters of filler
    secret = "Crash-Secret-Pa55word-99"

    def leaky(target: Target, pw: str | None) -> ProbeResult:
        assert pw is not None
        raise ValueError("y" * 250 + f" {pw[:9].upper()}\n  {pw[9:]}")

    w = World(probe_override=leaky)
    w.secrets = MemorySecrets({"env:PW": secret})
    out = w.tick(tgt(login=True, username="u", password_ref="env:PW"))
    assert out.result is not None and out.result.error is not None
    assert out.result.status is Status.UNKNOWN
    from smtpwatch.testing.secret_runs import leaked_runs

    assert not leaked_runs(repr(out.result.to_dict()), secret)
