"""The alert outbox: alerts recorded in SQLite first, delivered per channel later.

A check only records its alert here (one row per channel, in the state's database);
delivery workers (``local.delivery``) take it from there. Per channel, a target's
alerts go out in order, an alert delivered after a newer one of its target says
``late``, retries back off (``RetryPolicy``), a 4xx other than 408/429 is given up, and
alerts pending over ``summarise_after_s`` are replaced by one ``summary`` alert.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smtpwatch.core.alerting import MONITOR_TARGET_ID, alert_id_for
from smtpwatch.core.safe_text import one_line
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent

if TYPE_CHECKING:
    from smtpwatch.local.sqlite_store import SqliteStore

__all__ = ["ChannelStats", "Entry", "Outbox", "RetryPolicy"]

PENDING, DELIVERED, GIVEN_UP, SUMMARISED = "pending", "delivered", "given_up", "summarised"
_ERROR_LIMIT = 300
_SUMMARY_LIST_LIMIT = 200  # alert ids / targets named in one summary

_COLUMNS = (
    "seq, channel, label, alert, state, attempts, next_attempt, queued, last_error, "
    "last_attempt, done, lanes, ord"
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float = 2.0  # the first retry waits 1-2 s, then doubling ...
    cap_s: float = 300.0  # ... up to 2.5-5 minutes between tries
    give_up_after: int = 3  # tries of an alert the receiver refuses (4xx)
    summarise_after_s: float = 86_400.0
    keep_done_s: float = 30 * 86_400.0  # delivered/given-up rows kept for listing

    def delay(self, attempts: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds before the next try after ``attempts`` failed ones: "equal jitter"
        (half fixed, half random) so many alerts failing together spread out."""
        full = min(self.cap_s, self.base_s * 2 ** max(0, attempts - 1))
        wait = full / 2 + rng.uniform(0, full / 2)
        if retry_after is not None:
            wait = max(wait, min(float(retry_after), self.cap_s))
        return float(wait)


@dataclass(frozen=True, slots=True)
class Entry:
    """One alert on one channel."""

    seq: int
    channel: str
    label: str
    alert: Alert
    state: str
    attempts: int
    next_attempt: float
    queued: float
    last_error: str | None
    last_attempt: float | None
    done: float | None
    lanes: tuple[str, ...]
    order: float
    late: bool = False  # computed when taken for delivery

    def outgoing(self) -> Alert:
        """The alert as it is sent: marked late when a newer alert of its target exists."""
        if not self.late:
            return self.alert
        return replace(self.alert, details={**self.alert.details, "late": True})


@dataclass(frozen=True, slots=True)
class ChannelStats:
    channel: str
    label: str
    pending: int
    given_up: int
    oldest_pending: float | None
    last_error: str | None


class Outbox:
    def __init__(
        self,
        store: SqliteStore,
        *,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random()

    # -- recording ---------------------------------------------------------------------

    def enqueue(self, alert: Alert, channels: Sequence[tuple[str, str]]) -> int:
        """Record ``alert`` for each (key, label) channel, in one transaction; an alert
        already recorded for a channel is not recorded again. Returns rows added."""
        now = self.clock()
        data = json.dumps(alert.to_dict(), ensure_ascii=False, separators=(",", ":"))
        added = 0
        with self.store.writing() as conn:
            for key, label in channels:
                cur = conn.execute(
                    "INSERT INTO outbox (channel, label, alert_id, target_id, event, ord, lanes,"
                    " alert, state, queued, next_attempt) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (channel, alert_id) DO NOTHING",
                    (key, label, alert.alert_id, alert.target_id, alert.event.value,
                     json.dumps([alert.target_id]), data, PENDING, now, now),
                )  # fmt: skip
                if cur.rowcount == 1:
                    added += 1
                    conn.execute("UPDATE outbox SET ord = seq WHERE seq = ?", (cur.lastrowid,))
        return added

    # -- taking work -----------------------------------------------------------------------

    def due(
        self,
        channel: str,
        *,
        busy: Collection[str] = (),
        ignore_backoff: bool = False,
        limit: int | None = None,
    ) -> list[Entry]:
        """The entries of ``channel`` that may be tried now (at most ``limit``, oldest
        first): the first pending entry of each lane, unless the lane is ``busy`` (an
        attempt in flight) or backing off."""
        self._summarise(channel)
        now = self.clock()
        # Lanes first, from the small columns: a long outage may leave thousands of
        # pending rows, and only the heads' alert documents are needed.
        pending = self.store.query(
            "SELECT seq, lanes, next_attempt FROM outbox WHERE channel = ? AND state = ?"
            " ORDER BY ord, seq",
            (channel, PENDING),
        )
        blocked = set(busy)
        heads: list[int] = []
        for seq, lanes_json, next_attempt in pending:
            lanes = set(json.loads(lanes_json))
            if not lanes & blocked and (ignore_backoff or float(next_attempt) <= now):
                heads.append(int(seq))
                if limit is not None and len(heads) >= limit:
                    break
            blocked |= lanes
        if not heads:
            return []
        marks = ", ".join("?" * len(heads))
        entries = self._select(f"WHERE seq IN ({marks}) ORDER BY ord, seq", heads)
        return [replace(e, late=self._superseded(e)) for e in entries]

    def next_wake(self, channel: str) -> float | None:
        """When the earliest pending entry of ``channel`` may be tried (epoch seconds)."""
        rows = self.store.query(
            "SELECT MIN(next_attempt) FROM outbox WHERE channel = ? AND state = ?",
            (channel, PENDING),
        )
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    # -- outcomes ----------------------------------------------------------------------------

    def delivered(self, entry: Entry) -> None:
        now = self.clock()
        with self.store.writing() as conn:
            conn.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, last_attempt = ?, done = ?"
                " WHERE seq = ? AND state = ? AND alert_id = ?",
                # A summary that took more alerts while this attempt was in flight has a
                # new id: what was sent is not what it now says, so it stays pending.
                (DELIVERED, now, now, entry.seq, PENDING, entry.alert.alert_id),
            )

    def failed(self, entry: Entry, error: BaseException) -> Entry:
        """Record a failed try: back off, or give up on a refusal tried often enough."""
        now = self.clock()
        attempts = entry.attempts + 1
        message = one_line(str(error) or type(error).__name__, _ERROR_LIMIT)
        permanent = bool(getattr(error, "permanent", False))
        if permanent and attempts >= self.policy.give_up_after:
            state, next_attempt, done = GIVEN_UP, entry.next_attempt, now
        else:
            retry_after = getattr(error, "retry_after", None)
            wait = self.policy.delay(attempts, self._rng, retry_after)
            state, next_attempt, done = PENDING, now + wait, None
        with self.store.writing() as conn:
            conn.execute(
                "UPDATE outbox SET state = ?, attempts = ?, next_attempt = ?, last_attempt = ?,"
                " last_error = ?, done = ? WHERE seq = ? AND state = ?",
                (state, attempts, next_attempt, now, message, done, entry.seq, PENDING),
            )
        return replace(
            entry, state=state, attempts=attempts, next_attempt=next_attempt,
            last_attempt=now, last_error=message, done=done,
        )  # fmt: skip

    # -- reading -------------------------------------------------------------------------------

    def entries(
        self, *, channel: str | None = None, states: Collection[str] | None = None
    ) -> list[Entry]:
        """Entries in delivery order (oldest first)."""
        where, params = [], []
        if channel is not None:
            where.append("channel = ?")
            params.append(channel)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params.extend(states)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return self._select(f"{clause} ORDER BY channel, ord, seq", tuple(params))

    def stats(self) -> list[ChannelStats]:
        """Per channel: pending count, given-up count, oldest pending, latest error."""
        rows = self.store.query(
            "SELECT channel, MAX(label),"
            " SUM(state = 'pending'), SUM(state = 'given_up'),"
            " MIN(CASE WHEN state = 'pending' THEN queued END)"
            " FROM outbox GROUP BY channel ORDER BY channel"
        )
        out = []
        for channel, label, pending, given_up, oldest in rows:
            err = self.store.query(
                "SELECT last_error FROM outbox WHERE channel = ? AND last_error IS NOT NULL"
                " AND state IN ('pending', 'given_up') ORDER BY last_attempt DESC LIMIT 1",
                (channel,),
            )
            out.append(
                ChannelStats(
                    str(channel), str(label), int(pending or 0), int(given_up or 0),
                    None if oldest is None else float(oldest), err[0][0] if err else None,
                )
            )  # fmt: skip
        return out

    def prune(self) -> int:
        """Forget rows done longer than ``keep_done_s`` ago."""
        cutoff = self.clock() - self.policy.keep_done_s
        with self.store.writing() as conn:
            cur = conn.execute(
                "DELETE FROM outbox WHERE state != ? AND done IS NOT NULL AND done < ?",
                (PENDING, cutoff),
            )
        return int(cur.rowcount)

    # -- internals -------------------------------------------------------------------------------

    def _select(self, clause: str, params: Sequence[Any]) -> list[Entry]:
        return [
            _entry(row)
            for row in self.store.query(f"SELECT {_COLUMNS} FROM outbox {clause}", params)
        ]

    def _superseded(self, entry: Entry) -> bool:
        if entry.alert.event is AlertEvent.SUMMARY:
            return False
        rows = self.store.query(
            "SELECT 1 FROM outbox WHERE channel = ? AND target_id = ? AND ord > ? LIMIT 1",
            (entry.channel, entry.alert.target_id, entry.order),
        )
        return bool(rows)

    def _summarise(self, channel: str) -> None:
        """Fold the entries pending for over ``summarise_after_s`` into one summary entry
        (merged into the channel's pending summary when there is one), which takes the
        place of the oldest in the order."""
        now = self.clock()
        cutoff = now - self.policy.summarise_after_s
        # A read first: the write lock is taken only when there is something to fold.
        if not self.store.query(
            "SELECT 1 FROM outbox WHERE channel = ? AND state = ? AND queued < ?"
            " AND event != ? LIMIT 1",
            (channel, PENDING, cutoff, AlertEvent.SUMMARY.value),
        ):
            return
        with self.store.writing() as conn:
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
            label = conn.execute("SELECT label FROM outbox WHERE seq = ?", (old[0][0],)).fetchone()[
                0
            ]
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
            summary = _summary_alert(alert_id, alerts, now)
            lanes = sorted({a.target_id for a in alerts} | {MONITOR_TARGET_ID})
            conn.execute(
                "UPDATE outbox SET alert = ?, alert_id = ?, lanes = ?, ord = ? WHERE seq = ?",
                (json.dumps(summary.to_dict(), ensure_ascii=False), alert_id, json.dumps(lanes),
                 float(covered[0][1]), summary_seq),
            )  # fmt: skip


def _summary_alert(alert_id: str, alerts: Sequence[Alert], now: float) -> Alert:
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


def _entry(row: tuple[Any, ...]) -> Entry:
    (seq, channel, label, alert, state, attempts, next_attempt, queued, last_error,
     last_attempt, done, lanes, order) = row  # fmt: skip
    return Entry(
        seq=int(seq),
        channel=str(channel),
        label=str(label),
        alert=Alert.from_dict(json.loads(alert)),
        state=str(state),
        attempts=int(attempts),
        next_attempt=float(next_attempt),
        queued=float(queued),
        last_error=None if last_error is None else str(last_error),
        last_attempt=None if last_attempt is None else float(last_attempt),
        done=None if done is None else float(done),
        lanes=tuple(json.loads(lanes)),
        order=float(order),
    )
