"""What the alert outbox holds, for `smtpwatch alerts list` and `smtpwatch status`.

``alerts list`` shows every alert recorded for a channel (pending, delivered, given up,
summarised) with its tries and last error; rows done more than 30 days ago are
forgotten. ``status`` adds a line per channel that has alerts pending or given up.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from smtpwatch.cli.output import format_ago, iso_z, print_json, render_table

if TYPE_CHECKING:
    from smtpwatch.local.outbox import Outbox
    from smtpwatch.local.outbox_rows import Entry
    from smtpwatch.local.sqlite_store import SqliteStore

__all__ = ["entry_row", "run_list", "status_lines"]

_STATE_WORDS = {"given_up": "given up"}


def _outbox(store: SqliteStore) -> Outbox:
    from smtpwatch.local.outbox import Outbox

    return Outbox(store)


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else iso_z(datetime.fromtimestamp(epoch, UTC))


def entry_row(entry: Entry) -> dict[str, Any]:
    return {
        "channel": entry.channel,
        "label": entry.label,
        "state": entry.state,
        "event": entry.alert.event.value,
        "target_id": entry.alert.target_id,
        "alert_id": entry.alert.alert_id,
        "created_at": entry.alert.created_at,
        "queued_at": _when(entry.queued),
        "attempts": entry.attempts,
        "next_attempt_at": _when(entry.next_attempt) if entry.state == "pending" else None,
        "last_attempt_at": _when(entry.last_attempt),
        "done_at": _when(entry.done),
        "last_error": entry.last_error,
    }


def run_list(args: argparse.Namespace) -> int:
    from smtpwatch.cli.backend import open_sqlite

    with open_sqlite(getattr(args, "db", None), create=False) as backend:
        store = cast("SqliteStore", backend.targets)  # the SqliteStore behind every port
        rows = [entry_row(e) for e in _outbox(store).entries()]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no alerts recorded for delivery (the console gets every alert directly)")
        return 0
    table = [
        (
            r["label"],
            _STATE_WORDS.get(r["state"], r["state"]),
            r["event"],
            r["target_id"],
            r["created_at"],
            r["attempts"],
            r["last_error"],
        )
        for r in rows
    ]
    print(
        render_table(
            ("CHANNEL", "STATE", "EVENT", "TARGET", "RAISED", "TRIES", "LAST ERROR"), table
        )
    )
    return 0


def status_lines(store: SqliteStore, *, now: datetime | None = None) -> list[str]:
    """One line per channel with alerts pending or given up; none when all is delivered."""
    lines = []
    for stats in _outbox(store).stats():
        if not stats.pending and not stats.given_up:
            continue
        parts = []
        if stats.pending:
            oldest = format_ago(_when(stats.oldest_pending), now=now)
            parts.append(f"{stats.pending} pending (oldest {oldest})")
        if stats.given_up:
            parts.append(f"{stats.given_up} given up")
        line = f"alerts to {stats.label}: {', '.join(parts)}"
        if stats.last_error:
            line += f"; last error: {stats.last_error}"
        lines.append(line)
    return lines
