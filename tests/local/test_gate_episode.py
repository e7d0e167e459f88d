"""The monitor-degraded episode rule, shared by both backends.

One degraded alert per episode: an episode begins with a degraded window and lasts
until a window is no longer degraded. While it lasts every new down alert is held; a
window's own verdict is known only once it is over, so the window after a degraded one
holds too. A window counts distinct targets, and a target is held at most 15 minutes
(the housekeeping that sends held alerts is tested with the scheduler and on AWS).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smtpwatch.core.result import ErrorInfo, ErrorKind, ProbeResult, Status
from smtpwatch.core.target import Target
from smtpwatch.service.gate import EpisodeBook, GateVerdict, episode_verdict
from smtpwatch.service.memory import MemorySink
from smtpwatch.service.sweep_gate import SweepGate

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
TICK = "2026-11-25T15:00:00Z"


def _target(i: int) -> Target:
    return Target(target_id=f"t{i}", host="mx.example.com")


def _passed(target: Target) -> ProbeResult:
    return ProbeResult(target_id=target.target_id, started_at=TICK, status=Status.OK)


def _failed(target: Target, kind: ErrorKind = ErrorKind.CONNECT_REFUSED) -> ProbeResult:
    return ProbeResult(
        target_id=target.target_id,
        started_at=TICK,
        status=Status.CRITICAL,
        error=ErrorInfo(kind, None, "refused"),
    )


@pytest.mark.parametrize(
    ("now", "before", "expected"),
    [
        (False, False, GateVerdict(hold=False, announce=False)),  # normal operation
        (True, False, GateVerdict(hold=True, announce=True)),  # an episode begins
        (True, True, GateVerdict(hold=True, announce=False)),  # it goes on
        # the tick that may end it: its verdict is not known before it is over
        (False, True, GateVerdict(hold=True, announce=False)),
    ],
)
def test_the_episode_rule_holds_and_announces_once(
    now: bool, before: bool, expected: GateVerdict
) -> None:
    assert episode_verdict(degraded_now=now, degraded_before=before) == expected


def test_a_tick_that_begins_an_episode_sends_the_one_degraded_alert() -> None:
    sink = MemorySink()
    gate = SweepGate(10, tick=TICK, sinks=[sink], now=lambda: T0)
    targets = [_target(i) for i in range(10)]
    for t in targets[:8]:
        gate.observe(t, _failed(t), scheduled_at=TICK)
    assert gate.hold_down(targets[0], scheduled_at=TICK)
    assert gate.hold_down(targets[1], scheduled_at=TICK)
    gate.finish()
    assert sink.events == ["degraded"]


def test_a_tick_that_continues_an_episode_holds_down_alerts_without_a_second_degraded_alert() -> (
    None
):
    # GIVEN the previous tick was degraded
    sink = MemorySink()
    gate = SweepGate(10, tick=TICK, sinks=[sink], now=lambda: T0, continues_episode=True)
    targets = [_target(i) for i in range(10)]
    # WHEN a target already down asks before the tick's other failures are counted
    gate.observe(targets[0], _failed(targets[0]), scheduled_at=TICK)
    # THEN its down alert is held all the same
    assert gate.hold_down(targets[0], scheduled_at=TICK)
    # AND when the tick turns out degraded too, no second degraded alert goes out
    for t in targets[1:8]:
        gate.observe(t, _failed(t), scheduled_at=TICK)
    assert gate.hold_down(targets[1], scheduled_at=TICK)
    gate.finish()
    assert sink.events == []
    assert gate.is_degraded  # the scheduler carries the episode on to the next tick


def test_after_a_clean_tick_down_alerts_go_out_again() -> None:
    sink = MemorySink()
    gate = SweepGate(10, tick=TICK, sinks=[sink], now=lambda: T0, continues_episode=False)
    t = _target(0)
    gate.observe(t, _failed(t), scheduled_at=TICK)
    assert not gate.hold_down(t, scheduled_at=TICK)
    assert sink.events == []


def test_a_window_counts_distinct_targets_never_repeated_checks() -> None:
    # GIVEN four targets in a window, two of them failing on every one of six checks
    gate = SweepGate(tick=TICK, now=lambda: T0)
    targets = [_target(i) for i in range(4)]
    for _ in range(6):
        for t in targets:
            gate.expect(t.target_id)
            gate.observe(
                t, _failed(t) if t.target_id in ("t0", "t1") else _passed(t), scheduled_at=TICK
            )
    # THEN the window has two failing targets of four: not degraded, nothing held
    assert (gate.failed, gate.total) == (2, 4)
    assert not gate.is_degraded and not gate.hold_down(targets[0], scheduled_at=TICK)


def test_a_target_that_failed_then_passed_in_the_window_counts_as_failing() -> None:
    # A failure that cleared seconds later is what a flapping monitor link looks like.
    gate = SweepGate(tick=TICK, now=lambda: T0)
    targets = [_target(i) for i in range(8)]
    for t in targets[:5]:
        gate.observe(t, _failed(t), scheduled_at=TICK)
        gate.observe(t, _passed(t), scheduled_at=TICK)
    for t in targets[5:]:
        gate.observe(t, _passed(t), scheduled_at=TICK)
    assert (gate.failed, gate.total) == (5, 8) and gate.is_degraded


def test_a_config_failure_is_not_counted() -> None:
    gate = SweepGate(tick=TICK, now=lambda: T0)
    targets = [_target(i) for i in range(6)]
    for t in targets:
        gate.observe(t, _failed(t, ErrorKind.CONFIG), scheduled_at=TICK)
    assert gate.failed == 0 and not gate.is_degraded


def test_the_gate_stops_holding_a_target_after_15_minutes() -> None:
    # GIVEN an episode the gate goes on holding, minute after minute
    clock = {"now": T0}
    book = EpisodeBook()
    targets = [_target(i) for i in range(10)]

    def minute_gate() -> SweepGate:
        gate = SweepGate(10, tick=TICK, now=lambda: clock["now"], continues_episode=True, book=book)
        for t in targets[:8]:
            gate.observe(t, _failed(t), scheduled_at=TICK)
        return gate

    assert minute_gate().hold_down(targets[0], scheduled_at=TICK)
    clock["now"] = T0 + timedelta(minutes=14, seconds=59)
    assert minute_gate().hold_down(targets[0], scheduled_at=TICK)
    # WHEN it has been held 15 minutes THEN it is no longer held (its alert goes out)
    clock["now"] = T0 + timedelta(minutes=15)
    assert not minute_gate().hold_down(targets[0], scheduled_at=TICK)
    assert [tid for tid, _ in book.due(clock["now"])] == ["t0"]
