"""The monitor-degraded gate's maximum hold outlives the process that began holding.

`run --once` from cron (and `run` after a restart) keeps no episode in memory from
before: a target whose down alert was held, and that is still down and unannounced
once the maximum hold (15 minutes, plus the housekeeping's short grace) has passed,
must be announced — not held again by every new sweep that finds the monitor degraded.
Real loopback servers, a fake clock, one SQLite file shared by the runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from smtpwatch.core.state import AlertEvent
from smtpwatch.local.scheduler import LocalScheduler
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.service.memory import MemorySink
from smtpwatch.testing.servers import BlackHole, SmtpServer, closed_port


def _item(target_id: str, port: int, timeout_s: int = 5) -> dict[str, Any]:
    return {
        "target_id": target_id,
        "host": "127.0.0.1",
        "port": port,
        "encryption": "none",
        "interval_s": 300,
        # the re-check (1 s) lets the sweep's other failures arrive before a check asks
        "recheck_delay_s": 1,
        "timeout_s": timeout_s,
    }


def _sweep(db: Path, at: datetime) -> MemorySink:
    """One `run --once`: a new process (a new scheduler on the same database)."""
    sink = MemorySink()
    with SqliteStore(db) as store:
        sched = LocalScheduler(
            store, sinks=[("memory", sink)], now=lambda: at, concurrency=12, retention_days=None
        )
        try:
            sched.sweep(grace_s=10)
        finally:
            sched.shutdown(grace_s=0)
    return sink


def test_run_once_every_5_minutes_announces_downs_held_past_the_maximum(
    tmp_path: Path, smtp_server: Callable[..., SmtpServer]
) -> None:
    # The scheduler's clock starts at the real time of the test (not of its import):
    # results carry the real time they ran.
    T0 = datetime.now(UTC).replace(microsecond=0)
    server = smtp_server("127.0.0.1")
    db = tmp_path / "smtpwatch.db"
    dead = closed_port()
    with BlackHole() as hole:
        with SqliteStore(db) as store:
            # six refused at once, two timing out after 2 s (their checks ask the gate
            # last, when the sweep is already degraded), two healthy
            store.put_items(
                [_item(f"t{i}", dead) for i in range(6)]
                + [_item(f"slow{i}", hole.port, timeout_s=2) for i in range(2)]
                + [_item(f"ok{i}", server.port) for i in range(2)]
            )
        # GIVEN eight of ten targets failing at every sweep (really down, or the
        # monitor's side): the first sweep holds their down alerts
        first = _sweep(db, T0)
        assert [a.event for a in first.alerts] == [AlertEvent.DEGRADED]
        # WHEN `run --once` goes on every 5 minutes for 20 minutes, still 8 of 10 failing
        downs = []
        for minute in (5, 10, 15, 20):
            sink = _sweep(db, T0 + timedelta(minutes=minute))
            downs += [a for a in sink.alerts if a.event is AlertEvent.DOWN]
    # THEN the slow ones' held down alerts have gone out too, once, marked held: within
    # the maximum hold and the housekeeping's grace, not held by every new sweep for ever
    slow = sorted(a.target_id for a in downs if a.target_id.startswith("slow"))
    assert slow == ["slow0", "slow1"]
    assert all(a.details.get("held") is True for a in downs)
    assert len({a.target_id for a in downs}) == len(downs)  # none twice
