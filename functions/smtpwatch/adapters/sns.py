"""AlertSink on SNS: publishes the message that ``core.alert_text.sns_message`` builds.

All formatting (per-protocol JSON message, subject, attributes) is pure and lives in
the core; this adapter only hands it to ``Publish``. A failed publish raises, so the
state machine keeps the alert pending and sends it on the next run (DESIGN §4).
"""

from __future__ import annotations

from typing import Any

from smtpwatch.core.state import Alert

__all__ = ["SnsAlertSink"]

# The Publish parameters a message dict may carry; anything else is a bug upstream.
_PUBLISH_KEYS = frozenset(
    {
        "Message",
        "Subject",
        "MessageStructure",
        "MessageAttributes",
        "MessageGroupId",
        "MessageDeduplicationId",
    }
)


class SnsAlertSink:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def send(self, alert: Alert) -> None:
        from smtpwatch.core.alert_text import sns_message

        message = sns_message(alert)
        unknown = set(message) - _PUBLISH_KEYS
        if unknown:
            raise ValueError(f"sns_message produced unknown Publish keys: {sorted(unknown)}")
        self._client.publish(TopicArn=self._topic_arn, **message)
