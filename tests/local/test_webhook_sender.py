"""The webhook sender against real loopback receivers: what counts as delivered (a 2xx
to the request as sent; never a followed redirect), one deadline per attempt from
connect to last byte (a dripping receiver is cut), which failures are given up, and
Standard Webhooks signatures checked by a verifier written here from the scheme."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smtpwatch.core.alerting import make_test_alert
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.sinks import SinkError, WebhookSink
from smtpwatch.testing.servers import Certificates
from smtpwatch.testing.webhook_receivers import (
    DripReceiver,
    HangingReceiver,
    Received,
    Reply,
    WebhookReceiver,
)

SECRET_TEXT = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DEADLINE_SLACK_S = 0.5  # the attempt's own bound: timeout_s plus thread hand-over


def _down_alert(alert_id: str = "a1") -> Alert:
    return Alert(
        alert_id=alert_id,
        event=AlertEvent.DOWN,
        target_id="mx1",
        status="down",
        created_at="2026-11-25T12:00:00Z",
        target={"target_id": "mx1", "name": "mx1", "host": "mx1.example.com", "port": 587},
        result={"status": "critical", "error": {"kind": "connect_refused", "message": "x"}},
        since="2026-11-25T11:59:00Z",
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def _send_bounded(sink: WebhookSink, alert: Alert, limit_s: float) -> tuple[float, Exception]:
    """Send in a thread; the test fails (instead of hanging) when send outlives limit_s."""
    outcome: list[Exception | None] = []

    def run() -> None:
        try:
            sink.send(alert)
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"send still running after {elapsed:.1f} s"
    (error,) = outcome
    assert error is not None, "a receiver that never answers must not count as delivered"
    return elapsed, error


# ---- redirects are failures that say where they point --------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_delivered_and_names_its_location(
    receiver: WebhookReceiver, code: int
) -> None:
    # GIVEN a webhook that redirects (an http->https move, a load balancer) to a place
    # that would answer 200 to anything, a GET included
    with WebhookReceiver(200) as final:
        location = final.url("/final")
        receiver.set_reply(Reply(code, {"Location": location}))
        # WHEN the alert is sent THEN it is not delivered, and the error says where to
        with pytest.raises(SinkError) as info:
            WebhookSink(receiver.url(), timeout_s=5).send(_down_alert())
        assert f"HTTP {code}" in str(info.value)
        assert location in str(info.value)
        # AND nothing followed the redirect (no body-less GET counted as the alert)
        assert final.received == []
    assert [r.method for r in receiver.received] == ["POST"]


def test_an_ordinary_2xx_is_delivered_with_the_alert_document(receiver: WebhookReceiver) -> None:
    receiver.set_reply(202)
    WebhookSink(receiver.url("/in?token=t0k"), timeout_s=5).send(_down_alert())
    (got,) = receiver.posts()
    assert got.path == "/in?token=t0k"
    assert got.doc["event"] == "down" and got.doc["alert_id"] == "a1"
    assert got.headers["content-type"].startswith("application/json")


# ---- one deadline per attempt -----------------------------------------------------------


def test_a_dripping_receiver_is_cut_at_the_attempts_deadline() -> None:
    # GIVEN a receiver that answers one byte every 0.5 s, forever: every single read is
    # far quicker than the timeout
    with DripReceiver(every_s=0.5) as drip:
        sink = WebhookSink(drip.url(), timeout_s=2)
        # WHEN an alert is sent THEN the attempt ends at its deadline, not delivered
        elapsed, error = _send_bounded(sink, _down_alert(), limit_s=30)
        assert drip.requests == 1
    assert elapsed <= 2 + DEADLINE_SLACK_S
    assert "timed out" in str(error) or "deadline" in str(error)


def test_a_hanging_receiver_is_cut_at_the_attempts_deadline() -> None:
    with HangingReceiver() as hang:
        elapsed, error = _send_bounded(WebhookSink(hang.url(), timeout_s=1.5), _down_alert(), 30)
    assert elapsed <= 1.5 + DEADLINE_SLACK_S
    assert "timed out" in str(error) or "deadline" in str(error)


# ---- HTTPS: verified, and under the same deadline -------------------------------------


@pytest.fixture
def trust_test_ca(certs: Certificates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA as the system store (OpenSSL reads SSL_CERT_FILE)."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(certs.ca_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))


def test_an_https_webhook_is_delivered_with_its_certificate_verified(
    certs: Certificates, trust_test_ca: None
) -> None:
    with WebhookReceiver(200, tls=certs.valid().server_context()) as hook:
        assert hook.url().startswith("https://")
        WebhookSink(hook.url(), timeout_s=5).send(_down_alert())
        assert [d["event"] for d in hook.docs()] == ["down"]


def test_an_untrusted_https_webhook_is_not_delivered(certs: Certificates) -> None:
    untrusted = certs.issue("127.0.0.1", trusted=False).server_context()
    with WebhookReceiver(200, tls=untrusted) as hook, pytest.raises(SinkError) as info:
        WebhookSink(hook.url(), timeout_s=5).send(_down_alert())
    assert "certificate" in str(info.value).lower()
    assert hook.received == []


def test_a_dripping_https_receiver_is_cut_at_the_attempts_deadline(
    certs: Certificates, trust_test_ca: None
) -> None:
    with DripReceiver(every_s=0.5, tls=certs.valid().server_context()) as drip:
        elapsed, error = _send_bounded(WebhookSink(drip.url(), timeout_s=2), _down_alert(), 30)
        assert drip.requests == 1
    assert elapsed <= 2 + DEADLINE_SLACK_S
    assert "deadline" in str(error)


# ---- which failures are worth another try ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (401, True), (404, True), (410, True), (408, False), (429, False),
     (500, False), (503, False), (302, False)],
)  # fmt: skip
def test_failures_say_whether_another_try_can_help(
    receiver: WebhookReceiver, status: int, permanent: bool
) -> None:
    from smtpwatch.local.webhook import DeliveryError, WebhookSender

    receiver.set_reply(Reply(status, {"Location": receiver.url("/x")} if status == 302 else {}))
    with pytest.raises(DeliveryError) as info:
        WebhookSender(receiver.url("/hook?token=very-secret"), timeout_s=5).send(_down_alert())
    assert info.value.status == status
    assert info.value.permanent is permanent
    assert "very-secret" not in str(info.value)


def test_retry_after_of_a_429_is_kept(receiver: WebhookReceiver) -> None:
    from smtpwatch.local.webhook import DeliveryError, WebhookSender

    receiver.set_reply(Reply(429, {"Retry-After": "7"}))
    with pytest.raises(DeliveryError) as info:
        WebhookSender(receiver.url(), timeout_s=5).send(_down_alert())
    assert info.value.retry_after == 7.0


# ---- Standard Webhooks signing ---------------------------------------------------------


def _verify(secret_text: str, request: Received) -> bool:
    """A receiver's check, written from the Standard Webhooks scheme: the key is the
    base64 after ``whsec_``; the signed content is ``{id}.{timestamp}.{body}``; the
    header holds space-separated ``v1,<base64 HMAC-SHA256>`` signatures."""
    key = base64.b64decode(secret_text.removeprefix("whsec_"))
    msg_id = request.headers["webhook-id"]
    stamp = request.headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > 300:
        return False
    content = f"{msg_id}.{stamp}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for item in request.headers["webhook-signature"].split(" "):
        version, _, sig = item.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


def test_signed_webhook_verifies_with_the_standard_scheme(receiver: WebhookReceiver) -> None:
    from smtpwatch.core.webhook_signing import parse_secret

    alert = _down_alert("alert-0001")
    WebhookSink(receiver.url(), timeout_s=5, secret=parse_secret(SECRET_TEXT)).send(alert)
    (got,) = receiver.posts()
    # the message id is the alert's id: a receiver dedupes retries on it
    assert got.headers["webhook-id"] == "alert-0001"
    assert got.headers["webhook-signature"].startswith("v1,")
    assert _verify(SECRET_TEXT, got)
    # AND the reference implementation of the scheme agrees
    import standardwebhooks

    assert standardwebhooks.Webhook(SECRET_TEXT).verify(got.body, got.headers)["alert_id"] == (
        "alert-0001"
    )
    # AND a tampered body or another secret does not verify
    forged = Received(got.method, got.path, got.headers, got.body.replace(b"down", b"up"))
    assert not _verify(SECRET_TEXT, forged)
    other = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
    assert not _verify(other, got)


def test_unsigned_webhook_carries_no_signature_but_still_its_id(
    receiver: WebhookReceiver,
) -> None:
    WebhookSink(receiver.url(), timeout_s=5).send(make_test_alert(now=NOW))
    (got,) = receiver.posts()
    assert "webhook-signature" not in got.headers
    assert got.headers["webhook-id"] == got.doc["alert_id"]


@pytest.mark.parametrize("text", ["", "whsec_", "whsec_!!!not base64!!!", "short"])
def test_a_secret_that_is_not_whsec_base64_is_refused(text: str) -> None:
    from smtpwatch.core.webhook_signing import parse_secret

    with pytest.raises(ValueError, match="whsec_") as info:
        parse_secret(text)
    if len(text) > len("whsec_"):  # the message never quotes what it was given
        assert text not in str(info.value)
