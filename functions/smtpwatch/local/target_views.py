"""What `smtpwatch serve` shows of each target, read from the SQLite store read-only.

``read_views`` builds one ``TargetView`` per configured target from the targets, state
and results tables; ``metric_values`` turns a view into the figures that ``/metrics``
and ``/api/…`` both give (one derivation, two formats).
"""

from __future__ import annotations

import json
import math
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smtpwatch.core.kinds import PHASES
from smtpwatch.core.locations import MAX_LOCATIONS, LocationVote
from smtpwatch.core.schedule import parse_ts

__all__ = [
    "STATES",
    "MetricValues",
    "TargetView",
    "epoch_of",
    "finite_number",
    "metric_values",
    "open_readonly",
    "read_view",
    "read_views",
    "recent_results",
    "votes_of",
]

# Every value of smtpwatch_target_state's "state" label, in a fixed order.
STATES: tuple[str, ...] = ("pending", "up", "warning", "down", "disabled")
_PASSED = {"ok": 1, "warning": 1, "critical": 0}
_IP_PROTOCOL = {"ipv4": 4, "ipv6": 6}
# NaN and ±Infinity (not JSON, but Python's json writes them) read as null, so /api
# answers strict JSON whatever was stored.
_DECODER = json.JSONDecoder(parse_constant=lambda _constant: None)


@dataclass(frozen=True, slots=True)
class TargetView:
    """One target as stored: its labels, its state and the two results that matter."""

    target_id: str
    host: str
    port: str  # a label value: "" when neither the item nor a result names one
    location: str  # the latest result's "location" ("" for results that predate it)
    tags: dict[str, str]
    state: str
    since: str | None  # when the state last changed
    latest: dict[str, Any] | None  # the newest result document, any status
    measured: dict[str, Any] | None  # the newest result whose status is not unknown


@dataclass(frozen=True, slots=True)
class MetricValues:
    """The figures of one target; None where the store holds nothing to report."""

    success: int | None
    duration_s: float | None
    phases_s: dict[str, float]
    cert_expiry: float | None  # Unix time of the certificate's notAfter
    ip_protocol: int | None
    check_timestamp: float | None  # when the newest check started (Unix time)


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing database (sqlite3.Error when there is none)."""
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=10.0, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    return conn


def read_views(conn: sqlite3.Connection) -> list[TargetView]:
    """Every configured target, by target id."""
    states = dict(conn.execute("SELECT target_id, data FROM state").fetchall())
    return [
        _view(conn, str(tid), item, states.get(tid))
        for tid, item in conn.execute("SELECT target_id, item FROM targets ORDER BY target_id")
    ]


def read_view(conn: sqlite3.Connection, target_id: str) -> TargetView | None:
    """One configured target, or None."""
    row = conn.execute("SELECT item FROM targets WHERE target_id = ?", (target_id,)).fetchone()
    if row is None:
        return None
    state = conn.execute("SELECT data FROM state WHERE target_id = ?", (target_id,)).fetchone()
    return _view(conn, target_id, row[0], None if state is None else state[0])


def recent_results(conn: sqlite3.Connection, target_id: str, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` result documents of one target, newest first."""
    rows = conn.execute(
        "SELECT data FROM results WHERE target_id = ? ORDER BY started DESC, ts DESC LIMIT ?",
        (target_id, limit),
    ).fetchall()
    return [_doc(data) for (data,) in rows]


def _view(
    conn: sqlite3.Connection, target_id: str, item_text: str, state_text: str | None
) -> TargetView:
    item = _doc(item_text)
    state = _doc(state_text) if state_text else {}
    latest = _newest(conn, target_id, "")
    measured = latest
    if latest is not None and latest.get("status") == "unknown":
        measured = _newest(conn, target_id, "AND status != 'unknown'")
    last = latest or {}
    raw_tags = item.get("tags")
    tags = raw_tags if isinstance(raw_tags, dict) else {}
    port = item.get("port") if item.get("port") is not None else last.get("port")
    status = "disabled" if item.get("enabled") is False else str(state.get("status") or "pending")
    return TargetView(
        target_id=target_id,
        host=_text(item.get("host") or last.get("host")),
        port="" if port is None else _text(port),
        location=_text(last.get("location")),
        tags={_text(k): _text(v) for k, v in tags.items()},
        state=status,
        since=state.get("last_change_at") if isinstance(state.get("last_change_at"), str) else None,
        latest=latest,
        measured=measured,
    )


def _newest(conn: sqlite3.Connection, target_id: str, where: str) -> dict[str, Any] | None:
    # Uses the (target_id, started) index: newest first, stops at the first match.
    row = conn.execute(
        f"SELECT data FROM results WHERE target_id = ? {where} "  # where: a constant
        "ORDER BY started DESC, ts DESC LIMIT 1",
        (target_id,),
    ).fetchone()
    return None if row is None else _doc(row[0])


def _doc(text: str) -> dict[str, Any]:
    # A row someone edited by hand shows as an empty document, not a crashed server
    # (nested too deep to parse: RecursionError).
    try:
        value = _DECODER.decode(text)
    except (ValueError, TypeError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return "" if value is None else str(value)


def metric_values(view: TargetView) -> MetricValues:
    """The figures of one target. Every ``probe_*`` figure describes the newest check
    that was not unknown (an unknown check measured nothing about the server)."""
    doc = view.measured or {}
    phases = _dict(doc.get("phases"))
    phases_s: dict[str, float] = {}
    for phase in PHASES:
        entry = phases.get(phase.value)
        ms = finite_number(entry.get("ms")) if isinstance(entry, dict) else None
        if ms is not None:
            phases_s[phase.value] = _seconds(ms)
    total = finite_number(doc.get("total_ms")) if view.measured else None
    tls = _dict(doc.get("tls"))
    address = _dict(doc.get("address"))
    return MetricValues(
        success=_PASSED.get(str(doc.get("status"))),
        duration_s=None if total is None else _seconds(total),
        phases_s=phases_s,
        cert_expiry=epoch_of(tls.get("not_after")),
        ip_protocol=_IP_PROTOCOL.get(str(address.get("family"))),
        check_timestamp=epoch_of((view.latest or {}).get("started_at")),
    )


def _seconds(ms: float) -> float:
    # Stored to 0.1 ms: rounding keeps 123.4 ms from printing as 0.12340000000000001 s.
    return round(ms / 1000, 7)


def votes_of(doc: dict[str, Any]) -> tuple[LocationVote, ...]:
    """A stored verdict's votes, the first MAX_LOCATIONS usable ones; () for a result of
    one location (or a list edited by hand into something else)."""
    raw = doc.get("locations")
    entries = raw[:MAX_LOCATIONS] if isinstance(raw, list) else []
    return tuple(v for v in map(LocationVote.from_dict, entries) if v is not None)


def finite_number(value: object) -> float | None:
    """A stored number as float; None for anything else (bool, text, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def epoch_of(value: object) -> float | None:
    """A stored ISO-8601 time as Unix time; None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_ts(value).timestamp()
    except (ValueError, OverflowError):
        return None
