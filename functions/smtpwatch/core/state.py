"""A target's monitoring state, kept apart from the user's target item
(docs/design.md#data-model).

Pure data: the alert state machine (``core.alerting``) computes the next state, the
stores (SQLite, DynamoDB) persist it. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from smtpwatch.core.record import slots_dict

__all__ = ["Alert", "AlertEvent", "TargetState", "TargetStatus"]


class TargetStatus(StrEnum):
    PENDING = "pending"  # never probed
    UP = "up"
    WARNING = "warning"
    DOWN = "down"  # confirmed: failures_before_alert consecutive failed runs


class AlertEvent(StrEnum):
    DOWN = "down"
    RECOVERED = "recovered"
    REMINDER = "reminder"
    WARNING = "warning"
    DEGRADED = "degraded"  # monitor degraded: too many probes of one tick failed
    TEST = "test"  # `smtpwatch alerts test`
    SUMMARY = "summary"  # alerts a channel could not take for over 24 h, in one message
    LOCATION_DOWN = "location_down"  # a location is silent or fails most of its targets
    LOCATION_UP = "location_up"  # that location reports and passes again


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert to deliver. ``alert_id`` is stable across redeliveries (dedupe key)."""

    alert_id: str
    event: AlertEvent
    target_id: str
    status: str  # the target status the alert announces (down/up/warning)
    created_at: str  # ISO-8601 UTC "Z"
    target: dict[str, Any] = field(default_factory=dict)  # id, name, host, port, tags
    result: dict[str, Any] | None = None  # ProbeResult.to_dict() that caused it
    since: str | None = None  # when the announced condition began (ISO-8601 UTC "Z")
    details: dict[str, Any] = field(default_factory=dict)  # event-specific facts (counts)

    def to_dict(self) -> dict[str, Any]:
        return slots_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alert:
        return cls(
            alert_id=str(d["alert_id"]),
            event=AlertEvent(d["event"]),
            target_id=str(d["target_id"]),
            status=str(d["status"]),
            created_at=str(d["created_at"]),
            target=dict(d.get("target") or {}),
            result=d.get("result"),
            since=d.get("since"),
            details=dict(d.get("details") or {}),
        )


@dataclass(frozen=True, slots=True)
class TargetState:
    """The documented state fields plus what the state machine needs to remember."""

    target_id: str
    status: TargetStatus = TargetStatus.PENDING
    consecutive_failures: int = 0
    failing_since: str | None = None  # started_at of the first failed run of this streak
    last_result: dict[str, Any] | None = None
    last_checked_at: str | None = None
    last_change_at: str | None = None
    next_due_at: str | None = None
    pending_alert: dict[str, Any] | None = None  # Alert.to_dict() recorded before publishing
    last_alert_at: str | None = None
    last_alert_event: str | None = None  # event of the last *sent* alert
    last_scheduled_at: str | None = None  # dedupe of redelivered invocations
    alerted: bool = False  # a down or warning alert was sent for the current episode
    warning_kinds: tuple[str, ...] = ()  # kinds announced by the last warning alert
    version: int = 0  # optimistic concurrency: stores write only if unchanged since read

    def evolve(self, **changes: Any) -> TargetState:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return slots_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetState:
        return cls(
            target_id=str(d["target_id"]),
            status=TargetStatus(d.get("status") or "pending"),
            consecutive_failures=int(d.get("consecutive_failures") or 0),
            failing_since=d.get("failing_since"),
            last_result=d.get("last_result"),
            last_checked_at=d.get("last_checked_at"),
            last_change_at=d.get("last_change_at"),
            next_due_at=d.get("next_due_at"),
            pending_alert=d.get("pending_alert"),
            last_alert_at=d.get("last_alert_at"),
            last_alert_event=d.get("last_alert_event"),
            last_scheduled_at=d.get("last_scheduled_at"),
            alerted=bool(d.get("alerted") or False),
            warning_kinds=tuple(d.get("warning_kinds") or ()),
            version=int(d.get("version") or 0),
        )
