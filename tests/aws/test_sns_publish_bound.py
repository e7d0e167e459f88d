"""SNS is the outbox on AWS: a publish that hangs (an endpoint that reads the request
and never answers, on loopback) ends within its bound, and the alert stays pending for
the next run — it never holds a probe Lambda or the local scheduler for minutes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from smtpwatch.core.alerting import make_test_alert
from smtpwatch.core.schedule import utc_now
from smtpwatch.testing.webhook_receivers import HangingReceiver

TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
# Two attempts of (connect + read) and one short back-off between them.
PUBLISH_BOUND_S = 2 * (2 + 5) + 2


def _publish_bounded(sink: Any) -> tuple[float, Exception | None]:
    outcome: list[Exception | None] = []

    def run() -> None:
        try:
            sink.send(make_test_alert(now=utc_now()))
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(PUBLISH_BOUND_S + 30)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"publish still running after {elapsed:.0f} s"
    return elapsed, outcome[0]


def test_local_sns_sink_publish_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from smtpwatch.local.sinks import sns_sink

    with HangingReceiver() as hang:
        monkeypatch.setenv("AWS_ENDPOINT_URL", hang.url(""))
        elapsed, error = _publish_bounded(sns_sink(TOPIC))
    assert error is not None  # not delivered: the alert stays pending
    assert elapsed <= PUBLISH_BOUND_S + 1


def test_probe_lambdas_sns_publish_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.config import Config

    from smtpwatch.adapters.aws_clients import Clients
    from smtpwatch.adapters.sns import LazySnsSink

    with HangingReceiver() as hang:
        monkeypatch.setenv("AWS_ENDPOINT_URL", hang.url(""))
        # the handler's own client settings for its other AWS calls
        clients = Clients(
            Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3,
                   read_timeout=10)
        )  # fmt: skip
        elapsed, error = _publish_bounded(LazySnsSink(clients, TOPIC))
    assert error is not None
    assert elapsed <= PUBLISH_BOUND_S + 1
