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
from typing import TYPE_CHECKING, Any

from smtpwatch.core.safe_text import one_line
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.outbox_rows import (
    COLUMNS,
    DELIVERED,
    GIVEN_UP,
    PENDING,
    ChannelStats,
    Entry,
    entry_from_row,
)
from smtpwatch.local.outbox_summary import summarise

if TYPE_CHECKING:
    from smtpwatch.local.sqlite_store import SqliteStore

__all__ = ["Outbox", "RetryPolicy"]

_ERROR_LIMIT = 300


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
        summarise(self.store, channel, now=self.clock(), after_s=self.policy.summarise_after_s)
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
            entry_from_row(row)
            for row in self.store.query(f"SELECT {COLUMNS} FROM outbox {clause}", params)
        ]

    def _superseded(self, entry: Entry) -> bool:
        if entry.alert.event is AlertEvent.SUMMARY:
            return False
        rows = self.store.query(
            "SELECT 1 FROM outbox WHERE channel = ? AND target_id = ? AND ord > ? LIMIT 1",
            (entry.channel, entry.alert.target_id, entry.order),
        )
        return bool(rows)
