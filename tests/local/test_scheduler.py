"""The local scheduler in-process: due slots, restarts, in-flight targets, bad items,
the monitor-degraded gate and stopping — probing real loopback servers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from local.scheduler_helpers import T0, Clock, Listener, item
from smtpwatch.core.schedule import next_slot
from smtpwatch.core.target import Target
from smtpwatch.local.scheduler import LocalScheduler
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.service.memory import MemorySink
from smtpwatch.testing.servers import HostileServer, SmtpServer, closed_port


@pytest.fixture
def plain_server(smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_server("127.0.0.1")


def scheduler(store: SqliteStore, clock: Clock, **kw: Any) -> tuple[LocalScheduler, Listener]:
    listener = Listener()
    sink = kw.pop("sink", MemorySink())
    sched = LocalScheduler(
        store,
        sinks=[("memory", sink)],
        listener=listener,
        now=clock,
        concurrency=kw.pop("concurrency", 4),
        retention_days=None,
        **kw,
    )
    return sched, listener


def settle(sched: LocalScheduler) -> None:
    assert sched._pool.wait_idle(30)


def test_new_target_is_checked_at_once_then_on_its_slots(
    store: SqliteStore, plain_server: SmtpServer
) -> None:
    clock = Clock()
    store.put_item(item("mx1", plain_server.port))
    target, _ = Target.from_item(store.get_item("mx1") or {}, strict=True)
    sched, listener = scheduler(store, clock)
    # WHEN the first tick sees a target never checked THEN it is checked at once
    assert sched.tick() == 1
    settle(sched)
    # AND not again before its next slot on the shared grid, however often it ticks
    upcoming = next_slot(target, T0)
    while clock.now + timedelta(seconds=10) < upcoming:
        clock.advance(10)
        assert sched.tick() == 0
    # AND once that slot has come
    clock.now = upcoming
    assert sched.tick() == 1
    settle(sched)
    clock.advance(30)
    assert sched.tick() == 0
    assert [r.result.status.value for r in listener.reports if r.result] == ["ok", "ok"]
    assert store.count_results("mx1") == 2


def test_restart_resumes_each_target_from_its_newest_result(
    store: SqliteStore, plain_server: SmtpServer
) -> None:
    clock = Clock()
    store.put_item(item("mx1", plain_server.port))
    first, _ = scheduler(store, clock)
    assert first.tick() == 1
    settle(first)
    # WHEN the scheduler restarts within the interval THEN nothing is re-probed
    again, _ = scheduler(store, clock)
    assert again.tick() == 0
    # AND after a long stop the target is probed once, not once per missed slot
    clock.advance(3600)
    assert again.tick() == 1
    settle(again)
    assert again.tick() == 0


def test_target_still_in_flight_is_not_dispatched_twice(
    store: SqliteStore, hostile: Callable[[HostileServer], HostileServer]
) -> None:
    slow = hostile(HostileServer.delayed(1.5))
    clock = Clock()
    store.put_item(item("slow", slow.port, interval_s=10))
    sched, listener = scheduler(store, clock)
    assert sched.tick() == 1
    clock.advance(10)  # its next slot passes while the first check still waits
    assert sched.tick() == 0
    settle(sched)
    assert len(listener.reports) == 1


def test_targets_added_or_edited_are_picked_up_without_restart(
    store: SqliteStore, plain_server: SmtpServer
) -> None:
    clock = Clock()
    sched, listener = scheduler(store, clock)
    assert sched.tick() == 0
    store.put_item(item("late", plain_server.port))
    assert sched.tick() == 1
    settle(sched)
    store.put_item(item("late", closed_port()))  # edited: now points at a dead port
    clock.advance(60)
    assert sched.tick() == 1
    settle(sched)
    kinds = [r.result.error.kind.value if r.result and r.result.error else None
             for r in listener.reports]  # fmt: skip
    assert kinds == [None, "connect_refused"]


def test_invalid_item_is_reported_once_and_the_others_still_run(
    store: SqliteStore, plain_server: SmtpServer
) -> None:
    clock = Clock()
    store.put_items([item("good", plain_server.port), {"target_id": "bad", "host": "x",
                                                        "port": 70000}])  # fmt: skip
    sched, listener = scheduler(store, clock)
    for _ in range(3):
        sched.tick()
        settle(sched)
    bad = [n for n in listener.notices if "bad" in n]
    assert len(bad) == 1 and "port" in bad[0]
    assert store.count_results("good") == 1


def test_unknown_attribute_is_logged_and_the_target_still_probed(
    store: SqliteStore, plain_server: SmtpServer
) -> None:
    store.put_item(item("mx1", plain_server.port, timeout=5))
    sched, listener = scheduler(store, Clock())
    assert sched.tick() == 1
    settle(sched)
    assert any("unknown attribute(s) timeout" in n for n in listener.notices)


def test_disabled_targets_are_not_probed(store: SqliteStore) -> None:
    store.put_item(item("off", closed_port(), enabled=False))
    sched, _ = scheduler(store, Clock())
    assert sched.tick() == 0
    assert sched.sweep().reports == []


def test_degraded_sweep_sends_one_degraded_alert_instead_of_a_flood(
    store: SqliteStore,
) -> None:
    # GIVEN six targets that all fail at once (the monitor's network, not the servers)
    store.put_items([item(f"t{i}", closed_port(), recheck_delay_s=1) for i in range(6)])
    sink = MemorySink()
    sched, _ = scheduler(store, Clock(), sink=sink, concurrency=8)
    # WHEN one sweep runs
    summary = sched.sweep()
    # THEN one monitor-degraded alert goes out and the down alerts are held
    assert sink.events == ["degraded"]
    assert summary.degraded_alert is not None
    assert summary.degraded_alert.details["failed"] == 6
    assert summary.exit_code == 2
    states = {s.target_id: s for s in store.iter_states()}
    assert all(s.status.value == "down" and not s.alerted for s in states.values())


def test_a_few_failures_alert_normally(store: SqliteStore, plain_server: SmtpServer) -> None:
    store.put_items(
        [item("dead", closed_port())] + [item(f"ok{i}", plain_server.port) for i in range(5)]
    )
    sink = MemorySink()
    sched, _ = scheduler(store, Clock(), sink=sink)
    summary = sched.sweep()
    assert sink.events == ["down"] and summary.exit_code == 2
    assert summary.counts() == {"ok": 5, "warning": 0, "critical": 1, "unknown": 0}


def test_shutdown_abandons_slow_checks_and_closes_the_store_cleanly(
    tmp_path: Path, hostile: Callable[[HostileServer], HostileServer]
) -> None:
    slow = hostile(HostileServer.delayed(5))
    db = tmp_path / "db"
    store = SqliteStore(db)
    store.put_items([item(f"s{i}", slow.port) for i in range(4)])
    sched, listener = scheduler(store, Clock(), concurrency=2)
    assert sched.tick() == 4
    # WHEN it stops with no grace while two checks wait and two are queued
    abandoned = sched.shutdown(grace_s=0)
    # THEN the running ones are abandoned (the queued ones never start), nothing was
    # written, the file is sound
    assert 1 <= abandoned <= 2
    with SqliteStore(db) as again:
        assert again.check_integrity() == "ok"
        assert again.count_results() == 0
        assert list(again.iter_states()) == []
    assert listener.reports == []


def test_degraded_episode_over_several_minutes_sends_one_degraded_alert(
    store: SqliteStore,
) -> None:
    # GIVEN six targets failing together, minute after minute, under `run`
    store.put_items([item(f"t{i}", closed_port(), recheck_delay_s=1) for i in range(6)])
    sink = MemorySink()
    clock = Clock()
    clock.now = T0 + timedelta(seconds=59)  # every first slot falls in one minute
    sched, _ = scheduler(store, clock, sink=sink, concurrency=8)
    for _ in range(3):
        assert sched.tick() == 6
        settle(sched)
        clock.advance(60)
    sched.tick()
    # THEN one degraded alert for the episode; the down alerts stay held
    assert sink.events == ["degraded"]


def test_after_a_degraded_episode_the_held_down_alerts_still_true_go_out_once(
    store: SqliteStore, plain_server: SmtpServer
) -> None:
    # GIVEN six targets failing together for two minutes: one degraded alert
    store.put_items([item(f"t{i}", closed_port(), recheck_delay_s=1) for i in range(6)])
    sink = MemorySink()
    clock = Clock()
    clock.now = T0 + timedelta(seconds=59)  # each tick's slots fall in one minute
    sched, _ = scheduler(store, clock, sink=sink, concurrency=8)

    def minute() -> None:
        sched.tick()
        settle(sched)
        clock.advance(60)

    minute()
    minute()
    assert sink.events == ["degraded"]
    # WHEN the monitor is fine again (14 healthy targets join; the six are really down)
    store.put_items([item(f"ok{i}", plain_server.port) for i in range(14)])
    # THEN the first clean minute ends the episode; its verdict is known when it is
    # over, so its down alerts are still held
    minute()
    assert sink.events == ["degraded"]
    # AND once it is over, the end of the episode is announced with the six it held,
    # then each held down alert still true goes out, once, marked held
    minute()
    assert sink.events == ["degraded", "degraded"] + ["down"] * 6
    end = sink.alerts[1]
    assert end.status == "ended"
    assert sorted(h["target_id"] for h in end.details["held"]) == [f"t{i}" for i in range(6)]
    assert all(a.details["held"] for a in sink.alerts[2:])
    minute()
    assert sink.events == ["degraded", "degraded"] + ["down"] * 6
