"""An alert-topic message as an AWS Chatbot (Amazon Q Developer in chat applications)
custom notification, for Slack and Microsoft Teams: pure formatting, no AWS calls.

``from_sns(message, subject)`` reads what the alert topic delivers to a Lambda
subscriber (smtpwatch's alert document, a CloudWatch alarm, anything else) and returns
``{"version": "1.0", "source": "custom", "content": {...}, "metadata": {...}}``.
"""

from __future__ import annotations

import json
from typing import Any

from smtpwatch.core.alert_text import subject as alert_subject
from smtpwatch.core.alert_text import text as alert_text
from smtpwatch.core.safe_text import one_line
from smtpwatch.core.state import Alert, AlertEvent

__all__ = ["MAX_DESCRIPTION", "MAX_TITLE", "chat_document", "from_sns"]

# Below what Slack shows in one block (3,000 characters) and Chatbot's own limits.
MAX_TITLE = 250
MAX_DESCRIPTION = 2800
_FALLBACK_TITLE = "smtpwatch"
# Server text's markup made inert: Slack reads <...> as mentions and links (angle
# brackets become single angle quotation marks), markdown reads [a](b) as a link, and
# three backquotes would end the description's code block.
_INERT = (("<", "\u2039"), (">", "\u203a"), ("```", "\u2019\u2019\u2019"), ("](", "] ("))


def from_sns(message: str, subject: str | None = None) -> dict[str, Any]:
    """The custom notification for one message of the alert topic."""
    try:
        doc = json.loads(message)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        alert = _alert(doc)
        if alert is not None:
            return chat_document(alert)
        if "AlarmName" in doc and "NewStateValue" in doc:
            return _alarm(doc)
    return _custom(
        title=subject or _FALLBACK_TITLE,
        description=_block(message),
        thread=None,
        event="message",
        context={},
    )


def chat_document(alert: Alert) -> dict[str, Any]:
    """Title: the alert's subject; description: its readable text, preformatted."""
    title = alert_subject(alert)
    body = alert_text(alert)
    if body.startswith(title):  # the text opens with the subject line
        body = body[len(title) :].lstrip("\n")
    if alert.details.get("late"):
        body = "(Delivered late: a newer alert of this target came before it.)\n\n" + body
    # One thread per target and episode: its DOWN, reminders and RECOVERED together.
    thread = f"smtpwatch/{alert.target_id}/{alert.since or alert.created_at}"
    context = {
        "alert_id": alert.alert_id,
        "target_id": alert.target_id,
        "event": alert.event.value,
        "status": alert.status,
        "created_at": alert.created_at,
    }
    return _custom(
        title=title,
        description=_block(body),
        thread=thread,
        event=f"smtpwatch.{alert.event.value}",
        context=context,
        event_id=alert.alert_id,
        keywords=[alert.event.value, alert.status, alert.target_id],
    )


def _alert(doc: dict[str, Any]) -> Alert | None:
    """The alert of an alert document (schema_version, event, alert_id, target, ...)."""
    target = doc.get("target")
    if "schema_version" not in doc or not isinstance(target, dict):
        return None
    result, details = doc.get("result"), doc.get("details")
    try:
        event = AlertEvent(str(doc.get("event")))
        return Alert(
            alert_id=str(doc["alert_id"]),
            event=event,
            target_id=str(target.get("target_id") or doc.get("target_id") or "?"),
            status=str(doc.get("status") or ""),
            created_at=str(doc.get("created_at") or ""),
            target=target,
            result=result if isinstance(result, dict) else None,
            since=doc.get("since"),
            details=details if isinstance(details, dict) else {},
        )
    except (KeyError, ValueError, TypeError):
        return None


def _alarm(doc: dict[str, Any]) -> dict[str, Any]:
    """A self-monitoring CloudWatch alarm (or its return to OK)."""
    name = str(doc.get("AlarmName") or "alarm")
    state = str(doc.get("NewStateValue") or "")
    lines = [str(doc.get("AlarmDescription") or ""), "", str(doc.get("NewStateReason") or "")]
    when = doc.get("StateChangeTime")
    if when:
        lines += ["", f"Since: {when}"]
    return _custom(
        title=f"{state}: {name}",
        description=_block("\n".join(lines).strip("\n")),
        thread=f"alarm/{name}",
        event=f"cloudwatch.alarm.{state.lower() or 'unknown'}",
        context={"alarm": name, "state": state, "region": str(doc.get("Region") or "")},
    )


def _custom(
    *,
    title: str,
    description: str,
    thread: str | None,
    event: str,
    context: dict[str, str],
    event_id: str | None = None,
    keywords: list[str] | None = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "textType": "client-markdown",
        "title": _inert(one_line(title, MAX_TITLE)),
        "description": description,
    }
    if keywords:
        content["keywords"] = [_inert(one_line(k, 60)) for k in keywords if k]
    metadata: dict[str, Any] = {
        "summary": _inert(one_line(title, MAX_TITLE)),
        "eventType": event,
        "additionalContext": {k: one_line(str(v), 256) for k, v in context.items() if v},
    }
    if thread:
        metadata["threadId"] = one_line(thread, 256)
    doc: dict[str, Any] = {"version": "1.0", "source": "custom"}
    if event_id:
        doc["id"] = event_id
    doc["content"] = content
    doc["metadata"] = metadata
    return doc


def _block(text: str) -> str:
    """Preformatted (a code block keeps the lines and shows markup as typed), cut to
    fit: the text quotes a server's replies, which must not become links or mentions."""
    limit = MAX_DESCRIPTION - 8
    body = _inert(text.rstrip("\n"))
    if len(body) > limit:
        body = body[: limit - 1] + "…"
    return f"```\n{body}\n```"


def _inert(text: str) -> str:
    """No mention (Slack's ``<!channel>``, ``<@U…>``), link (``[a](b)``, ``<url|a>``)
    or end of the code block can be written by the text."""
    for markup, inert in _INERT:
        text = text.replace(markup, inert)
    return text
