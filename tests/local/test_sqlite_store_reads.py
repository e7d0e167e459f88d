"""The SQLite store beyond its conditional writes: where a restarted scheduler resumes,
the newest result, purging a target, item texts, values copied from DynamoDB, the
private data directory, and its errors."""

from __future__ import annotations

import os
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from smtpwatch.core.kinds import Status
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.local.sqlite_store import SqliteStore, StoreError


def result(target_id: str, started_at: str, status: Status = Status.OK) -> ProbeResult:
    return ProbeResult(target_id=target_id, started_at=started_at, status=status)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "smtpwatch.db")


def test_a_restarted_scheduler_resumes_each_target_after_its_newest_result_key(
    store: SqliteStore,
) -> None:
    store.add_result(result("a", "2026-11-25T12:00:03Z"), scheduled_at="2026-11-25T12:00:00Z")
    store.add_result(result("a", "2026-11-25T12:05:02Z"), scheduled_at="2026-11-25T12:05:00Z")
    store.add_result(result("b", "2026-11-25T11:00:01Z"), scheduled_at="2026-11-25T11:00:00Z")
    assert store.latest_scheduled() == {
        "a": "2026-11-25T12:05:00Z",
        "b": "2026-11-25T11:00:00Z",
    }


def test_latest_is_the_newest_result_of_that_target_only(store: SqliteStore) -> None:
    assert store.latest("a") is None
    store.add_result(result("a", "2026-11-25T12:00:00Z", Status.CRITICAL))
    store.add_result(result("a", "2026-11-25T12:05:00Z", Status.OK))
    store.add_result(result("b", "2026-11-25T12:10:00Z", Status.WARNING))
    newest = store.latest("a")
    assert newest is not None
    assert (newest.target_id, newest.started_at, newest.status) == (
        "a",
        "2026-11-25T12:05:00Z",
        Status.OK,
    )


def test_purge_removes_a_targets_state_and_results_and_nothing_else(store: SqliteStore) -> None:
    for tid in ("a", "b"):
        assert store.save_state(TargetState(tid, status=TargetStatus.UP, version=1))
        store.add_result(result(tid, "2026-11-25T12:00:00Z"))
    store.purge("a")
    assert store.get_state("a") is None and store.count_results("a") == 0
    assert store.get_state("b") is not None and store.count_results("b") == 1


def test_a_missing_state_reads_as_none(store: SqliteStore) -> None:
    assert store.get_state("never-seen") is None


def test_item_texts_are_the_stored_json_per_target_in_order(store: SqliteStore) -> None:
    store.put_items([{"target_id": "b", "host": "b.example"}, {"target_id": "a", "host": "ä"}])
    texts = store.item_texts()
    assert [tid for tid, _ in texts] == ["a", "b"]
    assert texts[0][1] == '{"target_id":"a","host":"ä"}'


def test_values_copied_from_dynamodb_are_stored_as_plain_json(store: SqliteStore) -> None:
    store.put_item(
        {
            "target_id": "d",
            "port": Decimal("587"),
            "timeout_s": Decimal("2.5"),
            "auth_methods": ("PLAIN", "LOGIN"),
            "tags": {"k"},
        }
    )
    item = store.get_item("d")
    assert item == {
        "target_id": "d",
        "port": 587,
        "timeout_s": 2.5,
        "auth_methods": ["PLAIN", "LOGIN"],
        "tags": ["k"],
    }
    assert isinstance(item["port"], int) and isinstance(item["timeout_s"], float)


def test_a_value_json_cannot_hold_is_refused_by_its_type(store: SqliteStore) -> None:
    with pytest.raises(TypeError, match="not JSON serializable: object"):
        store.put_item({"target_id": "x", "odd": object()})


@pytest.mark.parametrize("bad", [None, "", 5])
def test_an_item_without_a_text_target_id_is_refused(store: SqliteStore, bad: object) -> None:
    with pytest.raises(ValueError) as info:
        store.put_items([{"target_id": bad}])
    assert str(info.value) == "every item needs a target_id"
    assert store.item_texts() == []


def test_a_new_database_lives_in_a_private_directory_created_as_needed(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "smtpwatch.db"
    SqliteStore(path).close()
    assert path.exists()
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_opening_a_missing_database_without_create_names_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(StoreError) as info:
        SqliteStore(path, create=False)
    assert str(info.value) == f"{path}: no such database"
    assert not path.exists()


def test_a_file_that_is_not_a_database_is_a_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "not.db"
    path.write_bytes(b"this is not an SQLite database, just text" * 100)
    with pytest.raises(StoreError) as info:
        SqliteStore(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "not a database" in str(info.value)


def test_a_sound_database_checks_ok_and_reads_run_with_parameters(store: SqliteStore) -> None:
    store.add_result(result("a", "2026-11-25T12:00:00Z"))
    assert store.check_integrity() == "ok"
    assert store.query("SELECT target_id FROM results WHERE target_id = ?", ("a",)) == [("a",)]
