"""AlertSink on SNS: publishes the message that ``core.alert_text.sns_message`` builds.

``SnsAlertSink`` hands the message to ``Publish`` within ``PUBLISH_BOUND_S``; a failed
or timed-out publish raises, so the alert stays pending for the next run.
``LazySnsSink`` is the Lambda functions' sink: it makes the SNS client on the first
alert. ``publish_config`` gives every SNS client short timeouts and two attempts. Tags
left out of the message attributes (a stored target's 7th) are logged.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from smtpwatch.core.state import Alert

if TYPE_CHECKING:
    from smtpwatch.adapters.aws_clients import Clients

__all__ = ["PUBLISH_BOUND_S", "LazySnsSink", "SnsAlertSink", "publish_config"]

log = logging.getLogger("smtpwatch.sns")

CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 5
PUBLISH_ATTEMPTS = 2  # botocore's total_max_attempts: the first try and one retry
# Upper bound of one publish: each attempt's connect and read, plus the one back-off
# between them (standard retry mode waits at most 1 s before the first retry).
PUBLISH_BOUND_S = PUBLISH_ATTEMPTS * (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) + 1


def publish_config(base: Any | None = None) -> Any:
    """botocore ``Config`` for SNS clients, merged over ``base`` (the caller's own
    settings for its other clients, e.g. a connection pool size)."""
    from botocore.config import Config

    bound = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": PUBLISH_ATTEMPTS},
    )
    return bound if base is None else base.merge(bound)


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
        from smtpwatch.core.alert_text import left_out_tags, sns_message

        message = sns_message(alert)
        unknown = set(message) - _PUBLISH_KEYS
        if unknown:
            raise ValueError(f"sns_message produced unknown Publish keys: {sorted(unknown)}")
        left_out = left_out_tags(alert)
        if left_out:
            # SNS takes 10 attributes: the 4 fixed ones and 6 tags. A target stored
            # with 7 (before locations_failed was added) is still alerted, its last
            # tag (in name order) only missing from the attributes: filters on it miss.
            log.warning(
                "tags left out of the SNS message attributes: %s",
                ", ".join(repr(key[:128]) for key in left_out[:10]),
                extra={"alert_id": alert.alert_id, "target_id": alert.target_id},
            )
        # The client's timeouts bound each socket read, not the call: an endpoint that
        # drips its answer keeps every read short. So the call runs on a helper thread
        # and is given up at the bound (left to end on its own; the alert stays pending).
        failed: list[BaseException] = []

        def publish() -> None:
            try:
                self._client.publish(TopicArn=self._topic_arn, **message)
            except BaseException as exc:
                failed.append(exc)

        helper = threading.Thread(target=publish, name="smtpwatch-sns-publish", daemon=True)
        helper.start()
        helper.join(PUBLISH_BOUND_S)
        if helper.is_alive():
            raise TimeoutError(f"SNS publish not answered within {PUBLISH_BOUND_S} s")
        if failed:
            raise failed[0]


class LazySnsSink:
    """An ``SnsAlertSink`` whose SNS client is made on the first alert: most Lambda
    invocations publish nothing, and a client costs cold-start time."""

    def __init__(self, clients: Clients, topic_arn: str) -> None:
        self._clients = clients
        self._topic_arn = topic_arn
        self._sink: SnsAlertSink | None = None

    def send(self, alert: Alert) -> None:
        if self._sink is None:
            self._sink = SnsAlertSink(self._clients("sns"), self._topic_arn)
        self._sink.send(alert)
