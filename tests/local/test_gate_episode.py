"""The monitor-degraded episode rule (DESIGN §4), shared by both backends.

One degraded alert per episode: an episode begins with a degraded tick and lasts until
a tick is no longer degraded. While it lasts every new down alert is held; a tick's own
verdict is known only once it is over, so the tick after a degraded one holds too. The
held down alerts go out with the next check that is not held, for targets still down.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smtpwatch.core.result import ErrorInfo, ErrorKind, ProbeResult, Status
from smtpwatch.core.target import Target
from smtpwatch.service.gate import GateVerdict, SweepGate, episode_verdict
from smtpwatch.service.memory import MemorySink

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
TICK = "2026-11-25T15:00:00Z"


def _target(i: int) -> Target:
    return Target(target_id=f"t{i}", host="mx.example.com")


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
