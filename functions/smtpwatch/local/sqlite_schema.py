"""The SQLite file's schema: versioned migration steps, applied in order, and the write
transaction every change runs in."""

from __future__ import annotations

import sqlite3

from smtpwatch.core.schedule import format_ts, utc_now
from smtpwatch.local import rollup

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Transaction", "applied_version", "migrate"]

# Each step runs once, in order, in its own transaction. Never edit a released step:
# add a new one.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "targets, state, results",
        (
            """CREATE TABLE targets (
                target_id TEXT PRIMARY KEY,
                item TEXT NOT NULL,            -- the user's item (JSON), config only
                updated_at TEXT NOT NULL
            )""",
            """CREATE TABLE state (
                target_id TEXT PRIMARY KEY,
                version INTEGER NOT NULL,
                status TEXT NOT NULL,
                data TEXT NOT NULL,            -- TargetState.to_dict() (JSON)
                updated_at TEXT NOT NULL
            )""",
            """CREATE TABLE results (
                target_id TEXT NOT NULL,
                ts TEXT NOT NULL,              -- scheduled_at, else started_at: dedupe key
                started REAL NOT NULL,         -- epoch seconds of started_at, for ranges
                status TEXT NOT NULL,
                data TEXT NOT NULL,            -- ProbeResult.to_dict() (JSON)
                PRIMARY KEY (target_id, ts)
            ) WITHOUT ROWID""",
            "CREATE INDEX results_by_time ON results (target_id, started)",
            "CREATE INDEX results_started ON results (started)",
        ),
    ),
    (
        2,
        "alert outbox",
        (
            # One row per (channel, alert): alerts are recorded here before any
            # delivery is tried, and delivered by the outbox's own workers.
            """CREATE TABLE outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                channel TEXT NOT NULL,         -- "console", "webhook-1", "sns", ...
                label TEXT NOT NULL,           -- the channel as shown (URL without token)
                alert_id TEXT NOT NULL,
                target_id TEXT NOT NULL,
                event TEXT NOT NULL,
                ord REAL NOT NULL,             -- delivery order (a summary takes its first's)
                lanes TEXT NOT NULL,           -- JSON [target_id, ...] this row orders with
                alert TEXT NOT NULL,           -- Alert.to_dict() (JSON)
                state TEXT NOT NULL,           -- pending | delivered | given_up | summarised
                queued REAL NOT NULL,          -- epoch seconds
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt REAL NOT NULL,
                last_attempt REAL,
                last_error TEXT,
                done REAL,                     -- when it left the pending state
                summary_seq INTEGER,           -- summarised: the row that carries it
                UNIQUE (channel, alert_id)
            )""",
            "CREATE INDEX outbox_by_state ON outbox (channel, state, ord)",
            "CREATE INDEX outbox_by_target ON outbox (channel, target_id, ord)",
        ),
    ),
    # Checks per target and hour / day for uptime and response-time charts: filled from
    # the results already stored, then kept in step by a trigger and the store's deletes.
    (3, "hourly and daily check rollups", rollup.MIGRATION),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def applied_version(conn: sqlite3.Connection) -> int:
    """The newest step recorded in ``schema_migrations`` (0: none)."""
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, current: int) -> None:
    """Apply and record every step after ``current`` (inside the caller's transaction)."""
    for version, description, statements in MIGRATIONS:
        if version <= current:
            continue
        for statement in statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            (version, description, format_ts(utc_now())),
        )


class Transaction:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception (incl. KeyboardInterrupt).

    IMMEDIATE takes the write lock up front, so two processes never deadlock on a
    read-then-write upgrade; busy_timeout makes the second one wait.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")
