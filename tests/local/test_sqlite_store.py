"""The SQLite backend: items, conditional state, deduplicated results, schema versions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpwatch.core.result import ErrorInfo, ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.local.sqlite_schema import SCHEMA_VERSION
from smtpwatch.local.sqlite_store import (
    SqliteStore,
    StoreError,
    default_db_path,
    resolve_db_path,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "sub" / "smtpwatch.db")
    yield s
    s.close()


def _result(target_id: str, started_at: str, status: Status = Status.OK) -> ProbeResult:
    error = None
    if status is Status.CRITICAL:
        error = ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "connection refused")
    return ProbeResult(target_id=target_id, started_at=started_at, status=status, error=error)


def test_default_path_is_in_the_users_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMTPWATCH_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "/somewhere/data")
    assert default_db_path() == Path("/somewhere/data/smtpwatch/smtpwatch.db")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_db_path() == Path.home() / ".local/share/smtpwatch/smtpwatch.db"


def test_env_overrides_default_and_flag_overrides_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTPWATCH_DB", "/tmp/env.db")
    assert resolve_db_path(None) == Path("/tmp/env.db")
    assert resolve_db_path("/tmp/flag.db") == Path("/tmp/flag.db")


def test_new_database_is_wal_user_only_and_at_the_current_schema(
    store: SqliteStore,
) -> None:
    assert store.path.stat().st_mode & 0o077 == 0
    assert store.schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    path = tmp_path / "db"
    SqliteStore(path).close()
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    conn.close()
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_database_from_a_newer_smtpwatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer smtpwatch"):
        SqliteStore(path)


def test_items_round_trip_and_replace(store: SqliteStore) -> None:
    store.put_items([{"target_id": "a", "host": "a.example"}, {"target_id": "b", "host": "b"}])
    store.put_item({"target_id": "a", "host": "a2.example", "tags": {"team": "mail"}})
    assert store.get_item("a") == {"target_id": "a", "host": "a2.example", "tags": {"team": "mail"}}
    assert [i["target_id"] for i in store.iter_items()] == ["a", "b"]
    assert store.delete_item("b") is True
    assert store.delete_item("b") is False
    assert store.get_item("b") is None


def test_bulk_put_is_all_or_nothing(store: SqliteStore) -> None:
    store.put_item({"target_id": "keep", "host": "k"})
    bad = [{"target_id": "n1", "host": "x"}, {"target_id": "n2", "host": object()}]
    with pytest.raises(TypeError):
        store.put_items(bad)
    with pytest.raises(ValueError):
        store.put_items([{"target_id": "n3", "host": "x"}, {"host": "no id"}])
    assert [i["target_id"] for i in store.iter_items()] == ["keep"]


def test_state_save_is_conditional_on_version(store: SqliteStore) -> None:
    first = TargetState("mx1", status=TargetStatus.UP, version=1)
    assert store.save_state(first) is True
    assert store.save_state(first) is False  # a second creator loses
    second = first.evolve(status=TargetStatus.DOWN, consecutive_failures=1, version=2)
    assert store.save_state(second) is True
    stale = first.evolve(status=TargetStatus.UP, version=2)  # read version 1, wrote late
    assert store.save_state(stale) is False
    assert store.get_state("mx1") == second
    assert [s.target_id for s in store.iter_states()] == ["mx1"]


def test_racing_state_writers_lose_no_update(store: SqliteStore) -> None:
    """GIVEN 8 threads each incrementing a counter with read-modify-conditional-write
    THEN every increment lands exactly once."""
    store.save_state(TargetState("t", version=1))

    def bump(n: int) -> None:
        for _ in range(n):
            while True:
                cur = store.get_state("t")
                assert cur is not None
                nxt = cur.evolve(
                    consecutive_failures=cur.consecutive_failures + 1, version=cur.version + 1
                )
                if store.save_state(nxt):
                    break

    threads = [threading.Thread(target=bump, args=(25,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = store.get_state("t")
    assert final is not None and final.consecutive_failures == 200


def test_results_are_deduplicated_by_scheduled_at_and_read_oldest_first(
    store: SqliteStore,
) -> None:
    r1 = _result("mx1", "2026-11-25T10:00:01.250Z")
    r2 = _result("mx1", "2026-11-25T10:05:00Z", Status.CRITICAL)
    assert store.add_result(r1, scheduled_at="2026-11-25T10:00:00Z") is True
    assert store.add_result(r1, scheduled_at="2026-11-25T10:00:00Z") is False  # redelivered
    assert store.add_result(r2) is True
    got = list(store.iter_results("mx1"))
    assert [r.started_at for r in got] == [r1.started_at, r2.started_at]
    assert got[1].error is not None and got[1].error.kind is ErrorKind.CONNECT_REFUSED
    assert list(store.iter_results("mx1", since="2026-11-25T10:01:00Z")) == [got[1]]
    assert store.count_results("mx1") == 2
    assert store.prune_results("2026-11-25T10:01:00Z") == 1
    assert store.count_results() == 1


def test_two_processes_share_the_database(tmp_path: Path) -> None:
    """A second connection (as `targets add` in another process) sees committed writes."""
    path = tmp_path / "db"
    a = SqliteStore(path)
    b = SqliteStore(path)
    a.put_item({"target_id": "x", "host": "h"})
    assert b.get_item("x") == {"target_id": "x", "host": "h"}
    a.close()
    b.close()
