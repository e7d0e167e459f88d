"""`run --once` (cron) prunes the alert outbox too: delivered and given-up rows older
than the keep period go, as the continuous workers prune them hourly; without it every
alert ever sent stays in the database of a cron-driven monitor. Real SQLite, a real
loopback receiver, a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from smtpwatch.core.alerting import alert_id_for
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.delivery import Deliveries, OutboxSink, webhook_channel
from smtpwatch.local.outbox import Outbox
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.webhook_receivers import WebhookReceiver

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Quiet:
    def notice(self, text: str) -> None:
        pass


def test_run_once_drain_prunes_rows_done_longer_than_the_keep_period(tmp_path: Path) -> None:
    now = [T0.timestamp()]
    with WebhookReceiver(200) as receiver, SqliteStore(tmp_path / "smtpwatch.db") as store:
        outbox = Outbox(store, clock=lambda: now[0])
        channel = webhook_channel(receiver.url(), index=1, timeout_s=5)
        stamp = format_ts(T0)
        OutboxSink(outbox, [channel]).send(
            Alert(
                alert_id=alert_id_for("mx1", AlertEvent.DOWN, stamp),
                event=AlertEvent.DOWN,
                target_id="mx1",
                status="down",
                created_at=stamp,
                target={"target_id": "mx1", "name": "mx1", "host": "mx1.test"},
                since=stamp,
            )
        )
        # one `run --once` delivers it ...
        assert Deliveries(outbox, [channel], listener=Quiet()).drain(10)
        assert [e.state for e in outbox.entries()] == ["delivered"]
        # ... and a `run --once` after the keep period forgets it
        now[0] += outbox.policy.keep_done_s + 3600
        assert Deliveries(outbox, [channel], listener=Quiet()).drain(10)
        assert outbox.entries() == []
