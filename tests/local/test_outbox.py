"""The local alert outbox and its delivery workers, on a real SQLite file and real
loopback receivers, with a fake clock: persistence across restarts, order per target
and channel, lateness, back-off with jitter, giving up on a 4xx, the 24 h summary —
and a scheduler whose checks never wait for a stuck receiver."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from smtpwatch.core.alerting import alert_id_for
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.delivery import Channel, Deliveries, OutboxSink, webhook_channel
from smtpwatch.local.outbox import Outbox, RetryPolicy
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import SmtpServer, closed_port
from smtpwatch.testing.webhook_receivers import DripReceiver, Received, Reply, WebhookReceiver

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0.timestamp()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def dt(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


class Notices:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def notice(self, text: str) -> None:
        self.lines.append(text)


def alert(target_id: str, event: AlertEvent, at: datetime) -> Alert:
    stamp = format_ts(at)
    return Alert(
        alert_id=alert_id_for(target_id, event, stamp),
        event=event,
        target_id=target_id,
        status="down" if event is AlertEvent.DOWN else "up",
        created_at=stamp,
        target={"target_id": target_id, "name": target_id, "host": f"{target_id}.test"},
        since=stamp,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "smtpwatch.db"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(200) as r:
        yield r


class Rig:
    """An outbox on ``db`` with one webhook channel, a fake clock and seeded jitter."""

    def __init__(self, db: Path, url: str, clock: Clock, **policy: Any) -> None:
        self.store = SqliteStore(db)
        self.clock = clock
        self.notices = Notices()
        self.outbox = Outbox(
            self.store, clock=clock, policy=RetryPolicy(**policy), rng=random.Random(7)
        )
        self.channel = webhook_channel(url, index=1, timeout_s=3)
        self.deliveries = Deliveries(self.outbox, [self.channel], listener=self.notices)
        self.sink = OutboxSink(self.outbox, [self.channel])

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def rig_factory(db: Path) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(url: str, clock: Clock | None = None, **policy: Any) -> Rig:
        rig = Rig(db, url, clock or Clock(), **policy)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def deliver_all(rig: Rig, rounds: int = 20) -> None:
    """Step the fake clock and run due deliveries until nothing is pending or due."""
    for _ in range(rounds):
        rig.deliveries.deliver_due()
        if not rig.outbox.entries(states=("pending",)):
            return
        rig.clock.advance(rig.outbox.policy.cap_s)


# ---- persisted first, delivered later -------------------------------------------------


def test_sending_only_records_the_alert(receiver: WebhookReceiver, rig_factory: Any) -> None:
    rig = rig_factory(receiver.url())
    rig.sink.send(alert("mx1", AlertEvent.DOWN, T0))
    assert receiver.received == []  # nothing went out in the check's own time
    (entry,) = rig.outbox.entries()
    assert entry.state == "pending" and entry.channel == rig.channel.key
    rig.deliveries.deliver_due()
    assert [d["event"] for d in receiver.docs()] == ["down"]
    assert [e.state for e in rig.outbox.entries()] == ["delivered"]


def test_recording_twice_is_one_delivery(receiver: WebhookReceiver, rig_factory: Any) -> None:
    rig = rig_factory(receiver.url())
    a = alert("mx1", AlertEvent.DOWN, T0)
    rig.sink.send(a)
    rig.sink.send(a)  # a check that crashed after recording sends its pending alert again
    deliver_all(rig)
    assert len(receiver.posts()) == 1


def test_pending_alerts_survive_a_restart(
    db: Path, receiver: WebhookReceiver, rig_factory: Any
) -> None:
    receiver.set_reply(503)
    clock = Clock()
    first = rig_factory(receiver.url(), clock)
    first.sink.send(alert("mx1", AlertEvent.DOWN, T0))
    first.deliveries.deliver_due()
    first.close()
    # WHEN the monitor starts again and the receiver works again
    receiver.set_reply(200)
    clock.advance(3600)
    again = rig_factory(receiver.url(), clock)
    deliver_all(again)
    # THEN the alert recorded before the restart is delivered once, with its id
    assert [r.doc["event"] for r in receiver.posts()] == ["down", "down"]
    assert [e.state for e in again.outbox.entries()] == ["delivered"]


# ---- order per target and channel, lateness -------------------------------------------


def test_down_and_recovered_go_in_order_after_a_dead_spell_the_down_marked_late(
    receiver: WebhookReceiver, rig_factory: Any
) -> None:
    rig = rig_factory(f"http://127.0.0.1:{closed_port()}/hook")
    down = alert("mx1", AlertEvent.DOWN, T0)
    recovered = alert("mx1", AlertEvent.RECOVERED, T0 + timedelta(minutes=7))
    rig.sink.send(down)
    rig.deliveries.deliver_due()
    rig.clock.advance(420)
    rig.sink.send(recovered)
    rig.deliveries.deliver_due()
    # the receiver comes back (the channel is fixed to where it listens)
    rig.deliveries.channels[0] = webhook_channel(receiver.url(), index=1, timeout_s=3)
    deliver_all(rig)
    docs = receiver.docs()
    assert [d["event"] for d in docs] == ["down", "recovered"]
    assert [d["alert_id"] for d in docs] == [down.alert_id, recovered.alert_id]
    assert [d["created_at"] for d in docs] == [down.created_at, recovered.created_at]
    assert [d["late"] for d in docs] == [True, False]


def test_one_targets_failing_alert_never_blocks_other_targets(
    receiver: WebhookReceiver, rig_factory: Any
) -> None:
    # GIVEN a receiver that answers 500 to every alert about target "a"
    def reply(request: Received) -> Reply:
        return Reply(500 if request.doc.get("target", {}).get("target_id") == "a" else 200)

    receiver.set_reply(reply)
    rig = rig_factory(receiver.url())
    rig.sink.send(alert("a", AlertEvent.DOWN, T0))
    rig.sink.send(alert("b", AlertEvent.DOWN, T0 + timedelta(seconds=1)))
    rig.sink.send(alert("a", AlertEvent.RECOVERED, T0 + timedelta(seconds=2)))
    rig.sink.send(alert("c", AlertEvent.DOWN, T0 + timedelta(seconds=3)))
    for _ in range(3):
        rig.deliveries.deliver_due()
        rig.clock.advance(rig.outbox.policy.cap_s)
    delivered = [(d["target"]["target_id"], d["event"]) for d in receiver.docs()]
    # THEN b and c are delivered; a's recovery never overtakes a's undelivered down
    assert ("b", "down") in delivered and ("c", "down") in delivered
    assert ("a", "recovered") not in [
        (r.doc["target"]["target_id"], r.doc["event"]) for r in receiver.posts()
    ]
    states = {(e.alert.target_id, e.alert.event.value): e.state for e in rig.outbox.entries()}
    assert states[("a", "down")] == "pending" and states[("a", "recovered")] == "pending"


# ---- retries -------------------------------------------------------------------------------


def test_retries_back_off_with_jitter_up_to_the_cap(rig_factory: Any) -> None:
    rig = rig_factory(f"http://127.0.0.1:{closed_port()}/hook", base_s=2.0, cap_s=60.0)
    rig.sink.send(alert("mx1", AlertEvent.DOWN, T0))
    waits = []
    for _ in range(8):
        rig.deliveries.deliver_due()
        (entry,) = rig.outbox.entries()
        waits.append(entry.next_attempt - rig.clock())
        rig.clock.t = entry.next_attempt
    for attempt, wait in enumerate(waits, start=1):
        full = min(60.0, 2.0 * 2 ** (attempt - 1))
        assert full / 2 <= wait <= full, (attempt, wait)
    assert len({round(w, 3) for w in waits[-3:]}) > 1  # jittered, not in lockstep


def test_a_4xx_is_given_up_after_a_few_tries_and_reported(
    receiver: WebhookReceiver, rig_factory: Any
) -> None:
    receiver.set_reply(Reply(400, body=b"unknown field"))
    rig = rig_factory(receiver.url(), give_up_after=3)
    rig.sink.send(alert("mx1", AlertEvent.DOWN, T0))
    deliver_all(rig)
    assert len(receiver.posts()) == 3
    (entry,) = rig.outbox.entries()
    assert entry.state == "given_up" and "HTTP 400" in (entry.last_error or "")
    assert any("given up" in line and "HTTP 400" in line for line in rig.notices.lines)
    # AND the target's next alert is not stuck behind it
    receiver.set_reply(200)
    rig.sink.send(alert("mx1", AlertEvent.RECOVERED, T0 + timedelta(minutes=1)))
    deliver_all(rig)
    assert receiver.docs()[-1]["event"] == "recovered"


@pytest.mark.parametrize("status", [408, 429, 500])
def test_retryable_failures_are_never_given_up(
    receiver: WebhookReceiver, rig_factory: Any, status: int
) -> None:
    receiver.set_reply(status)
    rig = rig_factory(receiver.url(), give_up_after=3)
    rig.sink.send(alert("mx1", AlertEvent.DOWN, T0))
    for _ in range(6):
        rig.deliveries.deliver_due()
        rig.clock.advance(rig.outbox.policy.cap_s)
    assert len(receiver.posts()) == 6
    assert [e.state for e in rig.outbox.entries()] == ["pending"]


# ---- a long dead spell: one summary, not a replay -----------------------------------------


def test_alerts_pending_over_24_hours_are_summarised_in_one_message(
    receiver: WebhookReceiver, rig_factory: Any
) -> None:
    receiver.set_reply(503)
    rig = rig_factory(receiver.url())
    old = []
    for i in range(12):
        for event in (AlertEvent.DOWN, AlertEvent.RECOVERED):
            a = alert(f"t{i}", event, rig.clock.dt())
            old.append(a)
            rig.sink.send(a)
            rig.clock.advance(60)
    rig.deliveries.deliver_due()
    # a day later, one more alert; then the receiver works again
    rig.clock.advance(25 * 3600)
    fresh = alert("t0", AlertEvent.DOWN, rig.clock.dt())
    rig.sink.send(fresh)
    receiver.set_reply(200)
    receiver.received.clear()
    deliver_all(rig)
    docs = receiver.docs()
    assert [d["event"] for d in docs] == ["summary", "down"]
    summary = docs[0]
    assert summary["details"]["count"] == 24
    assert summary["details"]["by_event"] == {"down": 12, "recovered": 12}
    assert sorted(summary["details"]["targets"]) == sorted(f"t{i}" for i in range(12))
    assert summary["details"]["first_at"] == old[0].created_at
    assert docs[1]["alert_id"] == fresh.alert_id
    states = [e.state for e in rig.outbox.entries()]
    assert states.count("summarised") == 24


# ---- checking never waits on delivery ---------------------------------------------------


def test_checks_stay_on_schedule_while_a_dripping_receiver_holds_every_alert(
    db: Path, smtp_server: Callable[..., SmtpServer]
) -> None:
    from smtpwatch.local.scheduler import LocalScheduler

    server = smtp_server("127.0.0.1")
    store = SqliteStore(db)

    def item(target_id: str, port: int) -> dict[str, Any]:
        return {"target_id": target_id, "host": "127.0.0.1", "port": port,
                "encryption": "none", "interval_s": 10, "recheck_delay_s": 0}  # fmt: skip

    store.put_items([item("a-dead", closed_port()), item("b-dead", closed_port()),
                     item("z-good", server.port)])  # fmt: skip
    now = [T0]
    outbox = Outbox(store)
    with DripReceiver(every_s=0.5) as drip:
        channel = webhook_channel(drip.url(), index=1, timeout_s=5)
        deliveries = Deliveries(outbox, [channel], listener=Notices())
        deliveries.start()
        sched = LocalScheduler(
            store,
            sinks=[("outbox", OutboxSink(outbox, [channel], wake=deliveries.wake))],
            concurrency=2,
            now=lambda: now[0],
            retention_days=None,
        )
        try:
            for tick in range(4):
                started = time.monotonic()
                assert sched.tick() == 3, f"tick {tick}: a target was still in flight"
                # THEN the checks finish while the receiver holds the worker's attempt
                assert sched._pool.wait_idle(4), "checks waited on the stuck receiver"
                assert time.monotonic() - started < 4
                if tick == 0:  # from now on an attempt is stuck in the drip
                    assert _wait(lambda: drip.requests >= 1, 5)
                now[0] += timedelta(seconds=10)
        finally:
            deliveries.stop(grace_s=0)
            sched.shutdown(grace_s=0)
    for target in ("a-dead", "b-dead", "z-good"):
        with SqliteStore(db) as check:
            assert check.count_results(target) == 4


def test_stopping_the_workers_is_prompt_even_mid_attempt(db: Path) -> None:
    store = SqliteStore(db)
    outbox = Outbox(store)
    with DripReceiver(every_s=0.5) as drip:
        channel: Channel = webhook_channel(drip.url(), index=1, timeout_s=30)
        deliveries = Deliveries(outbox, [channel], listener=Notices())
        deliveries.start()
        OutboxSink(outbox, [channel]).send(alert("mx1", AlertEvent.DOWN, T0))
        assert _wait(lambda: drip.requests == 1, 10)
        started = time.monotonic()
        deliveries.stop(grace_s=1)
        assert time.monotonic() - started < 3
    assert [e.state for e in outbox.entries()] == ["pending"]  # sent again next start
    store.close()


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        threading.Event().wait(0.05)
    return predicate()
