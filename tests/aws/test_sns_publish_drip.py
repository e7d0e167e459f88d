"""An SNS endpoint that answers one byte at a time keeps every single read under the
client's read timeout: the publish must still end within its bound (and raise, so the
alert stays pending), not hold a delivery worker or a probe Lambda for as long as the
endpoint drips. A real loopback endpoint; nothing is patched."""

from __future__ import annotations

import threading
import time

import pytest

from smtpwatch.core.alerting import make_test_alert
from smtpwatch.core.schedule import utc_now
from smtpwatch.testing.webhook_receivers import DripReceiver

TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


def test_a_dripping_sns_endpoint_is_cut_at_the_publish_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from smtpwatch.adapters.sns import PUBLISH_BOUND_S
    from smtpwatch.local.sinks import sns_sink

    outcome: list[Exception | None] = []
    with DripReceiver(every_s=1.0) as drip:
        monkeypatch.setenv("AWS_ENDPOINT_URL", drip.url(""))
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        sink = sns_sink(TOPIC)

        def run() -> None:
            try:
                sink.send(make_test_alert(now=utc_now()))
                outcome.append(None)
            except Exception as exc:
                outcome.append(exc)

        started = time.monotonic()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(PUBLISH_BOUND_S + 15)
        elapsed = time.monotonic() - started
        assert not thread.is_alive(), f"publish still running after {elapsed:.0f} s"
    assert outcome and outcome[0] is not None  # not delivered: the alert stays pending
    assert elapsed <= PUBLISH_BOUND_S + 1
