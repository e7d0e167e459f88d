"""The monitor-degraded gate under `smtpwatch run`, counted in targets, not checks.

A window (one minute of slots) is degraded when more than half of the distinct targets
checked in it failed, and at least five of them: a target checked six times in the
minute counts once, whether it failed once or every time. An episode holds new down
alerts; each held alert goes out, marked held, when the episode ends or when it has
been held 15 minutes, whichever comes first, and the end of the episode is announced
with the list of the targets it held. Real loopback servers, a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from local.scheduler_helpers import T0, Clock, Listener, item
from smtpwatch.core import alert_text
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.scheduler import LocalScheduler
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.service.memory import MemorySink
from smtpwatch.testing.servers import SmtpServer, closed_port


@pytest.fixture
def server(smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_server("127.0.0.1")


class Run:
    """A scheduler on a fake clock, ticked the way `run` ticks it."""

    def __init__(self, store: SqliteStore, clock: Clock) -> None:
        self.sink = MemorySink()
        self.clock = clock
        self.listener = Listener()
        self.sched = LocalScheduler(
            store,
            sinks=[("memory", self.sink)],
            listener=self.listener,
            now=clock,
            concurrency=12,
            retention_days=None,
        )

    def step(self, seconds: float) -> None:
        self.sched.tick()
        assert self.sched._pool.wait_idle(30)
        self.clock.advance(seconds)

    def alerts(self, event: AlertEvent, target_id: str | None = None) -> list[Alert]:
        return [
            a
            for a in self.sink.alerts
            if a.event is event and (target_id is None or a.target_id == target_id)
        ]

    def degraded_starts(self) -> list[Alert]:
        return [a for a in self.alerts(AlertEvent.DEGRADED) if a.status == "degraded"]

    def episode_ends(self) -> list[Alert]:
        return [a for a in self.alerts(AlertEvent.DEGRADED) if a.status == "ended"]


def test_two_down_targets_of_four_checked_every_10s_never_trip_and_a_third_is_announced(
    store: SqliteStore, server: SmtpServer
) -> None:
    # GIVEN four targets checked every 10 s; two are really down (refused), two healthy
    dead = closed_port()
    store.put_items(
        [item(f"down{i}", dead, interval_s=10) for i in range(2)]
        + [item(f"ok{i}", server.port, interval_s=10) for i in range(2)]
    )
    run = Run(store, Clock())
    # WHEN `run` goes on for three minutes (18 slots each: 36 failed checks)
    for _ in range(18):
        run.step(10)
    # THEN two failing targets are two outages, not a monitor fault: no degraded alert,
    # each down target announced once, the healthy ones kept passing
    assert run.degraded_starts() == []
    assert sorted(a.target_id for a in run.alerts(AlertEvent.DOWN)) == ["down0", "down1"]
    healthy = [r for r in run.listener.reports if r.target.target_id.startswith("ok")]
    assert len(healthy) >= 30
    assert all(r.result is not None and r.result.status.value == "ok" for r in healthy)
    # WHEN a third target goes down while the other two stay down
    store.put_item(item("ok0", dead, interval_s=10))
    for _ in range(12):
        run.step(10)
    # THEN it is announced at once (three of four failing is still no monitor fault)
    assert run.degraded_starts() == []
    third = run.alerts(AlertEvent.DOWN, "ok0")
    assert len(third) == 1 and not third[0].details.get("held")


def test_eight_of_ten_targets_failing_sends_one_degraded_alert_and_holds_their_downs(
    store: SqliteStore, server: SmtpServer
) -> None:
    # GIVEN ten targets checked every 10 s, eight of them failing (the monitor's side)
    dead = closed_port()
    store.put_items(
        # the re-check (1 s) lets the window's other failures arrive before a check asks
        [item(f"t{i}", dead, interval_s=10, recheck_delay_s=1) for i in range(8)]
        + [item(f"ok{i}", server.port, interval_s=10) for i in range(2)]
    )
    run = Run(store, Clock(T0 + timedelta(seconds=59)))  # first slots in one minute
    # WHEN two minutes go by
    for _ in range(12):
        run.step(10)
    # THEN one degraded alert, counted in targets (8 of 10), not in checks
    starts = run.degraded_starts()
    assert len(starts) == 1
    assert (starts[0].details["failed"], starts[0].details["total"]) == (8, 10)
    assert "8 of 10 targets" in alert_text.text(starts[0])
    assert run.alerts(AlertEvent.DOWN) == []


def _episode(store: SqliteStore, server: SmtpServer, dead: int) -> Run:
    """Ten targets, eight failing together from the start (an episode), two healthy;
    ``ok0`` goes down two minutes in, and its down alert is held."""
    # the re-check (1 s) lets the window's other failures arrive before a check asks
    store.put_items(
        [item(f"t{i}", dead, recheck_delay_s=1) for i in range(8)]
        + [item(f"ok{i}", server.port) for i in range(2)]
    )
    clock = Clock(T0 + timedelta(seconds=59))  # each minute's slots fall in one window
    run = Run(store, clock)
    run.step(60)
    run.step(60)
    assert len(run.degraded_starts()) == 1
    store.put_item(item("ok0", dead, recheck_delay_s=1))
    run.step(60)
    assert run.alerts(AlertEvent.DOWN) == []
    return run


def test_a_target_down_during_an_episode_is_announced_at_its_end_marked_held_after_the_end_alert(
    store: SqliteStore, server: SmtpServer
) -> None:
    dead = closed_port()
    # GIVEN an episode, and during it a target going down, now checked only every
    # 30 minutes (so its own next check is not what announces it)
    run = _episode(store, server, dead)
    store.put_item(item("ok0", dead, interval_s=1800))
    # WHEN the monitor's side is fixed: the eight answer again, ok0 is really down
    store.put_items([item(f"t{i}", server.port, recheck_delay_s=1) for i in range(8)])
    run.step(60)  # the first clean minute: its verdict is known once it is over
    run.step(60)
    run.step(60)
    # THEN the end of the episode is announced, listing the targets it held
    ends = run.episode_ends()
    assert len(ends) == 1
    held = {h["target_id"]: h for h in ends[0].details["held"]}
    assert sorted(held) == ["ok0"] + [f"t{i}" for i in range(8)]
    assert held["ok0"]["still_down"] is True and held["t0"]["still_down"] is False
    assert "ok0" in alert_text.text(ends[0])
    # AND right after it, the held down alert of the target still down, marked held
    # since the episode began; the eight that recovered were never announced
    downs = run.alerts(AlertEvent.DOWN)
    assert [a.target_id for a in downs] == ["ok0"]
    assert run.sink.alerts.index(downs[0]) == run.sink.alerts.index(ends[0]) + 1
    assert downs[0].details["held"] is True
    assert downs[0].details["episode_since"] == ends[0].since
    assert "monitor-degraded episode" in alert_text.text(downs[0])
    # AND nothing more: no second end alert, no second down alert
    run.step(60)
    assert len(run.episode_ends()) == 1 and len(run.alerts(AlertEvent.DOWN)) == 1


def test_a_down_alert_held_15_minutes_goes_out_marked_held_while_the_episode_lasts(
    store: SqliteStore, server: SmtpServer
) -> None:
    dead = closed_port()
    # GIVEN an episode that does not end, and a target going down two minutes in
    run = _episode(store, server, dead)
    # WHEN 12 more minutes pass: 14 minutes of holding for the first eight
    for _ in range(11):
        run.step(60)
    assert run.alerts(AlertEvent.DOWN) == []
    # THEN at 15 minutes each of the eight goes out, marked held, and ok0 keeps waiting
    run.step(60)
    run.step(60)
    first = run.alerts(AlertEvent.DOWN)
    assert sorted(a.target_id for a in first) == [f"t{i}" for i in range(8)]
    assert all(a.details["held"] is True for a in first)
    assert all(a.details["held_since"] == "2026-11-25T12:00:59Z" for a in first)
    # AND ok0, held from minute 2, goes out 15 minutes after that — the episode goes on
    for _ in range(3):
        run.step(60)
    late = run.alerts(AlertEvent.DOWN, "ok0")
    assert len(late) == 1 and late[0].details["held"] is True
    assert run.episode_ends() == []
    assert len(run.degraded_starts()) == 1
    # AND none of them is sent twice
    run.step(60)
    assert len(run.alerts(AlertEvent.DOWN)) == 9
