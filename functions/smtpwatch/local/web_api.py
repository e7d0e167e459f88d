"""The ``/api/…`` JSON documents: the figures ``/metrics`` gives, per target.

``targets_document`` is ``/api/targets``; ``target_document`` is ``/api/targets/<id>``,
the same entry plus its newest result documents.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from smtpwatch.local.prometheus_text import tag_label_names
from smtpwatch.local.target_views import (
    TargetView,
    metric_values,
    read_view,
    read_views,
    recent_results,
    votes_of,
)

__all__ = ["DEFAULT_RESULTS", "MAX_RESULTS", "target_document", "targets_document"]

DEFAULT_RESULTS = 90  # the bar of recent checks
MAX_RESULTS = 1000


def targets_document(conn: sqlite3.Connection) -> dict[str, Any]:
    """``{"targets": [entry, ...]}`` by target id."""
    return {"targets": [_entry(view) for view in read_views(conn)]}


def target_document(
    conn: sqlite3.Connection, target_id: str, limit: int = DEFAULT_RESULTS
) -> dict[str, Any] | None:
    """One target's entry with ``"results"``: its newest ``limit`` results, newest first."""
    view = read_view(conn, target_id)
    if view is None:
        return None
    results = recent_results(conn, target_id, max(0, min(limit, MAX_RESULTS)))
    return _entry(view) | {"results": results}


def _entry(view: TargetView) -> dict[str, Any]:
    values = metric_values(view)
    latest = view.latest or {}
    return {
        "target_id": view.target_id,
        "host": view.host,
        "port": view.port,
        "location": view.location,
        "tags": view.tags,
        "tag_labels": tag_label_names(view.tags),
        "state": view.state,
        "since": view.since,
        "last_check": None
        if view.latest is None
        else {
            "started_at": latest.get("started_at"),
            "status": latest.get("status"),
            "error": latest.get("error"),
            # a verdict of several locations: each one's vote ([] for one location)
            "locations": [v.to_dict() for v in votes_of(latest)],
        },
        "probe_success": values.success,
        "probe_duration_seconds": values.duration_s,
        "probe_smtp_duration_seconds": values.phases_s,
        "probe_ssl_earliest_cert_expiry": values.cert_expiry,
        "probe_ip_protocol": values.ip_protocol,
        "check_timestamp_seconds": values.check_timestamp,
    }
