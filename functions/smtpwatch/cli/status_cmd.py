"""`smtpwatch status`: every target's confirmed state, since when, and its last error.

Reads the local store or the deployed stack's tables. The last check is the newest
stored result (on AWS a passing check that changes nothing is stored only once per
``PassingResultSeconds``, and the table says so). Exit 0: a report, not a check.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, cast

from smtpwatch.cli.backend import Backend, add_backend_arguments, open_backend
from smtpwatch.cli.color import add_color_argument, use_color
from smtpwatch.cli.locations_view import (
    effective_count,
    failing_places,
    failing_text,
    location_cell,
    quorum_line,
    votes_in,
)
from smtpwatch.cli.output import (
    add_json_argument,
    format_ago,
    format_ms,
    print_json,
    render_table,
)
from smtpwatch.core.safe_text import guard

if TYPE_CHECKING:
    from smtpwatch.core.state import TargetState
    from smtpwatch.core.target import Target
    from smtpwatch.local.sqlite_store import SqliteStore

_ORDER = {"down": 0, "warning": 1, "pending": 2, "up": 3, "disabled": 4}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_backend_arguments(parser)
    add_json_argument(parser)
    add_color_argument(parser)
    parser.add_argument(
        "--problems", action="store_true", help="only targets that are down, warning or failing"
    )


def run(args: argparse.Namespace) -> int:
    backend = open_backend(args, need=("targets", "states", "results"), create=False)
    try:
        rows = collect(backend)
        delivery = _delivery_lines(backend)
    finally:
        backend.close()
    if args.problems:
        rows = [
            r
            for r in rows
            if r["status"] in ("down", "warning") or r["failing"] or r["locations_failing"]
        ]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no targets in {backend.description}" + (" with problems" if args.problems else ""))
        return 0
    table = render_table(
        (
            "TARGET",
            "ENDPOINT",
            "STATE",
            "SINCE",
            "CHECKED",
            "LOCATION",
            "TOTAL",
            "LAST ERROR / WARNING",
        ),
        (
            (
                r["target_id"],
                f"{r['host']}:{r['port']}",
                _state_cell(r),
                format_ago(r["since"]),
                format_ago(r["last_checked_at"]),
                location_cell(votes_in(r), r["location"]) or "-",
                format_ms(r["total_ms"]),
                _problem(r),
            )
            for r in rows
        ),
        # Cut long cells for a terminal only: piped, the whole error is what a
        # grep or a mail to a colleague needs.
        max_width=70 if sys.stdout.isatty() else sys.maxsize,
    )
    _print_table(table, rows, use_color(args.color, sys.stdout))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: _ORDER[kv[0]]))
    print(f"\n{len(rows)} target{'s' if len(rows) != 1 else ''}: {summary}")
    if any(r["pending_alert"] for r in rows):
        print("* an alert is waiting to be delivered (sent by the next run)")
    for line in delivery:  # alert channels with alerts pending or given up
        print(line)
    for r in rows:  # a quorum no slot can reach as written
        note = quorum_line(
            r["target_id"], r["quorum"], r["deployed_locations"], local=backend.kind == "sqlite"
        )
        if note:
            print(note)
    if backend.kind == "dynamodb":
        print(
            "CHECKED is the newest stored result: a passing check that changes nothing is "
            "stored once per PassingResultSeconds (1 h by default); every check is a line "
            "of the probe's log (the stack's dashboard and saved queries) and next_due_at "
            "in --json"
        )
    return 0


def _delivery_lines(backend: Backend) -> list[str]:
    """The local alert outbox's pending and given-up alerts, per channel."""
    if backend.kind != "sqlite":
        return []  # on AWS, SNS is the outbox
    from smtpwatch.cli.outbox_view import status_lines

    return status_lines(cast("SqliteStore", backend.targets))


def collect(backend: Backend) -> list[dict[str, Any]]:
    """One JSON-ready row per target, worst first."""
    from smtpwatch.core.alerting import with_latest_result
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.state import TargetState
    from smtpwatch.core.target import Target

    states = {s.target_id: s for s in backend.states.iter_states()}
    latest_of = getattr(backend.results, "latest", None)
    rows = []
    for item in backend.targets.iter_items():
        target_id = str(item.get("target_id"))
        try:
            target, _ = Target.from_item(item, strict=False)
        except ConfigError as exc:
            rows.append(_broken_row(item, str(exc)))
            continue
        state = states.get(target_id) or TargetState(target_id)
        if callable(latest_of):
            state = with_latest_result(state, latest_of(target_id))
        rows.append(_row(target, state, _checked_from(backend, target)))
    rows.sort(key=lambda r: (_ORDER.get(r["status"], 9), r["target_id"]))
    return rows


def _checked_from(backend: Backend, target: Target) -> int | None:
    """How many deployed locations check ``target``: 1 in local mode; on AWS the
    stack's locations it names (None when the CLI has only table names)."""
    if backend.kind == "sqlite":
        return 1
    return None if backend.locations is None else effective_count(target, backend.locations)


def _row(target: Target, state: TargetState, checked_from: int | None) -> dict[str, Any]:
    from smtpwatch.core.alerting import target_identity

    last = state.last_result or {}
    status = state.status.value if target.enabled else "disabled"
    votes = votes_in(last)
    return {
        **target_identity(target),
        "enabled": target.enabled,
        "status": status,
        "confirmed_status": state.status.value,
        "since": state.last_change_at,
        "last_checked_at": state.last_checked_at,
        "consecutive_failures": state.consecutive_failures,
        "failing": state.consecutive_failures > 0,
        "last_status": last.get("status"),
        # where the last check ran (None: no check yet, or stored before results said)
        "location": last.get("location") or None,
        # a verdict of several locations: each one's vote, and "2/3 locations failing"
        "locations": [v.to_dict() for v in votes],
        "locations_failing": failing_text(votes),
        "quorum": target.quorum,
        "deployed_locations": checked_from,
        "total_ms": last.get("total_ms"),
        "error": last.get("error"),
        "warnings": last.get("warnings") or [],
        "days_left": (last.get("tls") or {}).get("days_left"),
        "pending_alert": bool(state.pending_alert),
        "last_alert_at": state.last_alert_at,
        # Derived, not stored: a slot is a pure function of id and interval
        # (core.schedule), so no write is spent on it. A never-probed target is due at
        # the next tick rather than at its slot.
        "next_due_at": _next_due(target, state),
    }


def _next_due(target: Target, state: TargetState) -> str | None:
    from smtpwatch.core import schedule

    if not target.enabled:
        return None
    now = schedule.utc_now()
    if state.last_checked_at is None:
        return schedule.format_ts(now)
    return schedule.format_ts(schedule.next_slot(target, now))


def _broken_row(item: dict[str, Any], message: str) -> dict[str, Any]:
    return {
        "target_id": str(item.get("target_id")),
        "name": str(item.get("name") or item.get("host") or ""),
        "host": str(item.get("host") or "?"),
        "port": item.get("port") or "?",
        "encryption": item.get("encryption"),
        "enabled": False,
        "status": "down",
        "confirmed_status": "down",
        "since": None,
        "last_checked_at": None,
        "consecutive_failures": 0,
        "failing": True,
        "last_status": "critical",
        "location": None,
        "locations": [],
        "locations_failing": None,
        "quorum": 0,
        "deployed_locations": None,
        "total_ms": None,
        "error": {"kind": "config", "phase": None, "message": message},
        "warnings": [],
        "days_left": None,
        "pending_alert": False,
        "last_alert_at": None,
    }


def _print_table(table: str, rows: list[dict[str, Any]], color: bool) -> None:
    """The table, its STATE words coloured when ``color`` (``cli.color`` decides)."""
    if not color:
        print(table)
        return
    out = guard(sys.stdout)
    head, *lines = table.split("\n")
    at = head.index("STATE")
    out.write(head + "\n")
    for line, row in zip(lines, rows, strict=True):
        word = str(row["status"])
        out.write(line[:at])
        out.write_style(_COLORS.get(word, "0"))
        out.write(line[at : at + len(word)])
        out.write_style("0")
        out.write(line[at + len(word) :] + "\n")


# SGR colours of the STATE words: red, yellow, green, grey.
_COLORS = {"down": "31", "warning": "33", "up": "32", "pending": "90", "disabled": "90"}


def _state_cell(row: dict[str, Any]) -> str:
    status = str(row["status"])
    if row["failing"] and status != "down":
        n = row["consecutive_failures"]
        status += f" ({n} failure{'s' if n != 1 else ''})"
    if row["pending_alert"]:
        status += " *"
    return status


def _problem(row: dict[str, Any]) -> str:
    failing = row.get("locations_failing")
    if failing:  # a verdict: the failing locations, each with its error
        warnings = [w for w in row.get("warnings") or [] if not _is_partial(w)]
        parts = [f"{failing}: {failing_places(votes_in(row))}"]
        return "; ".join(parts + [f"{w['kind']}: {w.get('message', '')}" for w in warnings])
    error = row.get("error")
    if error:
        where = f" in {error['phase']}" if error.get("phase") else ""
        return f"{error['kind']}{where}: {error.get('message', '')}"
    warnings = row.get("warnings") or []
    if warnings:
        return "; ".join(f"{w['kind']}: {w.get('message', '')}" for w in warnings)
    # Nothing wrong: a fact like the certificate's days left would read as a problem
    # in this column (--json keeps days_left).
    return "-"


def _is_partial(warning: Any) -> bool:
    return isinstance(warning, dict) and warning.get("kind") == "partial_failure"
