"""The values the serve pages show (``page_model``), read from the SQLite store read-only.

``overview_rows`` is the overview, ``target_page`` one target's page. Uptime and the
7 d / 30 d charts read the rollup tables (``local.rollup``); a database that no
smtpwatch with them has opened for writing yet is read from its results instead.
"""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import UTC, datetime
from typing import Any

from smtpwatch.core.alert_text.headline import subject
from smtpwatch.core.safe_text import one_line
from smtpwatch.core.schedule import format_ts, parse_ts
from smtpwatch.core.state import Alert
from smtpwatch.local.page_model import (
    BAR_CHECKS,
    LIST_ROWS,
    MAX_WARNINGS_SHOWN,
    WINDOWS,
    AlertRow,
    CheckCell,
    LastError,
    OverviewRow,
    PhasePoint,
    TargetPage,
    Uptime,
)
from smtpwatch.local.rollup import (
    DAY_S,
    HOUR_S,
    ROLLUP_PHASES,
    Counts,
    has_rollup,
    hour_means,
    newest_failed_hours,
    window_counts,
)
from smtpwatch.local.target_views import (
    TargetView,
    epoch_of,
    finite_number,
    read_view,
    read_views,
    recent_results,
    votes_of,
)

__all__ = ["overview_rows", "target_page"]

_NO_UPTIME = Uptime(None, None, None)
_MEASURED = "status IN ('ok', 'warning', 'critical')"
_PATHS = ", ".join(f"'$.phases.{p}.ms'" for p in ROLLUP_PHASES)


def overview_rows(conn: sqlite3.Connection, now: datetime) -> list[OverviewRow]:
    """One row per configured target, by target id."""
    t = now.timestamp()
    uptimes = _uptimes(conn, t, None)
    return [_row(view, uptimes.get(view.target_id, _NO_UPTIME), t) for view in read_views(conn)]


def target_page(
    conn: sqlite3.Connection, target_id: str, window: str, now: datetime
) -> TargetPage | None:
    """One target's page over ``window`` (a key of ``WINDOWS``); None: no such target."""
    view = read_view(conn, target_id)
    if view is None:
        return None
    t = now.timestamp()
    uptime = _uptimes(conn, t, target_id).get(target_id, _NO_UPTIME)
    checks = [_cell(doc) for doc in reversed(recent_results(conn, target_id, BAR_CHECKS))]
    return TargetPage(
        row=_row(view, uptime, t),
        window=window,
        checks=checks,
        phase_points=_points(conn, target_id, WINDOWS[window], t),
        cert=_cert(view.measured, t),
        failures=_failures(conn, target_id),
        alerts=_alerts(conn, target_id),
        partials=[
            c for c in reversed(checks) if c.status != "critical" and any(v.failed for v in c.votes)
        ],
    )


# -- one row -----------------------------------------------------------------------------


def _row(view: TargetView, uptime: Uptime, now: float) -> OverviewRow:
    measured = view.measured or {}
    return OverviewRow(
        view=view,
        uptime=uptime,
        cert_days_left=_days_left(_dict(measured.get("tls")).get("not_after"), now),
        last_error=_last_error(measured),
        last_check=_str_or_none((view.latest or {}).get("started_at")),
        warnings=_warnings(measured.get("warnings")),
        votes=votes_of(measured),
    )


def _last_error(measured: dict[str, Any]) -> LastError | None:
    # Only when the newest check that measured something failed: a pass clears it.
    if measured.get("status") != "critical":
        return None
    error = _dict(measured.get("error"))
    return LastError(
        phase=_str_or_none(error.get("phase")),
        kind=one_line(str(error.get("kind") or "failed")),
        message=one_line(str(error.get("message") or "")),
        at=_str_or_none(measured.get("started_at")),
    )


def _warnings(stored: object) -> tuple[tuple[str, str], ...]:
    """(kind, message) of each warning that names its kind, at most MAX_WARNINGS_SHOWN."""
    out: list[tuple[str, str]] = []
    for warning in _list(stored):
        kind = _dict(warning).get("kind")
        if isinstance(kind, str) and kind:
            message = warning.get("message")
            out.append((one_line(kind), one_line(message if isinstance(message, str) else "")))
            if len(out) == MAX_WARNINGS_SHOWN:
                break
    return tuple(out)


def _days_left(not_after: object, now: float) -> int | None:
    when = epoch_of(not_after)
    return None if when is None else math.floor((when - now) / DAY_S)


# -- uptime ------------------------------------------------------------------------------


def _uptimes(conn: sqlite3.Connection, now: float, target_id: str | None) -> dict[str, Uptime]:
    count = window_counts if has_rollup(conn) else _counts_from_results
    counts = {name: count(conn, now, seconds, target_id) for name, seconds in WINDOWS.items()}
    day, week, month = (counts[name] for name in WINDOWS)
    ids = set(day) | set(week) | set(month)
    return {
        tid: Uptime(
            day=day.get(tid, Counts()).ratio,
            week=week.get(tid, Counts()).ratio,
            month=month.get(tid, Counts()).ratio,
        )
        for tid in ids
    }


def _counts_from_results(
    conn: sqlite3.Connection, now: float, seconds: int, target_id: str | None
) -> dict[str, Counts]:
    # No rollup yet: count the results themselves, over exactly the window.
    one = "AND target_id = ?" if target_id is not None else ""
    params: tuple[Any, ...] = (now - seconds, now)
    rows = conn.execute(
        "SELECT target_id, SUM(status IN ('ok', 'warning')), SUM(status = 'critical') "
        f"FROM results WHERE started >= ? AND started <= ? {one} GROUP BY target_id",
        params if target_id is None else (*params, target_id),
    ).fetchall()
    return {str(tid): Counts(int(p), int(f)) for tid, p, f in rows}


# -- the chart ---------------------------------------------------------------------------


def _points(conn: sqlite3.Connection, target_id: str, seconds: int, now: float) -> list[PhasePoint]:
    """24 h: every check that measured something. Longer: one point per hour, at the
    start of the hour, the mean of each phase over that hour's checks."""
    if seconds <= DAY_S:
        return [PhasePoint(at, ms) for at, ms in _raw(conn, target_id, now - seconds, now)]
    first, last = math.ceil((now - seconds) / HOUR_S), math.floor(now / HOUR_S)
    if has_rollup(conn):
        means = hour_means(conn, target_id, first, last)
    else:
        means = _means_of(_raw(conn, target_id, first * HOUR_S, now))
    return [PhasePoint(float(hour * HOUR_S), ms) for hour, ms in means]


def _raw(
    conn: sqlite3.Connection, target_id: str, since: float, until: float
) -> list[tuple[float, dict[str, float]]]:
    rows = conn.execute(
        f"SELECT started, CASE WHEN json_valid(data) THEN json_extract(data, {_PATHS}) END "
        f"FROM results WHERE target_id = ? AND started >= ? AND started <= ? AND {_MEASURED} "
        "ORDER BY started, ts",
        (target_id, since, until),
    ).fetchall()
    out = []
    for started, array in rows:
        values = json.loads(array) if array else []
        ms = {
            phase: float(v)
            for phase, v in zip(ROLLUP_PHASES, values, strict=False)
            if finite_number(v) is not None
        }
        if ms:
            out.append((float(started), ms))
    return out


def _means_of(points: list[tuple[float, dict[str, float]]]) -> list[tuple[int, dict[str, float]]]:
    sums: dict[int, dict[str, list[float]]] = {}
    for at, ms in points:
        hour = sums.setdefault(int(at // HOUR_S), {})
        for phase, value in ms.items():
            hour.setdefault(phase, []).append(value)
    return [
        (hour, {p: sum(v) / len(v) for p, v in phases.items()})
        for hour, phases in sorted(sums.items())
    ]


# -- certificate, failures, alerts --------------------------------------------------------


def _cert(measured: dict[str, Any] | None, now: float) -> dict[str, str]:
    """The newest measured check's certificate facts, in display order; {} for none."""
    tls = _dict((measured or {}).get("tls"))
    if not tls:
        return {}
    days = _days_left(tls.get("not_after"), now)
    facts = {
        "Subject": tls.get("subject"),
        "Issuer": tls.get("issuer"),
        "Names": ", ".join(str(s) for s in _list(tls.get("sans")) if s),
        "Valid from": tls.get("not_before"),
        "Valid until": tls.get("not_after"),
        "Days left": None if days is None else str(days),
        "Verified": _verified(tls),
        "TLS version": tls.get("version"),
        "Cipher": tls.get("cipher"),
    }
    return {label: one_line(str(v)) for label, v in facts.items() if v not in (None, "")}


def _verified(tls: dict[str, Any]) -> str | None:
    if tls.get("verified") is None:
        return None
    return "yes" if tls["verified"] else f"no: {tls.get('verify_error') or 'not verified'}"


def _failures(conn: sqlite3.Connection, target_id: str) -> list[CheckCell]:
    since = 0.0
    if has_rollup(conn):
        # Without a lower bound a target that never failed reads every result it has.
        hours = newest_failed_hours(conn, target_id, LIST_ROWS)
        if not hours:
            return []
        since = float(hours[-1] * HOUR_S)
    rows = conn.execute(
        "SELECT data FROM results WHERE target_id = ? AND started >= ? "
        "AND status = 'critical' ORDER BY started DESC, ts DESC LIMIT ?",
        (target_id, since, LIST_ROWS),
    ).fetchall()
    return [_cell(_doc(data)) for (data,) in rows]


def _alerts(conn: sqlite3.Connection, target_id: str) -> list[AlertRow]:
    if not _has_table(conn, "outbox"):
        return []
    rows = conn.execute(
        "SELECT alert, event, label, state, last_error, queued FROM outbox "
        "WHERE target_id = ? ORDER BY queued DESC, seq DESC LIMIT ?",
        (target_id, LIST_ROWS),
    ).fetchall()
    out = []
    for alert_text, event, label, state, last_error, queued in rows:
        doc = _doc(alert_text)
        at = _str_or_none(doc.get("created_at")) or _queued_at(queued)
        failing = state in ("pending", "given_up") and last_error
        out.append(
            AlertRow(
                at=at,
                event=str(event),
                channel=str(label),
                state=str(state),
                detail=one_line(str(last_error)) if failing else _subject(doc),
            )
        )
    return out


def _subject(doc: dict[str, Any]) -> str:
    try:
        return subject(Alert.from_dict(doc))
    except (KeyError, ValueError, TypeError, AttributeError):  # a hand-edited alert
        return ""


def _queued_at(queued: float) -> str:
    try:
        return format_ts(datetime.fromtimestamp(float(queued), UTC))
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


# -- small helpers --------------------------------------------------------------------------


def _cell(doc: dict[str, Any]) -> CheckCell:
    return CheckCell(
        started_at=str(doc.get("started_at") or ""),
        status=str(doc.get("status") or "unknown"),
        error=_error_line(doc.get("error")),
        location=one_line(str(doc.get("location") or "")),
        votes=votes_of(doc),
    )


def _error_line(error: object) -> str:
    """ "<phase>: <kind>: <message>", leaving out the parts a result lacks."""
    parts = [str(v) for v in (_dict(error).get(k) for k in ("phase", "kind", "message")) if v]
    return one_line(": ".join(parts)) if parts else ""


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def _doc(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError):  # hand-edited: nested too deep
        return {}
    return value if isinstance(value, dict) else {}


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
    try:
        return parse_ts(value).timestamp()
    except (ValueError, OverflowError):
        return None
