"""Targets, state and results in one SQLite file (the embedded default backend).

One ``SqliteStore`` implements the ``TargetStore``, ``StateStore`` and ``ResultStore``
ports on one connection shared by the scheduler's threads under a lock. Items are JSON
documents (the same dicts the DynamoDB adapters hold) with a few columns lifted out for
queries; ``local.sqlite_schema`` has the tables and their migrations.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smtpwatch.core.errors import SmtpwatchError
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import format_ts, parse_ts, utc_now
from smtpwatch.core.state import TargetState
from smtpwatch.local.rollup import forget_before, forget_target
from smtpwatch.local.sqlite_schema import SCHEMA_VERSION, Transaction, applied_version, migrate

__all__ = [
    "SqliteStore",
    "StoreError",
    "data_dir",
    "default_db_path",
    "resolve_db_path",
]


class StoreError(SmtpwatchError):
    """The database cannot be opened or used (message names the path and why)."""


def data_dir() -> Path:
    """smtpwatch's directory in the user's data directory (XDG base-directory spec)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smtpwatch"


def default_db_path() -> Path:
    """``$SMTPWATCH_DB``, else ``<data dir>/smtpwatch.db``."""
    env = os.environ.get("SMTPWATCH_DB")
    return Path(env).expanduser() if env else data_dir() / "smtpwatch.db"


def resolve_db_path(flag: str | os.PathLike[str] | None) -> Path:
    """The ``--db`` flag wins over ``$SMTPWATCH_DB`` and the default."""
    return Path(flag).expanduser() if flag else default_db_path()


def _now_iso() -> str:
    return format_ts(utc_now())


def _epoch(iso: str) -> float:
    try:
        return parse_ts(iso).timestamp()
    except ValueError:
        return 0.0


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    # Decimal (items copied from DynamoDB), tuples inside dataclasses, sets.
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class SqliteStore:
    """TargetStore + StateStore + ResultStore on one SQLite database file."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        created = not self.path.exists()
        if created:
            if not create:
                raise StoreError(f"{self.path}: no such database")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise StoreError(
                    f"{self.path}: cannot make its directory ({exc.strerror or exc})"
                ) from None
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction
            # spans exactly what we mean (e.g. a whole import).
            self._conn = sqlite3.connect(
                str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        if created:
            # Only the user: the database names servers and (by reference) secrets.
            # An existing file keeps the mode its owner gave it.
            os.chmod(self.path, 0o600)

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        with self._lock, Transaction(self._conn):
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                "applied_at TEXT NOT NULL)"
            )
            current = applied_version(self._conn)
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: schema version {current} was written by a newer "
                    f"smtpwatch (this one knows up to {SCHEMA_VERSION}); upgrade smtpwatch"
                )
            migrate(self._conn, current)

    def schema_version(self) -> int:
        with self._lock:
            return applied_version(self._conn)

    # -- TargetStore -----------------------------------------------------------

    def get_item(self, target_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT item FROM targets WHERE target_id = ?", (target_id,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def iter_items(self) -> Iterator[dict[str, Any]]:
        # A snapshot: the caller may write (e.g. the scheduler) while iterating.
        with self._lock:
            rows = self._conn.execute("SELECT item FROM targets ORDER BY target_id").fetchall()
        for (item,) in rows:
            yield dict(json.loads(item))

    def item_texts(self) -> list[tuple[str, str]]:
        """[(target_id, item JSON text)]: lets the scheduler re-read the targets every
        tick and re-validate only the items whose text changed."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT target_id, item FROM targets ORDER BY target_id"
            ).fetchall()
        return [(str(t), str(i)) for t, i in rows]

    def put_item(self, item: dict[str, Any]) -> None:
        self.put_items([item])

    def put_items(self, items: Iterable[dict[str, Any]]) -> int:
        """Insert or replace every item in ONE transaction: all are written or none."""
        now = _now_iso()
        rows = []
        for item in items:
            target_id = item.get("target_id")
            if not isinstance(target_id, str) or not target_id:
                raise ValueError("every item needs a target_id")
            rows.append((target_id, _dumps(item), now))
        with self._lock, self._transaction():
            self._conn.executemany(
                "INSERT INTO targets (target_id, item, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (target_id) DO UPDATE SET item = excluded.item, "
                "updated_at = excluded.updated_at",
                rows,
            )
        return len(rows)

    def delete_item(self, target_id: str) -> bool:
        """Remove the user's item. State and history stay (``purge`` removes them too)."""
        with self._lock, self._transaction():
            cur = self._conn.execute("DELETE FROM targets WHERE target_id = ?", (target_id,))
        return cur.rowcount > 0

    def purge(self, target_id: str) -> None:
        """Remove a target's state and results (after ``delete_item``)."""
        with self._lock, self._transaction():
            self._conn.execute("DELETE FROM state WHERE target_id = ?", (target_id,))
            self._conn.execute("DELETE FROM results WHERE target_id = ?", (target_id,))
            forget_target(self._conn, target_id)

    # -- StateStore ------------------------------------------------------------

    def get_state(self, target_id: str) -> TargetState | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM state WHERE target_id = ?", (target_id,)
            ).fetchone()
        return None if row is None else TargetState.from_dict(json.loads(row[0]))

    def save_state(self, state: TargetState) -> bool:
        """Write ``state`` only if the stored version is ``state.version - 1`` (or there is
        no row and ``state.version == 1``). False when another writer got there first."""
        data = _dumps(state.to_dict())
        now = _now_iso()
        with self._lock, self._transaction():
            if state.version <= 1:
                cur = self._conn.execute(
                    "INSERT INTO state (target_id, version, status, data, updated_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (target_id) DO NOTHING",
                    (state.target_id, state.version, state.status.value, data, now),
                )
            else:
                cur = self._conn.execute(
                    "UPDATE state SET version = ?, status = ?, data = ?, updated_at = ? "
                    "WHERE target_id = ? AND version = ?",
                    (
                        state.version,
                        state.status.value,
                        data,
                        now,
                        state.target_id,
                        state.version - 1,
                    ),
                )
        return cur.rowcount == 1

    def iter_states(self) -> Iterator[TargetState]:
        with self._lock:
            rows = self._conn.execute("SELECT data FROM state ORDER BY target_id").fetchall()
        for (data,) in rows:
            yield TargetState.from_dict(json.loads(data))

    # -- ResultStore -----------------------------------------------------------

    def add_result(self, result: ProbeResult, *, scheduled_at: str | None = None) -> bool:
        """Store one result; False if (target, scheduled_at) is already stored."""
        ts = scheduled_at or result.started_at
        with self._lock, self._transaction():
            cur = self._conn.execute(
                "INSERT INTO results (target_id, ts, started, status, data) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (target_id, ts) DO NOTHING",
                (
                    result.target_id,
                    ts,
                    _epoch(result.started_at),
                    result.status.value,
                    _dumps(result.to_dict()),
                ),
            )
        return cur.rowcount == 1

    def iter_results(self, target_id: str, *, since: str | None = None) -> Iterator[ProbeResult]:
        """Oldest first; ``since`` is an ISO-8601 time compared with ``started_at``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT data FROM results WHERE target_id = ? AND started >= ? "
                "ORDER BY started, ts",
                (target_id, _epoch(since) if since else 0.0),
            ).fetchall()
        for (data,) in rows:
            yield ProbeResult.from_dict(json.loads(data))

    def latest(self, target_id: str) -> ProbeResult | None:
        """The newest result of one target (a healthy check writes no state: readers
        take the last result from here; see ``core.alerting.with_latest_result``)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM results WHERE target_id = ? ORDER BY started DESC, ts DESC "
                "LIMIT 1",
                (target_id,),
            ).fetchone()
        return None if row is None else ProbeResult.from_dict(json.loads(row[0]))

    def latest_scheduled(self) -> dict[str, str]:
        """{target_id: newest result key (its scheduled_at)} — where a restarted local
        scheduler resumes each target's slots."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT target_id, MAX(ts) FROM results GROUP BY target_id"
            ).fetchall()
        return {str(t): str(ts) for t, ts in rows}

    def count_results(self, target_id: str | None = None) -> int:
        with self._lock:
            if target_id is None:
                row = self._conn.execute("SELECT COUNT(*) FROM results").fetchone()
            else:
                row = self._conn.execute(
                    "SELECT COUNT(*) FROM results WHERE target_id = ?", (target_id,)
                ).fetchone()
        return int(row[0])

    def prune_results(self, before: str) -> int:
        """Delete results that started before ``before`` (local retention)."""
        cutoff = _epoch(before)
        with self._lock, self._transaction():
            cur = self._conn.execute("DELETE FROM results WHERE started < ?", (cutoff,))
            forget_before(self._conn, cutoff)
        return cur.rowcount

    # -- helpers -----------------------------------------------------------------

    def _transaction(self) -> Transaction:
        return Transaction(self._conn)

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the store's lock, in one write transaction: for the
        modules that keep their own tables in this file (the alert outbox)."""
        with self._lock, self._transaction():
            yield self._conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read, under the store's lock."""
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def check_integrity(self) -> str:
        """``PRAGMA integrity_check``: "ok" for a sound database."""
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])
