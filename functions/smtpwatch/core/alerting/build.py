"""Building alerts: ids, what an alert says of its target and of the result, the test
alert. ``alert_id`` hashes (target_id, event, key), so a receiver can drop duplicates
of an at-least-once delivery."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smtpwatch.core.result import ProbeResult, shorten
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = [
    "MONITOR_TARGET_ID",
    "STORED_LIST_MAX",
    "STORED_TEXT_MAX",
    "alert_id_for",
    "make_test_alert",
    "stored_result",
    "target_identity",
    "target_summary",
    "threshold",
]

# target_id of alerts about the monitor itself; "#" cannot start a real target id.
MONITOR_TARGET_ID = "#monitor"

# A result copied into the state item and into alerts is bounded: a hostile server can
# fill a result with up to 1,000 EHLO lines of 8 KB or a certificate with huge names,
# and a state item holds 400 KB, an SNS message (six copies of the document) 256 KB.
# Real results stay whole: no list of theirs comes near 16 entries but SANs, and no
# text near 512 characters (the banner is already cut there).
STORED_LIST_MAX = 16
STORED_TEXT_MAX = 512


def alert_id_for(target_id: str, event: AlertEvent | str, key: str) -> str:
    text = f"{target_id}\x00{AlertEvent(event).value}\x00{key}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def target_identity(target: Target) -> dict[str, Any]:
    """Which target and where: id, name (the host when unnamed), host, port, encryption.
    Never a secret."""
    return {
        "target_id": target.target_id,
        "name": target.name or target.host,
        "host": target.host,
        "port": target.effective_port,
        "encryption": target.encryption,
    }


def target_summary(target: Target) -> dict[str, Any]:
    """The ``target`` part of alerts: ``target_identity`` and the tags."""
    return {**target_identity(target), "tags": dict(target.tags)}


def threshold(target: Target) -> int:
    """Consecutive failures that make the target down (at least one)."""
    return max(1, int(target.failures_before_alert or 1))


def stored_result(result: ProbeResult) -> dict[str, Any]:
    """``result.to_dict()`` with every list cut to ``STORED_LIST_MAX`` entries and every
    text to ``STORED_TEXT_MAX`` characters: what state items and alerts carry."""
    bounded: dict[str, Any] = _bounded(result.to_dict())
    return bounded


def make_test_alert(*, now: datetime, target_id: str = MONITOR_TARGET_ID) -> Alert:
    """``smtpwatch alerts test``: proves the sinks deliver."""
    stamp = format_ts(now)
    return Alert(
        alert_id=alert_id_for(target_id, AlertEvent.TEST, stamp),
        event=AlertEvent.TEST,
        target_id=target_id,
        status="test",
        created_at=stamp,
        target={"target_id": target_id, "name": "smtpwatch test alert", "tags": {}},
        since=stamp,
    )


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) <= STORED_TEXT_MAX:
            return value
        return value[: STORED_TEXT_MAX - 3] + "..."
    if isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            # a list of texts ends in "… and N more" when cut, as the result's own do
            return [_bounded(v) for v in shorten(value, STORED_LIST_MAX)]
        return [_bounded(v) for v in value[:STORED_LIST_MAX]]
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    return value
