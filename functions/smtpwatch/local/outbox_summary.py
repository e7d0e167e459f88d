"""The outbox's 24-hour summary: alerts pending too long on a channel are folded into
one ``summary`` alert, which takes the place of the oldest in the delivery order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from smtpwatch.core.alerting import MONITOR_TARGET_ID, alert_id_for
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.outbox_rows import PENDING, SUMMARISED

if TYPE_CHECKING:
    from smtpwatch.local.sqlite_store import SqliteStore

__all__ = ["summarise", "summary_alert"]

_SUMMARY_LIST_LIMIT = 200  # alert ids / targets named in one summary


def summarise(store: SqliteStore, channel: str, *, now: float, after_s: float) -> None:
    """Fold the entries of ``channel`` pending for over ``after_s`` into one summary entry
    (merged into the channel's pending summary when there is one), which takes the
    place of the oldest in the order."""
    cutoff = now - after_s
    # A read first: the write lock is taken only when there is something to fold.
    if not store.query(
        "SELECT 1 FROM outbox WHERE channel = ? AND state = ? AND queued < ?"
        " AND event != ? LIMIT 1",
        (channel, PENDING, cutoff, AlertEvent.SUMMARY.value),
    ):
        return
    with store.writing() as conn:
        old = conn.execute(
            "SELECT seq FROM outbox WHERE channel = ? AND state = ? AND queued < ?"
            " AND event != ? ORDER BY ord, seq",
            (channel, PENDING, cutoff, AlertEvent.SUMMARY.value),
        ).fetchall()
        if not old:
            return
        row = conn.execute(
            "SELECT seq, label FROM outbox WHERE channel = ? AND state = ? AND event = ?"
            " ORDER BY ord LIMIT 1",
            (channel, PENDING, AlertEvent.SUMMARY.value),
        ).fetchone()
        label = conn.execute("SELECT label FROM outbox WHERE seq = ?", (old[0][0],)).fetchone()[0]
        # A new id at every fold (no row is folded twice): a receiver that already
        # took the summary as it was must not drop the larger one as a repeat.
        alert_id = alert_id_for(MONITOR_TARGET_ID, AlertEvent.SUMMARY, f"{channel}:{old[0][0]}")
        if row is None:
            cur = conn.execute(
                "INSERT INTO outbox (channel, label, alert_id, target_id, event, ord, lanes,"
                " alert, state, queued, next_attempt) VALUES (?, ?, ?, ?, ?, 0, '[]', '{}',"
                " ?, ?, ?)",
                (channel, label, alert_id, MONITOR_TARGET_ID, AlertEvent.SUMMARY.value,
                 PENDING, now, now),
            )  # fmt: skip
            summary_seq = int(cur.lastrowid or 0)
        else:
            summary_seq = int(row[0])
        conn.executemany(
            "UPDATE outbox SET state = ?, done = ?, summary_seq = ? WHERE seq = ?",
            [(SUMMARISED, now, summary_seq, seq) for (seq,) in old],
        )
        covered = conn.execute(
            "SELECT alert, ord FROM outbox WHERE summary_seq = ? ORDER BY ord, seq",
            (summary_seq,),
        ).fetchall()
        alerts = [Alert.from_dict(json.loads(text)) for text, _ in covered]
        summary = summary_alert(alert_id, alerts, now)
        lanes = sorted({a.target_id for a in alerts} | {MONITOR_TARGET_ID})
        conn.execute(
            "UPDATE outbox SET alert = ?, alert_id = ?, lanes = ?, ord = ? WHERE seq = ?",
            (json.dumps(summary.to_dict(), ensure_ascii=False), alert_id, json.dumps(lanes),
             float(covered[0][1]), summary_seq),
        )  # fmt: skip


def summary_alert(alert_id: str, alerts: Sequence[Alert], now: float) -> Alert:
    """The summary of ``alerts`` (in delivery order) as of ``now`` (epoch seconds)."""
    by_event: dict[str, int] = {}
    for a in alerts:
        by_event[a.event.value] = by_event.get(a.event.value, 0) + 1
    targets = sorted({a.target_id for a in alerts})
    latest = {a.target_id: a.event.value for a in alerts}  # in order: the last one wins
    first_at = min(a.created_at for a in alerts)
    return Alert(
        alert_id=alert_id,
        event=AlertEvent.SUMMARY,
        target_id=MONITOR_TARGET_ID,
        status="summary",
        created_at=format_ts(datetime.fromtimestamp(now, UTC)),
        target={"target_id": MONITOR_TARGET_ID, "name": "smtpwatch monitor", "tags": {}},
        since=first_at,
        details={
            "count": len(alerts),
            "by_event": by_event,
            "targets": targets[:_SUMMARY_LIST_LIMIT],
            "latest_event": {t: latest[t] for t in targets[:_SUMMARY_LIST_LIMIT]},
            "first_at": first_at,
            "last_at": max(a.created_at for a in alerts),
            "alert_ids": [a.alert_id for a in alerts][:_SUMMARY_LIST_LIMIT],
        },
    )
