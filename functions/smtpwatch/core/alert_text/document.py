"""The machine-readable alert: the JSON document (SQS, Lambda, HTTPS, webhooks) and
the SNS ``Publish`` arguments built from it, with message attributes for filter policies."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from smtpwatch.core.alert_text.body import text
from smtpwatch.core.alert_text.headline import sms, subject
from smtpwatch.core.state import Alert

__all__ = ["ALERT_SCHEMA_VERSION", "document", "message_attributes", "sns_message"]

ALERT_SCHEMA_VERSION = 1
# SNS allows 10 message attributes: event, status, target_id and up to 7 tags.
_MAX_ATTRIBUTES = 10
_RESERVED_ATTRIBUTES = ("event", "status", "target_id")
_ATTR_NAME_BAD = re.compile(r"[^A-Za-z0-9_.\-]")
# SNS: 262,144 bytes for the message and its attributes; some room for the subject.
_SNS_BUDGET = 250_000
# What a trimmed message leaves out of the result: its bulky parts.
_RESULT_BULK = ("warnings", "phases", "address", "tls", "auth", "server")


def document(alert: Alert) -> dict[str, Any]:
    """The machine-readable alert (SQS, Lambda, HTTPS, webhooks, ``--json``)."""
    return {
        "schema_version": ALERT_SCHEMA_VERSION,
        "event": alert.event.value,
        "alert_id": alert.alert_id,
        "created_at": alert.created_at,
        "target": dict(alert.target),
        "status": alert.status,
        "since": alert.since,
        "details": dict(alert.details),
        "result": alert.result,
    }


def sns_message(alert: Alert) -> dict[str, Any]:
    """``sns.publish(TopicArn=..., **sns_message(alert))``.

    SNS refuses a message over 256 KB (attributes included), and this one carries the
    document six times: when a result full of a hostile server's text would exceed
    ``_SNS_BUDGET``, the message is built from the result without its bulky parts
    (status, error and timings stay) and the document says ``"result_trimmed": true``:
    a refused publish would keep the alert pending forever."""
    message = _sns_message(alert, trimmed=False)
    if _sns_size(message) > _SNS_BUDGET:
        result = alert.result or {}
        essentials = {k: v for k, v in result.items() if k not in _RESULT_BULK}
        lean = replace(alert, result=essentials)
        message = _sns_message(lean, trimmed=True)
    return message


def _sns_size(message: dict[str, Any]) -> int:
    attributes = message.get("MessageAttributes") or {}
    return len(str(message["Message"]).encode("utf-8")) + sum(
        len(name) + len("String") + len(str(v.get("StringValue", "")).encode("utf-8"))
        for name, v in attributes.items()
    )


def _sns_message(alert: Alert, *, trimmed: bool) -> dict[str, Any]:
    body_doc = document(alert)
    if trimmed:
        body_doc["result_trimmed"] = True
    doc = json.dumps(body_doc, ensure_ascii=False, separators=(",", ":"), default=str)
    body = text(alert)
    per_protocol = {
        "default": body,
        "email": body,
        "email-json": doc,
        "sms": sms(alert),
        "sqs": doc,
        "lambda": doc,
        "http": doc,
        "https": doc,
        "firehose": doc,
    }
    return {
        "Subject": subject(alert),
        "Message": json.dumps(per_protocol, ensure_ascii=False),
        "MessageStructure": "json",
        "MessageAttributes": message_attributes(alert),
    }


def message_attributes(alert: Alert) -> dict[str, dict[str, str]]:
    """``event``, ``status``, ``target_id`` and the tags, as SNS String attributes.

    Tag names are made valid attribute names (letters, digits, ``_-.``); a tag that
    would clash with the three fixed names, or beyond SNS's limit of 10, is left out.
    """
    attrs: dict[str, dict[str, str]] = {}

    def put(name: str, value: str) -> None:
        if value and name not in attrs and len(attrs) < _MAX_ATTRIBUTES:
            attrs[name] = {"DataType": "String", "StringValue": value[:1024]}

    put("event", alert.event.value)
    put("status", alert.status)
    put("target_id", alert.target_id)
    tags = alert.target.get("tags") or {}
    for key in sorted(tags):
        name = _attribute_name(str(key))
        if name and name not in _RESERVED_ATTRIBUTES:
            put(name, str(tags[key]))
    return attrs


def _attribute_name(key: str) -> str:
    name = _ATTR_NAME_BAD.sub("_", key).strip(".")
    name = re.sub(r"\.{2,}", ".", name)[:256]
    if name.lower().startswith(("aws.", "amazon.")):
        name = "tag_" + name
    return name
