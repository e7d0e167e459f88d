"""The machine-readable alert: the JSON document (SQS, Lambda, HTTPS, webhooks) and
the SNS ``Publish`` arguments built from it, with message attributes for filter policies."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from smtpwatch.core.alert_text.body import text
from smtpwatch.core.alert_text.headline import sms, subject
from smtpwatch.core.alert_text.locations import locations_failed, votes
from smtpwatch.core.state import Alert

__all__ = [
    "ALERT_SCHEMA_VERSION",
    "MAX_TAG_ATTRIBUTES",
    "document",
    "left_out_tags",
    "message_attributes",
    "sns_message",
]

ALERT_SCHEMA_VERSION = 1
# SNS allows 10 message attributes: event, status, target_id, locations_failed and at
# most 6 tags (a target has at most 6; an item stored before that rule may have 7).
_MAX_ATTRIBUTES = 10
MAX_TAG_ATTRIBUTES = 6
_RESERVED_ATTRIBUTES = ("event", "status", "target_id", "locations_failed")
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
        # Each location's vote of a verdict ([] for a single-location check): an added
        # key, so schema_version stays.
        "locations": [vote.to_dict() for vote in votes(alert.result)],
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
        len(name) + len(v["DataType"]) + len(str(v.get("StringValue", "")).encode("utf-8"))
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
    """``event``, ``status``, ``target_id``, ``locations_failed`` and the tags, as SNS
    attributes for filter policies.

    ``locations_failed`` (Number; only on alerts that carry a result): how many
    locations found the target failing, 1 or 0 for a single-location check. Tag names
    are made valid attribute names (letters, digits, ``_-.``); a tag that would clash
    with a fixed name, or beyond ``MAX_TAG_ATTRIBUTES`` (in name order), is left out
    (``left_out_tags``).
    """
    attrs = {name: value for name, value in _fixed(alert)}
    for name, value in _tag_attributes(alert)[0]:
        attrs[name] = {"DataType": "String", "StringValue": value}
    return attrs


def left_out_tags(alert: Alert) -> list[str]:
    """The target's tags that ``message_attributes`` leaves out, for the sink's log."""
    return _tag_attributes(alert)[1]


def _fixed(alert: Alert) -> list[tuple[str, dict[str, str]]]:
    fixed = [
        (name, {"DataType": "String", "StringValue": value[:1024]})
        for name, value in (
            ("event", alert.event.value),
            ("status", alert.status),
            ("target_id", alert.target_id),
        )
        if value
    ]
    if isinstance(alert.result, dict):
        failed = str(locations_failed(alert.result))
        fixed.append(("locations_failed", {"DataType": "Number", "StringValue": failed}))
    return fixed


def _tag_attributes(alert: Alert) -> tuple[list[tuple[str, str]], list[str]]:
    """(attribute name, value) of the tags that go, and the keys of those left out."""
    tags = alert.target.get("tags") or {}
    room = min(MAX_TAG_ATTRIBUTES, _MAX_ATTRIBUTES - len(_fixed(alert)))
    taken: list[tuple[str, str]] = []
    names: set[str] = set()
    left: list[str] = []
    for key in sorted(tags, key=str):
        name, value = _attribute_name(str(key)), str(tags[key])[:1024]
        if not value:
            continue  # SNS refuses an empty attribute value: nothing to filter on
        if name and name not in _RESERVED_ATTRIBUTES and name not in names and len(taken) < room:
            taken.append((name, value))
            names.add(name)
        else:
            left.append(str(key))
    return taken, left


def _attribute_name(key: str) -> str:
    name = _ATTR_NAME_BAD.sub("_", key).strip(".")
    name = re.sub(r"\.{2,}", ".", name)[:256]
    if name.lower().startswith(("aws.", "amazon.")):
        name = "tag_" + name
    return name
