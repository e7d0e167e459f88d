"""A verdict's locations survive the local store: the results history and the state's
copy of the last result read back with every location's vote, in order, and a result
that is no verdict is stored exactly as before (no ``locations`` key)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpwatch.core.alerting import stored_result
from smtpwatch.core.locations import LocationVote
from smtpwatch.core.result import ErrorInfo, ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.local.sqlite_store import SqliteStore

SLOT = "2026-12-08T01:00:00Z"
VOTES = (
    LocationVote("eu-west-1", "critical", "connect", "connect_refused", "Connection refused"),
    LocationVote("us-east-1", "ok"),
    LocationVote("ap-south-1", "silent"),
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "smtpwatch.db")
    yield s
    s.close()


def verdict() -> ProbeResult:
    return ProbeResult(
        "mx1",
        "2026-12-08T01:00:01.250Z",
        Status.CRITICAL,
        host="mx1.example.com",
        port=25,
        error=ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "Connection refused"),
        location="eu-west-1",
        locations=VOTES,
    )


def test_a_verdict_reads_back_from_the_history_with_its_locations(store: SqliteStore) -> None:
    result = verdict()
    assert store.add_result(result, scheduled_at=SLOT) is True
    assert store.latest("mx1") == result
    assert [r.locations for r in store.iter_results("mx1")] == [VOTES]
    (row,) = store.query("SELECT data FROM results WHERE target_id = 'mx1'")
    assert [v["location"] for v in json.loads(row[0])["locations"]] == [
        "eu-west-1",
        "us-east-1",
        "ap-south-1",
    ]


def test_a_result_that_is_no_verdict_is_stored_without_locations(store: SqliteStore) -> None:
    single = verdict().replace(locations=())
    store.add_result(single, scheduled_at=SLOT)
    (row,) = store.query("SELECT data FROM results WHERE target_id = 'mx1'")
    assert "locations" not in json.loads(row[0])
    assert store.latest("mx1") == single


def test_the_states_copy_of_a_verdict_keeps_its_locations(store: SqliteStore) -> None:
    copy = stored_result(verdict())
    state = TargetState(
        "mx1",
        status=TargetStatus.DOWN,
        last_result=copy,
        pending_alert={"alert_id": "a1", "event": "down", "result": copy},
    )
    assert store.save_state(state)
    back = store.get_state("mx1")
    assert back is not None and back.last_result is not None
    assert ProbeResult.from_dict(back.last_result).locations == VOTES
