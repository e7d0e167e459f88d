"""Apprise notifications as a delivery channel, against real loopback HTTP receivers:
Apprise's ``json://`` and ``form://`` services post to any HTTP server, so the alert
that arrives is the one Slack, Teams or ntfy would get, through the same code."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from smtpwatch.core import alert_text
from smtpwatch.core.alerting import alert_id_for, make_test_alert
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.apprise_sink import AppriseSender, notify_channel
from smtpwatch.local.delivery import Deliveries, OutboxSink
from smtpwatch.local.delivery_errors import DeliveryError
from smtpwatch.local.outbox import Outbox
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import closed_port
from smtpwatch.testing.webhook_receivers import DripReceiver, WebhookReceiver

TOKEN = "tok3nSECRETvalue42"
STAMP = "2026-12-07T21:00:00Z"


def down_alert(target_id: str = "mx1") -> Alert:
    return Alert(
        alert_id=alert_id_for(target_id, AlertEvent.DOWN, STAMP),
        event=AlertEvent.DOWN,
        target_id=target_id,
        status="down",
        created_at=STAMP,
        target={"target_id": target_id, "name": target_id, "host": "mx1.example.test", "port": 25},
        since=STAMP,
        result={
            "status": "critical",
            "error": {"kind": "connect_refused", "phase": "connect", "message": "refused"},
        },
    )


def as_json(url: str) -> str:
    """The receiver's http:// URL as Apprise's json:// service, a password in it."""
    return url.replace("http://", f"json://monitor:{TOKEN}@", 1)


class Notices:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def notice(self, text: str) -> None:
        self.lines.append(text)


def test_the_alert_arrives_with_the_subject_as_title_and_the_text_as_body() -> None:
    alert = down_alert()
    with WebhookReceiver(200) as hook:
        # WHEN a down alert goes to a json:// service
        AppriseSender(as_json(hook.url("/notify")), timeout_s=5).send(alert)
        (got,) = hook.posts()
    # THEN the title is the alert's subject, the message its readable text without the
    # subject repeated, and the kind a failure (red in Slack, Teams, Discord)
    doc = json.loads(got.body)
    assert got.path == "/notify"
    assert doc["title"] == alert_text.subject(alert)
    assert doc["title"].startswith("[DOWN] mx1")
    assert doc["message"] == alert_text.text(alert).removeprefix(doc["title"]).strip("\n")
    assert "Next step: Is the SMTP service running" in doc["message"]
    assert f"Alert id: {alert.alert_id}" in doc["message"]
    assert doc["type"] == "failure"
    assert got.headers["authorization"].startswith("Basic ")  # the URL's user:password


def test_a_form_service_gets_the_same_words_and_a_recovery_is_a_success() -> None:
    alert = make_test_alert(now=datetime(2026, 12, 7, 21, 0, tzinfo=UTC))
    recovered = replace(down_alert(), event=AlertEvent.RECOVERED, status="ok")
    with WebhookReceiver(200) as hook:
        sender = AppriseSender(hook.url("/f").replace("http://", "form://"), timeout_s=5)
        sender.send(alert)
        sender.send(recovered)
        first, second = (parse_qs(r.body.decode()) for r in hook.posts())
    assert first["title"] == [alert_text.subject(alert)]
    assert "Nothing is wrong" in first["message"][0]
    assert first["type"] == ["info"]
    assert second["title"][0].startswith("[RECOVERED]") and second["type"] == ["success"]


def test_a_refusal_is_not_delivered_and_says_why_without_the_token() -> None:
    with WebhookReceiver(503) as hook:
        sender = AppriseSender(as_json(hook.url("/x")), timeout_s=5)
        with pytest.raises(DeliveryError) as failed:
            sender.send(down_alert())
    # Apprise's own verdict counts: its json service calls anything but a 2xx a failure
    assert "JSON did not take the notification" in str(failed.value)
    assert "503" in str(failed.value)
    assert not failed.value.permanent  # retried by the outbox rules
    assert TOKEN not in str(failed.value)


def test_a_dead_receiver_is_a_failure_naming_no_token() -> None:
    port = closed_port()
    sender = AppriseSender(f"json://monitor:{TOKEN}@127.0.0.1:{port}/{TOKEN}", timeout_s=5)
    with pytest.raises(DeliveryError) as failed:
        sender.send(down_alert())
    assert "Connection error" in str(failed.value)
    assert TOKEN not in str(failed.value) + sender.label


def test_a_hanging_receiver_is_cut_at_the_deadline() -> None:
    with DripReceiver(every_s=0.5) as drip:
        sender = AppriseSender(as_json(drip.url()), timeout_s=1)
        # WHEN the receiver answers one byte at a time, forever
        with pytest.raises(DeliveryError) as failed:
            sender.send(down_alert())
        # THEN the attempt ends at its deadline, kept for a retry
        assert str(failed.value) == "timed out after 1 s (deadline)"
        assert drip.requests == 1


def test_attempts_still_hanging_past_their_deadline_are_capped() -> None:
    with DripReceiver(every_s=0.5) as drip:
        sender = AppriseSender(as_json(drip.url()), timeout_s=1, max_stuck=1)
        with pytest.raises(DeliveryError, match="deadline"):
            sender.send(down_alert())
        # WHEN the next attempt comes while the first still hangs in Apprise
        with pytest.raises(DeliveryError) as refused:
            sender.send(down_alert("mx2"))
        # THEN no new thread and request are started: one stuck call at most
        assert "still hanging past their deadline" in str(refused.value)
        assert drip.requests == 1


@pytest.mark.parametrize(
    ("url", "label"),
    [
        (f"slack://T1JJ3T3L2/A1BRTD4JD/{TOKEN}/#ops", "notify Slack slack://…"),
        (f"discord://4174216298/{TOKEN}", "notify Discord discord://…"),
        (f"tgram://123456789:{TOKEN}/12315544/", "notify Telegram tgram://…"),
        (f"pagerduty://{TOKEN}@apikey{TOKEN}", "notify Pager Duty pagerduty://…"),
        (f"ntfys://{TOKEN}", "notify ntfy ntfys://…"),  # the topic is the secret
        (f"ntfys://user:{TOKEN}@ntfy.example.com/alerts", "notify ntfy ntfys://ntfy.example.com"),
        (f"mailtos://monitor:{TOKEN}@mail.example.com?to=ops@example.com",
         "notify E-Mail mailtos://mail.example.com:587"),  # Apprise knows the port
        (f"json://u:{TOKEN}@127.0.0.1:8080/{TOKEN}?-key={TOKEN}", "notify JSON json://127.0.0.1:8080"),
    ],
)  # fmt: skip
def test_a_channel_label_shows_the_service_and_a_server_name_never_a_token(
    url: str, label: str
) -> None:
    channel = notify_channel(url, index=3)
    assert channel.key == "notify-3"
    assert channel.label == label


def test_a_url_apprise_cannot_use_is_refused_up_front_without_repeating_it() -> None:
    with pytest.raises(ValueError) as refused:
        AppriseSender(f"nosuchservice://{TOKEN}@host/")
    assert "nosuchservice:// URL" in str(refused.value)
    assert TOKEN not in str(refused.value)


def test_a_hung_notification_stays_pending_and_goes_out_after_a_restart(tmp_path: Path) -> None:
    # GIVEN a down alert recorded for notify-1, whose service hangs
    db = tmp_path / "smtpwatch.db"
    alert = down_alert()
    with DripReceiver(every_s=0.5) as drip, SqliteStore(db) as store:
        outbox = Outbox(store, rng=random.Random(3))
        channel = notify_channel(as_json(drip.url()), index=1, timeout_s=1)
        notices = Notices()
        OutboxSink(outbox, [channel]).send(alert)
        # WHEN the delivery is tried
        finished = Deliveries(outbox, [channel], listener=notices).drain(10)
        # THEN it is cut at its deadline and kept pending, with a back-off, and the
        # notice names the channel by its label, not its URL
        assert finished
        (entry,) = outbox.entries(channel="notify-1")
        assert entry.state == "pending" and entry.attempts == 1
        assert entry.last_error == "timed out after 1 s (deadline)"
        assert entry.next_attempt > outbox.clock()
        assert notices.lines == [
            f"alert down for mx1 NOT delivered to {channel.label}: timed out after 1 s"
            " (deadline) (kept pending; retried)"
        ]
    # WHEN smtpwatch starts again with notify-1 pointing at a working service
    with WebhookReceiver(200) as hook, SqliteStore(db) as store:
        outbox = Outbox(store)
        fixed = notify_channel(as_json(hook.url()), index=1, timeout_s=5)
        notices = Notices()
        Deliveries(outbox, [fixed], listener=notices).drain(10)
        (entry,) = outbox.entries(channel="notify-1")
        (got,) = hook.posts()
        labels = {row[0] for row in store.query("SELECT label FROM outbox")}
    # THEN the waiting alert goes out, second try, and the outbox never stored a token
    assert entry.state == "delivered" and entry.attempts == 2
    assert json.loads(got.body)["title"] == alert_text.subject(alert)
    assert notices.lines == [f"alert down for mx1 delivered to {fixed.label} after 2 tries"]
    assert labels == {f"notify JSON json://127.0.0.1:{drip.port}"}
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(db.name))
    assert TOKEN.encode() not in stored


def test_a_down_delivered_after_its_recovery_was_raised_goes_first_and_says_late(
    tmp_path: Path,
) -> None:
    # GIVEN a DOWN and then its RECOVERED recorded while the service was unreachable
    down = down_alert()
    recovered = replace(
        down,
        alert_id=alert_id_for("mx1", AlertEvent.RECOVERED, "2026-12-07T21:05:00Z"),
        event=AlertEvent.RECOVERED,
        status="ok",
        created_at="2026-12-07T21:05:00Z",
        result={"status": "ok"},
    )
    with SqliteStore(tmp_path / "smtpwatch.db") as store:
        outbox = Outbox(store)
        dead = notify_channel(f"json://127.0.0.1:{closed_port()}/", index=1, timeout_s=5)
        OutboxSink(outbox, [dead]).send(down)
        OutboxSink(outbox, [dead]).send(recovered)
        Deliveries(outbox, [dead]).drain(10)
        # WHEN the service is back (notify-1 now reaches it)
        with WebhookReceiver(200) as hook:
            channel = notify_channel(hook.url().replace("http://", "json://"), index=1)
            Deliveries(outbox, [channel]).drain(10)
            first, second = (json.loads(r.body) for r in hook.posts())
    # THEN the DOWN goes first, saying it is late; the RECOVERED follows as usual
    assert first["title"].startswith("[DOWN] mx1")
    assert first["message"].startswith("(Delivered late: a newer alert of this target came")
    assert second["title"].startswith("[RECOVERED] mx1")
    assert not second["message"].startswith("(Delivered late")


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_hanging_service_holds_up_no_other_channel(tmp_path: Path) -> None:
    # GIVEN the running workers with two notification channels, the first one hanging
    with (
        DripReceiver(every_s=0.5) as drip,
        WebhookReceiver(200) as hook,
        SqliteStore(tmp_path / "smtpwatch.db") as store,
    ):
        outbox = Outbox(store)
        stuck = notify_channel(as_json(drip.url()), index=1, timeout_s=60)
        fine = notify_channel(hook.url().replace("http://", "json://"), index=2)
        deliveries = Deliveries(outbox, [stuck, fine], listener=Notices())
        deliveries.start()
        try:
            # WHEN a check records an alert for both
            OutboxSink(outbox, [stuck, fine], wake=deliveries.wake).send(down_alert())
            # THEN the second service gets it while the first still holds its attempt
            assert _wait_for(lambda: len(hook.posts()) == 1, 20)
            assert drip.requests == 1
            (held,) = outbox.entries(channel="notify-1")
            assert held.state == "pending" and held.attempts == 0  # still in flight
            assert _wait_for(lambda: outbox.entries(channel="notify-2")[0].state == "delivered", 20)
        finally:
            deliveries.stop(grace_s=0.5)
