"""The DynamoDB stores against moto, with tables built from template.yaml."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from smtpwatch.adapters.dynamodb import (
    DispatcherMark,
    DynamoBookkeeping,
    DynamoResultStore,
    DynamoStateStore,
    DynamoTargetStore,
)
from smtpwatch.adapters.result_codec import item_size
from smtpwatch.core.result import ErrorInfo, ErrorKind, Phase, PhaseResult, ProbeResult, Status
from smtpwatch.core.state import TargetState, TargetStatus


def _result(target_id: str = "mx1", status: Status = Status.OK) -> ProbeResult:
    return ProbeResult(
        target_id=target_id,
        started_at="2026-11-25T15:00:00Z",
        status=status,
        host="mx1.example.com",
        port=587,
        encryption="explicit",
        error=None
        if status is Status.OK
        else ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "connection refused"),
        phases=(
            PhaseResult(Phase.DNS, True, True, 1.25),
            PhaseResult(Phase.CONNECT, True, True, 3.5),
        ),
        total_ms=12.5,
    )


def test_target_items_round_trip_with_decimals_and_survive_parallel_scan(
    ddb: Any, tables: dict[str, str]
) -> None:
    store = DynamoTargetStore(ddb, tables["TargetsTable"], scan_segments=4)
    items = [
        {"target_id": f"t{i}", "host": f"h{i}.example.com", "timeout_s": 2.5} for i in range(60)
    ]
    assert store.put_items(items) == 60
    got = {i["target_id"]: i for i in store.iter_items()}
    assert len(got) == 60
    assert got["t7"]["timeout_s"] == Decimal("2.5")
    assert store.get_item("t7") == {
        "target_id": "t7",
        "host": "h7.example.com",
        "timeout_s": Decimal("2.5"),
    }
    assert store.delete_item("t7") is True
    assert store.delete_item("t7") is False
    assert store.get_item("t7") is None


def test_state_save_is_conditional_on_the_version_read(ddb: Any, tables: dict[str, str]) -> None:
    store = DynamoStateStore(ddb, tables["StateTable"])
    first = TargetState("mx1", status=TargetStatus.UP, version=1, last_result=_result().to_dict())
    assert store.save_state(first) is True
    # GIVEN two writers that both read version 1
    a = first.evolve(status=TargetStatus.DOWN, version=2)
    b = first.evolve(status=TargetStatus.WARNING, version=2)
    # WHEN both save, THEN only the first wins; the loser is told so
    assert store.save_state(a) is True
    assert store.save_state(b) is False
    stored = store.get_state("mx1")
    assert stored is not None
    assert stored.status is TargetStatus.DOWN and stored.version == 2
    assert stored.last_result == _result().to_dict()
    # a second "first save" cannot overwrite existing state either
    assert store.save_state(TargetState("mx1", version=1)) is False


def test_first_save_replaces_the_dispatchers_first_dispatch_stub(
    ddb: Any, tables: dict[str, str]
) -> None:
    store = DynamoStateStore(ddb, tables["StateTable"])
    books = DynamoBookkeeping(ddb, tables["StateTable"])
    assert books.claim_first_dispatch("new", "2026-11-25T15:00:00Z") is True
    assert books.claim_first_dispatch("new", "2026-11-25T15:00:00Z") is False
    stub = store.get_state("new")
    assert stub is not None and stub.status is TargetStatus.PENDING and stub.version == 0
    assert store.save_state(stub.evolve(status=TargetStatus.UP, version=1)) is True
    assert [s.target_id for s in store.iter_states()] == ["new"]


def test_bookkeeping_items_are_not_states(ddb: Any, tables: dict[str, str]) -> None:
    store = DynamoStateStore(ddb, tables["StateTable"])
    books = DynamoBookkeeping(ddb, tables["StateTable"])
    mark = books.get_dispatcher_mark()
    assert mark == DispatcherMark()
    assert books.claim_window(mark, "2026-11-25T14:59:00Z", "2026-11-25T15:00:00Z", 90) is True
    books.record_dispatched("2026-11-25T15:00:00Z", 3)
    assert list(store.iter_states()) == []


def test_window_claim_fails_for_the_second_of_two_runs_that_read_the_same_mark(
    ddb: Any, tables: dict[str, str]
) -> None:
    store = DynamoBookkeeping(ddb, tables["StateTable"])
    read = store.get_dispatcher_mark()
    assert store.claim_window(read, "a", "b", 90) is True
    assert store.claim_window(read, "a", "b", 90) is False
    now = store.get_dispatcher_mark()
    assert (now.claim_start, now.done_until, now.claim_done, now.version) == ("a", "b", False, 1)
    assert store.complete_window("a", "b") is True
    assert store.get_dispatcher_mark().claim_done is True
    # a later claim supersedes: completing the old one is refused
    assert store.claim_window(store.get_dispatcher_mark(), "b", "c", 90) is True
    assert store.complete_window("a", "b") is False


def test_tick_counters_add_atomically_and_one_caller_claims_the_degraded_alert(
    ddb: Any, tables: dict[str, str]
) -> None:
    store = DynamoBookkeeping(ddb, tables["StateTable"])
    store.record_dispatched("2026-11-25T15:00:00Z", 10)
    counts = [store.add_tick_failure("2026-11-25T15:00:00Z") for _ in range(3)]
    assert [c.failures for c in counts] == [1, 2, 3]
    assert counts[-1].dispatched == 10
    assert store.claim_degraded_alert("2026-11-25T15:00:00Z") is True
    assert store.claim_degraded_alert("2026-11-25T15:00:00Z") is False
    assert store.add_tick_failure("2026-11-25T15:00:00Z").degraded_sent is True


def test_a_result_is_stored_once_per_scheduled_at_with_a_ttl(
    ddb: Any, tables: dict[str, str]
) -> None:
    store = DynamoResultStore(
        ddb, tables["ResultsTable"], retention_s=86_400, clock=lambda: 1_000_000
    )
    r = _result(status=Status.CRITICAL)
    assert store.add_result(r, scheduled_at="2026-11-25T15:00:00Z") is True
    # the redelivered invocation: same (target_id, scheduled_at)
    assert store.add_result(r, scheduled_at="2026-11-25T15:00:00Z") is False
    assert store.add_result(_result(), scheduled_at="2026-11-25T15:05:00Z") is True
    item = ddb.get_item(
        TableName=tables["ResultsTable"],
        Key={"target_id": {"S": "mx1"}, "ts": {"S": "2026-11-25T15:00:00Z"}},
    )["Item"]
    assert item["expires_at"] == {"N": str(1_000_000 + 86_400)}
    assert item["status"] == {"S": "critical"}
    history = list(store.iter_results("mx1"))
    assert [h.status for h in history] == [Status.CRITICAL, Status.OK]
    assert history[0].to_dict() == r.to_dict()
    assert [h.status for h in store.iter_results("mx1", since="2026-11-25T15:01:00Z")] == [
        Status.OK
    ]
    latest = store.latest("mx1")
    assert latest is not None and latest.status is Status.OK


def test_a_healthy_result_item_fits_in_one_write_unit(ddb: Any, tables: dict[str, str]) -> None:
    item = DynamoResultStore.encode(_result(), ts="2026-11-25T15:00:00Z", expires_at=1_800_000_000)
    assert item_size(item) <= 1024  # key, status and TTL attributes included


def test_a_table_that_keeps_throttling_a_batch_write_fails_instead_of_spinning(
    ddb: Any, tables: dict[str, str], monkeypatch: Any
) -> None:
    # GIVEN DynamoDB answering every BatchWriteItem with all items unprocessed (throttled),
    # injected at the boto3 boundary
    def all_unprocessed(parsed: dict[str, Any], **_: Any) -> None:
        item = {"target_id": {"S": "t1"}, "host": {"S": "h1.example.com"}}
        parsed["UnprocessedItems"] = {tables["TargetsTable"]: [{"PutRequest": {"Item": item}}]}

    ddb.meta.events.register("after-call.dynamodb.BatchWriteItem", all_unprocessed)
    monkeypatch.setattr("smtpwatch.adapters.dynamodb.targets.time.sleep", lambda _s: None)
    store = DynamoTargetStore(ddb, tables["TargetsTable"])
    # WHEN targets are written THEN the store gives up with a clear error, not a hang
    with pytest.raises(RuntimeError, match="still unprocessed after 10 attempts"):
        store.put_items([{"target_id": "t1", "host": "h1.example.com"}])
    ddb.meta.events.unregister("after-call.dynamodb.BatchWriteItem", all_unprocessed)
