"""The monitor-degraded gate on AWS, under moto, with real probes of loopback servers:
the same rules as `smtpwatch run` — distinct targets per tick, a floor of five failing
targets, a down alert held at most 15 minutes, and the episode's end announced with
the targets it held. The once-a-tick housekeeping (``settle_episode``) is what the
dispatcher runs after dispatching; one test drives it through ``Dispatcher.run``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smtpwatch.adapters.dynamodb import (
    DynamoBookkeeping,
    DynamoResultStore,
    DynamoStateStore,
    DynamoTargetStore,
)
from smtpwatch.adapters.tick_gate import TickGate, settle_episode
from smtpwatch.core import alert_text
from smtpwatch.core.result import ErrorInfo, ErrorKind, ProbeResult, Status
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetStatus
from smtpwatch.core.target import Target
from smtpwatch.service.check import CheckDeps, run_check
from smtpwatch.service.dispatch import Dispatcher
from smtpwatch.service.gate import tick_bucket
from smtpwatch.service.memory import MemorySink
from smtpwatch.testing.servers import SmtpServer, closed_port

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class _Countdown:
    """The tick's first results seen so far; ``wait_all`` returns once every check of
    the tick has given its first one (each check gives it before any re-check)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._expected = 0
        self._seen = 0

    def expect(self, count: int) -> None:
        with self._cond:
            self._expected, self._seen = count, 0

    def seen(self) -> None:
        with self._cond:
            self._seen += 1
            self._cond.notify_all()

    def wait_all(self) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self._seen >= self._expected, timeout=60)


class _FirstResults:
    """The tick gate, counting the first result of each check as the service hands it
    over (``observe`` is called once per check, before its re-check)."""

    def __init__(self, gate: TickGate, countdown: _Countdown) -> None:
        self._gate = gate
        self._countdown = countdown

    def observe(self, target: Target, result: ProbeResult, *, scheduled_at: str) -> None:
        try:
            self._gate.observe(target, result, scheduled_at=scheduled_at)
        finally:
            self._countdown.seen()

    def hold_down(self, target: Target, *, scheduled_at: str) -> bool:
        return self._gate.hold_down(target, scheduled_at=scheduled_at)


class Monitor:
    """The probe side (``run_check`` with the tick gate) and the housekeeping, on one
    fake clock; checks of a tick run concurrently, as the dispatcher's invokes do."""

    def __init__(self, ddb: Any, tables: dict[str, str]) -> None:
        self.clock = Clock()
        self.sink = MemorySink()
        self._first_results = _Countdown()
        self.states = DynamoStateStore(ddb, tables["StateTable"])
        self.books = DynamoBookkeeping(ddb, tables["StateTable"])
        self.gate = TickGate(self.books, [self.sink], now=self.clock)
        self.deps = CheckDeps(
            states=self.states,
            results=DynamoResultStore(ddb, tables["ResultsTable"]),
            sinks=[self.sink],
            gate=_FirstResults(self.gate, self._first_results),
            now=self.clock,
            # the re-check's pause lets the tick's other first results arrive: it ends
            # when all of them are counted (an event, not a guess at how long that takes)
            sleep=lambda _s: self._first_results.wait_all(),
        )
        self.targets: dict[str, Target] = {}

    def put(self, target_id: str, port: int, **extra: Any) -> None:
        item = {
            "target_id": target_id,
            "host": "127.0.0.1",
            "port": port,
            "encryption": "none",
            "interval_s": 60,
            "recheck_delay_s": 1,
            "timeout_s": 5,
            **extra,
        }
        self.targets[target_id], _ = Target.from_item(item, strict=True)

    def tick(self, minute: int, ids: list[str] | None = None) -> None:
        """The checks of the tick ``minute`` (all targets unless ``ids``), then the
        housekeeping of the next tick (which judges this one)."""
        ids = sorted(self.targets) if ids is None else ids
        scheduled_at = format_ts(_at(minute))
        self.books.record_dispatched(tick_bucket(scheduled_at), len(ids))
        self.clock.now = _at(minute) + timedelta(seconds=5)
        self._first_results.expect(len(ids))
        with ThreadPoolExecutor(max_workers=len(ids)) as pool:
            outcomes = list(
                pool.map(
                    lambda t: run_check(self.targets[t], scheduled_at=scheduled_at, deps=self.deps),
                    ids,
                )
            )
        assert all(o.skipped is None for o in outcomes)
        self.settle(minute + 1)

    def settle(self, minute: int) -> None:
        self.clock.now = _at(minute)
        settle_episode(
            self.books,
            self.states,
            [self.sink],
            targets=self.targets.get,
            tick=_at(minute),
            now=_at(minute),
        )

    def alerts(self, event: AlertEvent, target_id: str | None = None) -> list[Alert]:
        return [
            a
            for a in self.sink.alerts
            if a.event is event and (target_id is None or a.target_id == target_id)
        ]

    def starts(self) -> list[Alert]:
        return [a for a in self.alerts(AlertEvent.DEGRADED) if a.status == "degraded"]

    def ends(self) -> list[Alert]:
        return [a for a in self.alerts(AlertEvent.DEGRADED) if a.status == "ended"]


@pytest.fixture
def monitor(tables: dict[str, str], ddb: Any) -> Iterator[Monitor]:
    yield Monitor(ddb, tables)


@pytest.fixture
def server(smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_server("127.0.0.1")


def test_two_of_four_failing_never_trip_and_a_third_going_down_is_announced(
    monitor: Monitor, server: SmtpServer
) -> None:
    dead = closed_port()
    for i in range(2):
        monitor.put(f"down{i}", dead)
        monitor.put(f"ok{i}", server.port)
    for minute in range(3):
        monitor.tick(minute)
    monitor.put("ok0", dead)
    for minute in range(3, 5):
        monitor.tick(minute)
    assert monitor.starts() == []
    downs = monitor.alerts(AlertEvent.DOWN)
    assert sorted(a.target_id for a in downs) == ["down0", "down1", "ok0"]
    assert not any(a.details.get("held") for a in downs)


def test_a_failing_target_counts_once_per_tick_however_often_its_failure_is_seen(
    monitor: Monitor,
) -> None:
    # Five targets failing among ten trip the gate; one target failing five times does not.
    targets = [Target(target_id=f"t{i}", host="mx.example.com") for i in range(10)]
    scheduled_at = format_ts(T0)
    monitor.books.record_dispatched(tick_bucket(scheduled_at), len(targets))
    failed = ProbeResult(
        target_id="t0",
        started_at=scheduled_at,
        status=Status.CRITICAL,
        error=ErrorInfo(ErrorKind.CONNECT_TIMEOUT, None, "timed out"),
    )
    for _ in range(5):
        monitor.gate.observe(targets[0], failed, scheduled_at=scheduled_at)
    assert not monitor.gate.hold_down(targets[0], scheduled_at=scheduled_at)
    assert monitor.books.get_tick_counts(tick_bucket(scheduled_at)).failures == 1


def _episode(monitor: Monitor, server: SmtpServer, dead: int) -> None:
    """Eight of ten targets failing from minute 0; ok0 goes down at minute 1 (held)."""
    for i in range(8):
        monitor.put(f"t{i}", dead)
    for i in range(2):
        monitor.put(f"ok{i}", server.port)
    monitor.tick(0)
    starts = monitor.starts()
    assert len(starts) == 1 and (starts[0].details["failed"], starts[0].details["total"]) == (
        8,
        10,
    )
    monitor.put("ok0", dead)
    monitor.tick(1)
    assert monitor.alerts(AlertEvent.DOWN) == []
    states = [monitor.states.get_state(f"t{i}") for i in range(8)]
    assert all(s is not None and s.status is TargetStatus.DOWN for s in states)


def test_the_episode_end_is_announced_with_the_held_targets_and_their_downs_follow(
    monitor: Monitor, server: SmtpServer
) -> None:
    dead = closed_port()
    _episode(monitor, server, dead)
    # WHEN the monitor's side is fixed: the eight answer again, ok0 is really down
    for i in range(8):
        monitor.put(f"t{i}", server.port)
    monitor.tick(2)  # the first clean tick (held still); the housekeeping at 3:00 judges it
    # THEN the end of the episode is announced, listing the nine targets it held
    ends = monitor.ends()
    assert len(ends) == 1
    held = {h["target_id"]: h for h in ends[0].details["held"]}
    assert sorted(held) == ["ok0"] + [f"t{i}" for i in range(8)]
    assert held["ok0"]["still_down"] is True and held["t3"]["still_down"] is False
    assert "ok0" in alert_text.text(ends[0])
    # AND right after it, ok0's held down alert, marked held since the episode began
    downs = monitor.alerts(AlertEvent.DOWN)
    assert [a.target_id for a in downs] == ["ok0"]
    assert monitor.sink.alerts.index(downs[0]) == monitor.sink.alerts.index(ends[0]) + 1
    assert downs[0].details["held"] is True
    assert downs[0].details["episode_since"] == ends[0].since == format_ts(T0)
    assert downs[0].details["held_since"] == format_ts(_at(1) + timedelta(seconds=5))
    # AND that came from the housekeeping, not from a check of ok0 (none ran since);
    # the next ticks send nothing more about it
    monitor.tick(3, ids=[f"t{i}" for i in range(8)] + ["ok1"])
    monitor.settle(5)
    assert len(monitor.ends()) == 1 and len(monitor.alerts(AlertEvent.DOWN)) == 1


def test_a_down_alert_held_15_minutes_goes_out_marked_held_while_the_episode_lasts(
    monitor: Monitor, server: SmtpServer
) -> None:
    dead = closed_port()
    _episode(monitor, server, dead)
    # WHEN the episode goes on: the eight were held at 0:05, ok0 at 1:05
    for minute in range(2, 15):
        monitor.tick(minute)
    assert monitor.alerts(AlertEvent.DOWN) == []
    monitor.tick(15)  # the housekeeping at 16:00 finds the eight held 15 minutes
    first = monitor.alerts(AlertEvent.DOWN)
    assert sorted(a.target_id for a in first) == [f"t{i}" for i in range(8)]
    assert all(a.details["held"] is True for a in first)
    assert all(a.details["held_since"] == format_ts(_at(0) + timedelta(seconds=5)) for a in first)
    assert "monitor-degraded episode" in alert_text.text(first[0])
    monitor.tick(16)
    late = monitor.alerts(AlertEvent.DOWN, "ok0")
    assert len(late) == 1 and late[0].details["held"] is True
    # AND the episode is not over; nothing is sent twice
    monitor.tick(17)
    assert monitor.ends() == [] and len(monitor.starts()) == 1
    assert len(monitor.alerts(AlertEvent.DOWN)) == 9


class _Invoker:
    def __init__(self) -> None:
        self.invoked: list[tuple[str, str]] = []

    def invoke(self, target_id: str, scheduled_at: str) -> None:
        self.invoked.append((target_id, scheduled_at))


def test_the_dispatcher_runs_the_housekeeping_each_tick(tables: dict[str, str], ddb: Any) -> None:
    # GIVEN an episode of one degraded tick in which seven targets were held
    states = DynamoStateStore(ddb, tables["StateTable"])
    books = DynamoBookkeeping(ddb, tables["StateTable"])
    sink = MemorySink()
    gate = TickGate(books, [sink], now=lambda: T0 + timedelta(seconds=5))
    items = [{"target_id": f"t{i}", "host": "mx.example.com", "interval_s": 60} for i in range(10)]
    DynamoTargetStore(ddb, tables["TargetsTable"]).put_items(items)
    targets = [Target.from_item(item, strict=True)[0] for item in items]
    scheduled_at = format_ts(T0)
    books.record_dispatched(tick_bucket(scheduled_at), len(targets))
    for t in targets[:7]:
        gate.observe(
            t,
            ProbeResult(
                target_id=t.target_id,
                started_at=scheduled_at,
                status=Status.CRITICAL,
                error=ErrorInfo(ErrorKind.CONNECT_TIMEOUT, None, "timed out"),
            ),
            scheduled_at=scheduled_at,
        )
    assert all(gate.hold_down(t, scheduled_at=scheduled_at) for t in targets[:7])
    assert [a.status for a in sink.alerts] == ["degraded"]
    # AND a clean tick after it (nothing failed)
    books.record_dispatched(format_ts(_at(1)), len(targets))
    # WHEN the dispatcher runs the tick after that one
    dispatcher = Dispatcher(
        targets=DynamoTargetStore(ddb, tables["TargetsTable"]),
        states=states,
        bookkeeping=books,
        invoker=_Invoker(),
        sink=sink,
        settle=functools.partial(settle_episode, books, states, [sink]),
        workers=2,
        clock=lambda: _at(2).timestamp(),
    )
    dispatcher.run(_at(2))
    # THEN it announced the end of the episode with the seven it held
    assert [a.status for a in sink.alerts] == ["degraded", "ended"]
    assert sorted(h["target_id"] for h in sink.alerts[1].details["held"]) == [
        f"t{i}" for i in range(7)
    ]
