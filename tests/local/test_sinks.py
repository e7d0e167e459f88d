"""Local alert sinks: console text, webhook POST of the JSON document, fan-out failures."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from smtpwatch.core.alerting import make_test_alert
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.sinks import ConsoleSink, FanOutSink, SinkError, WebhookSink

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _down_alert() -> Alert:
    return Alert(
        alert_id="a1",
        event=AlertEvent.DOWN,
        target_id="mx1",
        status="down",
        created_at="2026-11-25T12:00:00Z",
        target={"target_id": "mx1", "name": "mx1", "host": "mx1.example.com", "port": 587},
        result={
            "status": "critical",
            "error": {
                "kind": "starttls",
                "phase": "starttls",
                "smtp_code": 454,
                "enhanced_code": None,
                "message": "454 TLS not available",
            },
            "warnings": [],
            "phases": {},
        },
        since="2026-11-25T11:59:00Z",
    )


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    reply_status = 204

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        self.server.received.append(  # type: ignore[attr-defined]
            {"body": body, "headers": dict(self.headers), "path": self.path}
        )
        self.send_response(self.server.reply_status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []  # type: ignore[attr-defined]
    server.reply_status = 204  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_console_sink_prints_the_subject_and_readable_lines() -> None:
    out = io.StringIO()
    ConsoleSink(out, color=False).send(_down_alert())
    text = out.getvalue()
    assert text.startswith("ALERT [DOWN] ")
    assert "454 TLS not available" in text
    assert len(text.splitlines()) > 1


def test_console_sink_json_lines_give_the_alert_document() -> None:
    out = io.StringIO()
    ConsoleSink(out, json_lines=True).send(_down_alert())
    doc = json.loads(out.getvalue())["alert"]
    assert doc["event"] == "down" and doc["alert_id"] == "a1"


def test_webhook_receives_the_json_document(webhook: ThreadingHTTPServer) -> None:
    url = f"http://127.0.0.1:{webhook.server_port}/hooks/smtp?token=abc"
    WebhookSink(url).send(_down_alert())
    (got,) = webhook.received  # type: ignore[attr-defined]
    assert got["path"] == "/hooks/smtp?token=abc"
    assert got["body"]["event"] == "down"
    assert got["body"]["target"]["host"] == "mx1.example.com"
    assert got["headers"]["Content-Type"].startswith("application/json")


def test_webhook_error_status_raises_without_the_token(webhook: ThreadingHTTPServer) -> None:
    webhook.reply_status = 500  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{webhook.server_port}/hook?token=very-secret"
    with pytest.raises(SinkError, match="HTTP 500") as info:
        WebhookSink(url).send(_down_alert())
    assert "very-secret" not in str(info.value)


def test_webhook_unreachable_raises_sink_error() -> None:
    from smtpwatch.testing.servers import closed_port

    with pytest.raises(SinkError, match="refused"):
        WebhookSink(f"http://127.0.0.1:{closed_port()}/x", timeout_s=2).send(_down_alert())


@pytest.mark.parametrize("url", ["ftp://x/y", "127.0.0.1:80/hook", "file:///etc/passwd"])
def test_webhook_rejects_non_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookSink(url)


def test_fan_out_tries_every_sink_and_raises_if_one_failed() -> None:
    out = io.StringIO()

    class Broken:
        def send(self, alert: Alert) -> None:
            raise SinkError("boom")

    fan = FanOutSink([("broken", Broken()), ("console", ConsoleSink(out, color=False))])
    with pytest.raises(SinkError, match="broken: boom"):
        fan.send(make_test_alert(now=NOW))
    assert "ALERT [TEST]" in out.getvalue()
