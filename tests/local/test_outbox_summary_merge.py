"""The 24 h summary of the alert outbox while an attempt to send it is in flight: alerts
folded into it meanwhile must still reach the receiver, under an id it has not seen.

Real SQLite file, real loopback receiver, the real delivery workers; only the clock is
the test's (the 24 h boundary is crossed on demand)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from smtpwatch.core.alerting import alert_id_for
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.delivery import Deliveries, OutboxSink, webhook_channel
from smtpwatch.local.outbox import Outbox
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.webhook_receivers import Received, Reply, WebhookReceiver

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.t = T0.timestamp()

    def __call__(self) -> float:
        return self.t

    def dt(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


class Quiet:
    def notice(self, text: str) -> None:
        pass


def _alert(target_id: str, event: AlertEvent, at: datetime) -> Alert:
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


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_an_alert_folded_into_the_summary_while_it_is_being_sent_still_arrives(
    tmp_path: Path,
) -> None:
    arrived = threading.Event()
    release = threading.Event()
    seen: list[Received] = []

    def reply(request: Received) -> Reply:
        seen.append(request)
        if len(seen) == 1:  # hold the first summary attempt in flight
            arrived.set()
            release.wait(10)
        return Reply(200)

    clock = Clock()
    store = SqliteStore(tmp_path / "smtpwatch.db")
    outbox = Outbox(store, clock=clock)
    with WebhookReceiver(reply) as receiver:
        channel = webhook_channel(receiver.url(), index=1, timeout_s=15)
        deliveries = Deliveries(outbox, [channel], listener=Quiet())
        sink = OutboxSink(outbox, [channel])
        down = _alert("mx1", AlertEvent.DOWN, clock.dt())
        sink.send(down)
        clock.t += 100
        recovered = _alert("mx1", AlertEvent.RECOVERED, clock.dt())
        sink.send(recovered)  # waits behind the DOWN: same target, same channel
        clock.t = T0.timestamp() + DAY + 50  # the DOWN is over 24 h old, not the RECOVERED
        deliveries.start()
        try:
            assert arrived.wait(10), "the summary was not tried"
            clock.t = T0.timestamp() + DAY + 150  # now the RECOVERED is too ...
            deliveries.wake()  # ... and is folded while the first summary is in flight

            def folded() -> bool:
                return any(
                    e.alert.alert_id == recovered.alert_id and e.state == "summarised"
                    for e in outbox.entries()
                )

            assert _wait(folded, 10)
            release.set()

            def covered() -> set[str]:
                ids: set[str] = set()
                for request in list(seen):
                    ids.update(request.doc.get("details", {}).get("alert_ids", []))
                return ids

            # The receiver must get the RECOVERED, in a summary whose id is new to it
            # (receivers drop a webhook-id they already took).
            assert _wait(lambda: recovered.alert_id in covered(), 10), (
                "the alert folded into the summary in flight was never delivered"
            )
            ids = [r.headers["webhook-id"] for r in seen]
            carrying = [
                r.headers["webhook-id"]
                for r in seen
                if recovered.alert_id in r.doc.get("details", {}).get("alert_ids", [])
            ]
            assert ids.count(carrying[0]) == 1
        finally:
            release.set()
            deliveries.stop(grace_s=1)
    assert down.alert_id in {a for r in seen for a in r.doc.get("details", {}).get("alert_ids", [])}
    assert not outbox.entries(states=("pending",))
    store.close()
