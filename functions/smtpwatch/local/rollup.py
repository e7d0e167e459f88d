"""Checks counted per target and hour (with per-phase milliseconds) and per target and
day, so uptime over 30 days and hourly response times read a few rows, not 8,640 results.

A trigger adds each result inserted to its buckets, whoever writes it; the store's two
deletes (retention, purge) call ``forget_before`` / ``forget_target``. ``MIGRATION``
creates the tables and fills them from the stored results; the readers are below.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = [
    "DAY_S",
    "HOUR_S",
    "MIGRATION",
    "ROLLUP_PHASES",
    "Counts",
    "forget_before",
    "forget_target",
    "has_rollup",
    "hour_means",
    "newest_failed_hours",
    "window_counts",
]

# The phases the hourly table has columns for, frozen with the migration that made them:
# a new phase needs a new migration (ALTER TABLE, new triggers), never an edit here.
ROLLUP_PHASES: tuple[str, ...] = (
    "dns", "connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "auth", "quit",
)  # fmt: skip
HOUR_S = 3600
DAY_S = 86_400

_COUNTS = ("passed", "failed", "unknown")
_PHASE_COLS = tuple(f"{p}_{x}" for p in ROLLUP_PHASES for x in ("ms", "n"))
_STATUS = {
    "passed": "r.status IN ('ok', 'warning')",
    "failed": "r.status = 'critical'",
    "unknown": "r.status NOT IN ('ok', 'warning', 'critical')",
}
# The phases' milliseconds of one result as one small JSON array, so the big document is
# parsed once per result. An unknown check measured nothing about the server: no array.
_MS_ARRAY = (
    "CASE WHEN r.status IN ('ok', 'warning', 'critical') AND json_valid(r.data) "
    "THEN json_extract(r.data, " + ", ".join(f"'$.phases.{p}.ms'" for p in ROLLUP_PHASES) + ") END"
)


def _ms(i: int) -> str:
    # Position i of the small array when it holds a number (else NULL: not reached).
    return f"CASE WHEN json_type(ms, '$[{i}]') IN ('integer', 'real') THEN ms ->> '$[{i}]' END"


def _contributions(source: str) -> str:
    """An upsert adding each result of ``source`` (aliased r) to its hour. The inner
    query is grouped by the results' key (one row each, in key order): that keeps SQLite
    from copying the document's parse into every use of ms."""
    flags = ", ".join(f"{_STATUS[c]} AS {c}" for c in _COUNTS)
    inner = (
        f"SELECT r.target_id AS target_id, CAST(r.started / {HOUR_S} AS INTEGER) AS hour, "
        f"{flags}, {_MS_ARRAY} AS ms FROM {source} AS r GROUP BY r.target_id, r.ts"
    )
    phases = ", ".join(
        f"coalesce({_ms(i)}, 0), {_ms(i)} IS NOT NULL" for i in range(len(ROLLUP_PHASES))
    )
    counts = ", ".join(_COUNTS)
    columns = ", ".join(("target_id", "hour", *_COUNTS, *_PHASE_COLS))
    sums = ", ".join(f"{c} = {c} + excluded.{c}" for c in (*_COUNTS, *_PHASE_COLS))
    return (
        f"INSERT INTO rollup_hour ({columns}) SELECT target_id, hour, {counts}, {phases} "
        f"FROM ({inner}) WHERE true ON CONFLICT (target_id, hour) DO UPDATE SET {sums}"
    )


def _trigger() -> str:
    # NEW as a one-row source for the same upsert the migration fills the table with.
    row = "(SELECT NEW.target_id AS target_id, NEW.ts AS ts, NEW.started AS started, "
    row += "NEW.status AS status, NEW.data AS data)"
    counts = ", ".join(_STATUS[c].replace("r.", "NEW.") for c in _COUNTS)
    sums = ", ".join(f"{c} = {c} + excluded.{c}" for c in _COUNTS)
    day = (
        f"INSERT INTO rollup_day (target_id, day, {', '.join(_COUNTS)}) VALUES "
        f"(NEW.target_id, CAST(NEW.started / {DAY_S} AS INTEGER), {counts}) "
        f"ON CONFLICT (target_id, day) DO UPDATE SET {sums}"
    )
    return (
        f"CREATE TRIGGER rollup_add AFTER INSERT ON results BEGIN {_contributions(row)}; {day}; END"
    )


def _days_from_hours(where: str) -> str:
    return (
        f"INSERT INTO rollup_day (target_id, day, {', '.join(_COUNTS)}) "
        "SELECT target_id, hour / 24, SUM(passed), SUM(failed), SUM(unknown) FROM rollup_hour "
        f"{where} GROUP BY target_id, hour / 24"
    )


_COUNT_DEFS = ", ".join(f"{c} INTEGER NOT NULL" for c in _COUNTS)
_PHASE_DEFS = ", ".join(f"{p}_ms REAL NOT NULL, {p}_n INTEGER NOT NULL" for p in ROLLUP_PHASES)
# rollup_hour: per target and UTC hour (started // 3600), the checks passed (ok or
# warning), failed (critical) and unknown, and per phase the sum of the checks' ms and
# how many had one. rollup_day: the counts per target and UTC day (started // 86400).
MIGRATION: tuple[str, ...] = (
    "CREATE TABLE rollup_hour (target_id TEXT NOT NULL, hour INTEGER NOT NULL, "
    f"{_COUNT_DEFS}, {_PHASE_DEFS}, PRIMARY KEY (target_id, hour)) WITHOUT ROWID",
    "CREATE TABLE rollup_day (target_id TEXT NOT NULL, day INTEGER NOT NULL, "
    f"{_COUNT_DEFS}, PRIMARY KEY (target_id, day)) WITHOUT ROWID",
    _contributions("results"),
    _days_from_hours(""),
    # Uptime reads only the counts: from this narrow index, not the wide rows.
    "CREATE INDEX rollup_hour_counts ON rollup_hour (target_id, hour, passed, failed)",
    _trigger(),
)


def forget_before(conn: sqlite3.Connection, cutoff: float) -> None:
    """After results that started before ``cutoff`` were deleted: drop the buckets they
    filled and count the hour and day the cutoff falls in again from what is left."""
    hour, day = int(cutoff // HOUR_S), int(cutoff // DAY_S)
    conn.execute("DELETE FROM rollup_hour WHERE hour <= ?", (hour,))
    source = "(SELECT * FROM results WHERE started >= ? AND started < ?)"
    conn.execute(_contributions(source), (hour * HOUR_S, (hour + 1) * HOUR_S))
    conn.execute("DELETE FROM rollup_day WHERE day <= ?", (day,))
    conn.execute(_days_from_hours("WHERE hour >= ? AND hour < ?"), (day * 24, day * 24 + 24))


def forget_target(conn: sqlite3.Connection, target_id: str) -> None:
    """After a target's results were deleted: its buckets go too."""
    conn.execute("DELETE FROM rollup_hour WHERE target_id = ?", (target_id,))
    conn.execute("DELETE FROM rollup_day WHERE target_id = ?", (target_id,))


@dataclass(frozen=True, slots=True)
class Counts:
    """Checks over a window: passed (ok or warning) and failed (critical)."""

    passed: int = 0
    failed: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.passed + other.passed, self.failed + other.failed)

    @property
    def ratio(self) -> float | None:
        measured = self.passed + self.failed
        return self.passed / measured if measured else None


def has_rollup(conn: sqlite3.Connection) -> bool:
    """False for a database no smtpwatch with the rollup has opened for writing yet."""
    row = conn.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "
        "AND name IN ('rollup_hour', 'rollup_day')"
    ).fetchone()
    return int(row[0]) == 2


def window_counts(
    conn: sqlite3.Connection, now: float, seconds: int, target_id: str | None = None
) -> dict[str, Counts]:
    """{target_id: Counts} of every configured target (or one) over the hours that
    overlap ``[now - seconds, now]``: whole days from the daily table, the hours at
    either end from the hourly one."""
    first, last = int((now - seconds) // HOUR_S), int(now // HOUR_S)
    day_lo, day_hi = -(-first // 24), last // 24  # whole days inside: [day_lo, day_hi)
    spans = [("rollup_hour", "hour", first, last)]
    if seconds > DAY_S and day_hi > day_lo:
        spans = [
            ("rollup_hour", "hour", first, day_lo * 24 - 1),
            ("rollup_day", "day", day_lo, day_hi - 1),
            ("rollup_hour", "hour", day_hi * 24, last),
        ]
    out: dict[str, Counts] = {}
    for table, column, lo, hi in spans:
        if lo > hi:
            continue
        for tid, passed, failed in _sums(conn, table, column, lo, hi, target_id):
            out[tid] = out.get(tid, Counts()) + Counts(int(passed), int(failed))
    return out


def _sums(
    conn: sqlite3.Connection, table: str, column: str, lo: int, hi: int, target_id: str | None
) -> list[tuple[str, int, int]]:
    # Targets first, in key order (no sort for the grouping): one seek per target into
    # the (target_id, hour|day) key.
    one = "WHERE t.target_id = ?" if target_id is not None else ""
    params = (lo, hi) if target_id is None else (lo, hi, target_id)
    return conn.execute(
        f"SELECT t.target_id, SUM(r.passed), SUM(r.failed) FROM targets AS t "  # constants
        f"CROSS JOIN {table} AS r ON r.target_id = t.target_id AND r.{column} BETWEEN ? AND ? "
        f"{one} GROUP BY t.target_id",
        params,
    ).fetchall()


def hour_means(
    conn: sqlite3.Connection, target_id: str, first_hour: int, last_hour: int
) -> list[tuple[int, dict[str, float]]]:
    """[(hour, {phase: mean ms})] of one target's hours in the range, oldest first;
    hours without a measured phase are left out."""
    columns = ", ".join(_PHASE_COLS)
    rows = conn.execute(
        f"SELECT hour, {columns} FROM rollup_hour WHERE target_id = ? "  # constants
        "AND hour BETWEEN ? AND ? ORDER BY hour",
        (target_id, first_hour, last_hour),
    ).fetchall()
    out = []
    for hour, *values in rows:
        means = {
            phase: float(values[2 * i]) / int(values[2 * i + 1])
            for i, phase in enumerate(ROLLUP_PHASES)
            if values[2 * i + 1]
        }
        if means:
            out.append((int(hour), means))
    return out


def newest_failed_hours(conn: sqlite3.Connection, target_id: str, count: int) -> list[int]:
    """The newest ``count`` hours of one target that hold a failed check, newest first:
    its newest ``count`` failures all started in them."""
    rows = conn.execute(
        "SELECT hour FROM rollup_hour WHERE target_id = ? AND failed > 0 "
        "ORDER BY hour DESC LIMIT ?",
        (target_id, count),
    ).fetchall()
    return [int(hour) for (hour,) in rows]
