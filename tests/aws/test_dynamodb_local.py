"""Conditional writes against DynamoDB Local, AWS's own emulator — moto reimplements
DynamoDB's condition semantics; this proves ours hold on the real engine's rules.
Racing writers are real threads with their own clients."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
import pytest
from botocore.config import Config
from dynamodb_local import running_dynamodb_local
from template_tables import create_tables

from smtpwatch.adapters.dynamodb import (
    DynamoBookkeeping,
    DynamoResultStore,
    DynamoStateStore,
    DynamoTargetStore,
)
from smtpwatch.core import schedule
from smtpwatch.core.result import ProbeResult, Status
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.service.dispatch import Dispatcher

pytestmark = pytest.mark.dynamodb_local

R = TypeVar("R")
_prefixes = itertools.count()
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def ddb_local_endpoint() -> Iterator[str]:
    with running_dynamodb_local() as endpoint:
        yield endpoint


@pytest.fixture
def local_client(ddb_local_endpoint: str) -> Callable[[], Any]:
    def make() -> Any:
        return boto3.client(
            "dynamodb",
            endpoint_url=ddb_local_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(max_pool_connections=32, retries={"mode": "standard"}),
        )

    return make


@pytest.fixture
def local_tables(local_client: Callable[[], Any]) -> dict[str, str]:
    """Fresh tables from template.yaml's properties (a new prefix per test)."""
    return create_tables(local_client(), prefix=f"t{next(_prefixes)}")


def _race(n: int, fn: Callable[[int], R]) -> list[R]:
    barrier = threading.Barrier(n)

    def go(i: int) -> R:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


def test_of_racing_state_writers_that_read_the_same_version_exactly_one_wins(
    local_client: Callable[[], Any], local_tables: dict[str, str]
) -> None:
    table = local_tables["StateTable"]
    DynamoStateStore(local_client(), table).save_state(TargetState("mx1", version=1))
    stores = [DynamoStateStore(local_client(), table) for _ in range(8)]
    wins = _race(
        8,
        lambda i: stores[i].save_state(
            TargetState("mx1", status=TargetStatus.DOWN, consecutive_failures=i, version=2)
        ),
    )
    assert wins.count(True) == 1
    stored = stores[0].get_state("mx1")
    assert stored is not None and stored.version == 2
    assert stored.consecutive_failures == wins.index(True)


def test_first_state_write_succeeds_once_and_replaces_the_dispatch_stub(
    local_client: Callable[[], Any], local_tables: dict[str, str]
) -> None:
    store = DynamoStateStore(local_client(), local_tables["StateTable"])
    books = DynamoBookkeeping(local_client(), local_tables["StateTable"])
    claims = _race(6, lambda i: books.claim_first_dispatch("new", "2026-11-25T15:00:00Z"))
    assert claims.count(True) == 1
    saves = _race(
        6, lambda i: store.save_state(TargetState("new", status=TargetStatus.UP, version=1))
    )
    assert saves.count(True) == 1


def test_a_result_is_stored_once_per_scheduled_at_however_many_invocations_race(
    local_client: Callable[[], Any], local_tables: dict[str, str]
) -> None:
    store = DynamoResultStore(local_client(), local_tables["ResultsTable"])
    result = ProbeResult(target_id="mx1", started_at="2026-11-25T15:00:01Z", status=Status.OK)
    stored = _race(8, lambda i: store.add_result(result, scheduled_at="2026-11-25T15:00:00Z"))
    assert stored.count(True) == 1
    assert len(list(store.iter_results("mx1"))) == 1


def test_only_one_dispatcher_claims_a_window_and_tick_counters_add_up(
    local_client: Callable[[], Any], local_tables: dict[str, str]
) -> None:
    table = local_tables["StateTable"]
    stores = [DynamoBookkeeping(local_client(), table) for _ in range(6)]
    marks = [s.get_dispatcher_mark() for s in stores]
    claims = _race(6, lambda i: stores[i].claim_window(marks[i], "a", "b", 60))
    assert claims.count(True) == 1
    stores[0].record_dispatched("2026-11-25T15:00:00Z", 20)
    counts = _race(20, lambda i: stores[i % 6].add_tick_failure("2026-11-25T15:00:00Z"))
    assert sorted(c.failures for c in counts) == list(range(1, 21))
    degraded = _race(6, lambda i: stores[i].claim_degraded_alert("2026-11-25T15:00:00Z"))
    assert degraded.count(True) == 1


def test_a_failing_target_counts_once_per_tick_even_when_its_copies_race(
    local_client: Callable[[], Any], local_tables: dict[str, str]
) -> None:
    table = local_tables["StateTable"]
    stores = [DynamoBookkeeping(local_client(), table) for _ in range(6)]
    tick = "2026-11-25T16:00:00Z"
    # GIVEN six copies of one failing target's event counting at once
    won = _race(6, lambda i: stores[i].count_tick_failure(tick, "mx1"))
    # THEN one counts, and distinct targets still add up
    assert won.count(True) == 1
    _race(12, lambda i: stores[i % 6].count_tick_failure(tick, f"t{i}"))
    assert stores[0].get_tick_counts(tick).failures == 1 + 12


class _Capture:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.invoked: list[tuple[str, str]] = []

    def invoke(self, target_id: str, scheduled_at: str) -> None:
        with self.lock:
            self.invoked.append((target_id, scheduled_at))


def test_overlapping_dispatchers_never_double_dispatch_on_the_real_engine(
    local_client: Callable[[], Any], local_tables: dict[str, str]
) -> None:
    ids = [f"t{i:03d}" for i in range(120)]
    DynamoTargetStore(local_client(), local_tables["TargetsTable"]).put_items(
        {"target_id": t, "host": "mx.example.com", "interval_s": 60} for t in ids
    )
    seed = DynamoStateStore(local_client(), local_tables["StateTable"])
    for t in ids[:60]:
        seed.save_state(TargetState(t, status=TargetStatus.UP, version=1))
    capture = _Capture()

    def dispatcher() -> Dispatcher:
        client = local_client()
        return Dispatcher(
            targets=DynamoTargetStore(client, local_tables["TargetsTable"], scan_segments=2),
            states=DynamoStateStore(client, local_tables["StateTable"]),
            bookkeeping=DynamoBookkeeping(client, local_tables["StateTable"]),
            invoker=capture,
            sink=None,
            workers=8,
            scan_segments=2,
        )

    # Two runs for one tick and two for the next, all at once (the moto test's race).
    t1 = T0 + timedelta(minutes=1)
    runs = [(dispatcher(), T0), (dispatcher(), T0), (dispatcher(), t1), (dispatcher(), t1)]
    _race(len(runs), lambda i: runs[i][0].run(runs[i][1]))
    pairs = capture.invoked
    assert len(pairs) == len(set(pairs)), "a (target, slot) was dispatched twice"
    latest = {t for t, s in pairs if schedule.parse_ts(s) > T0}
    assert set(ids[:60]) <= latest
    assert {t for t, _ in pairs} == set(ids)
