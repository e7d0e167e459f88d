"""The chat forwarder Lambda (template: ``EnableChatForwarder``), subscribed to the alert
topic: republishes each message to the chat topic as an AWS Chatbot custom notification.

Thin: ``core.chat_notification`` writes the notification, this publishes it (bounded
like every alert publish). A failed publish raises, and Lambda retries the event.
"""

from __future__ import annotations

import functools
import json
import os
from typing import TYPE_CHECKING, Any

from smtpwatch.core.chat_notification import from_sns
from smtpwatch.handlers.observability import make_logger, traced

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["handler"]

logger = make_logger()


@functools.cache
def _runtime() -> tuple[str, Any]:
    """The chat topic and an SNS client, once per container (tests clear the cache)."""
    from smtpwatch.adapters.aws_clients import Clients

    topic = os.environ.get("CHAT_TOPIC_ARN", "").strip()
    if not topic:
        raise RuntimeError("CHAT_TOPIC_ARN is not set: the chat topic to publish to")
    return topic, Clients()("sns")


@traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    topic, sns = _runtime()
    forwarded = 0
    for record in event.get("Records") or ():
        note = record.get("Sns") or {}
        doc = from_sns(str(note.get("Message") or ""), note.get("Subject"))
        sns.publish(TopicArn=topic, Message=json.dumps(doc, ensure_ascii=False))
        forwarded += 1
        logger.info(
            "forwarded to chat",
            extra={"event_type": doc["metadata"]["eventType"], "alert_id": doc.get("id")},
        )
    return {"forwarded": forwarded}
