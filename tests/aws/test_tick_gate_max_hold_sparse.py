"""The AWS gate's maximum hold when the monitor's targets are checked every 5 minutes,
so the ticks between their checks have no probes: each degraded tick then follows a
tick that is not degraded, and must not start the hold of the same targets over again.
A held down alert still true goes out within the maximum hold and the housekeeping's
grace — not never. Under moto, with real probes of loopback servers; the checks' clock
starts at the real time (results carry the real time they ran)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from smtpwatch.adapters.dynamodb import DynamoBookkeeping, DynamoResultStore, DynamoStateStore
from smtpwatch.adapters.tick_gate import TickGate, settle_episode
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import AlertEvent
from smtpwatch.core.target import Target
from smtpwatch.service.check import CheckDeps, run_check
from smtpwatch.service.gate import tick_bucket
from smtpwatch.service.memory import MemorySink
from smtpwatch.testing.servers import BlackHole, SmtpServer, closed_port


def _at(minutes: float) -> datetime:
    return START[0] + timedelta(minutes=minutes)


START: list[datetime] = []  # the test's own start (results carry the real time they ran)


def test_targets_checked_every_5_minutes_are_not_held_for_ever(
    tables: dict[str, str], ddb: Any, smtp_server: Callable[..., SmtpServer]
) -> None:
    START[:] = [datetime.now(UTC).replace(second=0, microsecond=0)]
    server = smtp_server("127.0.0.1")
    now = [_at(0)]
    sink = MemorySink()
    states = DynamoStateStore(ddb, tables["StateTable"])
    books = DynamoBookkeeping(ddb, tables["StateTable"])
    deps = CheckDeps(
        states=states,
        results=DynamoResultStore(ddb, tables["ResultsTable"]),
        sinks=[sink],
        gate=TickGate(books, [sink], now=lambda: now[0]),
        now=lambda: now[0],
        sleep=lambda _s: time.sleep(0.5),
    )
    dead = closed_port()
    with BlackHole() as hole:

        def target(target_id: str, port: int, timeout_s: int = 5) -> Target:
            item = {"target_id": target_id, "host": "127.0.0.1", "port": port,
                    "encryption": "none", "interval_s": 300, "recheck_delay_s": 1,
                    "timeout_s": timeout_s}  # fmt: skip
            return Target.from_item(item, strict=True)[0]

        # six refused at once, two timing out after 2 s (their checks ask the gate
        # last, when the tick is already degraded), two healthy
        targets = {
            **{f"t{i}": target(f"t{i}", dead) for i in range(6)},
            **{f"slow{i}": target(f"slow{i}", hole.port, timeout_s=2) for i in range(2)},
            **{f"ok{i}": target(f"ok{i}", server.port) for i in range(2)},
        }
        # WHEN eight of ten keep failing for 25 minutes, all checked at minutes 0, 5, ...
        # and the dispatcher's housekeeping runs every minute
        for minute in range(26):
            if minute % 5 == 0:
                scheduled_at = format_ts(_at(minute))
                books.record_dispatched(tick_bucket(scheduled_at), len(targets))
                now[0] = _at(minute) + timedelta(seconds=5)
                with ThreadPoolExecutor(max_workers=len(targets)) as pool:
                    list(
                        pool.map(
                            lambda t, at=scheduled_at: run_check(t, scheduled_at=at, deps=deps),
                            targets.values(),
                        )
                    )
            now[0] = _at(minute + 1)
            settle_episode(books, states, [sink], targets=targets.get, tick=now[0], now=now[0])
    # THEN the slow ones' down alerts went out, once each, marked held
    downs = [a for a in sink.alerts if a.event is AlertEvent.DOWN]
    assert sorted(a.target_id for a in downs if a.target_id.startswith("slow")) == [
        "slow0",
        "slow1",
    ]
    assert all(a.details.get("held") is True for a in downs)
    assert len({a.target_id for a in downs}) == len(downs)  # none twice
