"""The monitor alerts of a location: ``location_down`` when it turns silent or fails
most of its targets, ``location_up`` when that ends. One alert per flip of the
location's health item; its id hashes the flip, so a retried publish is one alert."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from smtpwatch.core.alerting.build import alert_id_for
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent

__all__ = ["LOCATION_STATUSES", "LOCATION_TARGET_PREFIX", "location_alert", "location_target_id"]

LOCATION_TARGET_PREFIX = "#location#"  # "#" cannot start a real target id
LOCATION_STATUSES = ("ok", "silent", "failing")
# What ``detail`` may hold (others are dropped): see ``location_alert``.
_DETAIL_KEYS = ("was", "failed", "total", "kinds", "sample")
_SAMPLE_MAX = 10


def location_target_id(location: str) -> str:
    """The ``target_id`` of a location's alerts and health item: ``#location#<name>``."""
    return LOCATION_TARGET_PREFIX + location


def location_alert(
    location: str,
    status: str,
    *,
    created_at: str | datetime,
    detail: Mapping[str, Any] | None = None,
) -> Alert:
    """The alert of a location whose health flipped to ``status``.

    ``silent`` or ``failing`` gives ``location_down``, ``ok`` gives ``location_up``.
    ``detail``: ``since`` (required for a stable id: when the condition began, the
    health item's ``since``; the up alert takes the ``since`` of the down it ends),
    ``was`` (up: ``silent`` or ``failing``), and for ``failing`` optionally ``failed``
    and ``total`` (targets it failed of those it checked), ``kinds`` (failure class ->
    count), ``sample`` (some failing target ids).
    """
    if status not in LOCATION_STATUSES:
        raise ValueError(f"location status {status!r}: expected ok, silent or failing")
    detail = detail or {}
    stamp = created_at if isinstance(created_at, str) else format_ts(created_at)
    since = detail.get("since")
    since = str(since) if since else None
    event = AlertEvent.LOCATION_UP if status == "ok" else AlertEvent.LOCATION_DOWN
    target_id = location_target_id(location)
    details: dict[str, Any] = {"location": location}
    for key in _DETAIL_KEYS:
        if detail.get(key) is not None:
            details[key] = detail[key]
    if isinstance(details.get("sample"), list | tuple):
        details["sample"] = [str(s) for s in details["sample"][:_SAMPLE_MAX]]
    if isinstance(details.get("kinds"), Mapping):
        details["kinds"] = dict(details["kinds"])
    # One flip, one id: the down alert of a condition and the up alert ending it share
    # ``since`` and differ by event (and what ended), a retry repeats both.
    key = f"{status}\x00{details.get('was') or ''}\x00{since or stamp}"
    return Alert(
        alert_id=alert_id_for(target_id, event, key),
        event=event,
        target_id=target_id,
        status=status,
        created_at=stamp,
        target={
            "target_id": target_id,
            "name": f"location {location}",
            "location": location,
            "tags": {},
        },
        result=None,
        since=since,
        details=details,
    )
