"""Every hand-written retry loop waits as the one retry policy says: full jitter under
its documented ceilings, its documented number of tries, and different waits for
different callers (threads throttled together do not retry in lockstep).

GIVEN DynamoDB (moto) leaving every batch request unprocessed, or a loopback Lambda
endpoint answering 429, WHEN each loop runs until it gives up THEN its waits are the
documented policy's (docs/internals.md, "One retry policy"). A loop that went back to a
fixed doubling would wait the same for every caller and fail here.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from test_lambda_invoker import Endpoint, endpoint  # noqa: F401  (the loopback fixture)

from smtpwatch.adapters.dynamodb.probe_read import read_target_and_state
from smtpwatch.adapters.dynamodb.state import DynamoStateStore
from smtpwatch.adapters.dynamodb.targets import DynamoTargetStore
from smtpwatch.adapters.dynamodb.votes import DynamoVoteStore
from smtpwatch.adapters.lambda_invoker import DirectLambdaInvoker
from smtpwatch.cli.targets_dynamo import DynamoTargets
from smtpwatch.core.locations import OpenSlot


class Waits:
    """``time.sleep`` as the loop under test sees it: records the calling thread's waits
    without waiting; other threads (a loopback server) sleep as usual."""

    def __init__(self, real: Callable[[float], None]) -> None:
        self.real = real
        self.thread = threading.get_ident()
        self.seen: list[float] = []

    def __call__(self, seconds: float) -> None:
        if threading.get_ident() == self.thread:
            self.seen.append(seconds)
        else:
            self.real(seconds)


Run = Callable[[Waits], None]


def _waits(run: Run, seed: int, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits of one run of a loop that never succeeds, with the random source seeded."""
    waits = Waits(time.sleep)
    state = random.getstate()
    random.seed(seed)
    try:
        with monkeypatch.context() as mp:
            mp.setattr(time, "sleep", waits)
            run(waits)
    finally:
        random.setstate(state)
    return waits.seen


def _check(run: Run, tries: int, base_s: float, cap_s: float, mp: pytest.MonkeyPatch) -> None:
    first, second = (_waits(run, seed, mp) for seed in (1, 2))
    for waits in (first, second):
        assert len(waits) == tries - 1, waits  # one wait between two tries
        for n, wait in enumerate(waits):
            assert 0.0 <= wait <= min(cap_s, base_s * 2**n), (n, waits)
    # Full jitter: each caller draws its own waits.
    assert first != second


def _throttle_writes(client: Any, table: str) -> None:
    def unprocessed(parsed: dict[str, Any], **_: Any) -> None:
        item = {"target_id": {"S": "t1"}, "host": {"S": "h1.example.com"}}
        parsed["UnprocessedItems"] = {table: [{"PutRequest": {"Item": item}}]}

    client.meta.events.register("after-call.dynamodb.BatchWriteItem", unprocessed)


def test_the_target_stores_batch_write_backs_off_with_jitter(
    ddb: Any, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _throttle_writes(ddb, tables["TargetsTable"])
    store = DynamoTargetStore(ddb, tables["TargetsTable"])

    def run(_: Waits) -> None:
        with pytest.raises(RuntimeError, match="still unprocessed after 10 attempts"):
            store.put_items([{"target_id": "t1", "host": "h1.example.com"}])

    _check(run, tries=10, base_s=0.05, cap_s=2.0, mp=monkeypatch)


def test_the_cli_imports_batch_write_backs_off_with_jitter(
    ddb: Any, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _throttle_writes(ddb, tables["TargetsTable"])
    runs = iter(range(2))

    def run(waits: Waits) -> None:
        store = DynamoTargets(tables["TargetsTable"], client=ddb, sleep=waits)
        # a new target each run: an import skips the ones stored already
        item = {"target_id": f"run{next(runs)}", "host": "h1.example.com"}
        with pytest.raises(Exception, match="unprocessed after 12 retries"):
            store.import_items([item])

    _check(run, tries=13, base_s=0.05, cap_s=5.0, mp=monkeypatch)


def test_opening_slots_backs_off_with_jitter(
    ddb: Any, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _throttle_writes(ddb, tables["StateTable"])
    votes = DynamoVoteStore(ddb, tables["StateTable"], tables["ResultsTable"])
    slot = OpenSlot(
        "t1", "2026-12-01T10:00:00Z", ("us-east-1", "eu-west-1"), "2026-12-01T10:05:00Z"
    )

    def run(_: Waits) -> None:
        with pytest.raises(RuntimeError, match="slots not opened"):
            votes.open_slots([slot])

    _check(run, tries=10, base_s=0.05, cap_s=2.0, mp=monkeypatch)


def test_the_probes_batch_read_backs_off_with_jitter_then_reads_one_by_one(
    ddb: Any, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tt, st = tables["TargetsTable"], tables["StateTable"]
    ddb.put_item(TableName=tt, Item={"target_id": {"S": "t1"}, "host": {"S": "h1.example.com"}})
    calls: list[str] = []

    def unprocessed(parsed: dict[str, Any], **_: Any) -> None:
        calls.append("BatchGetItem")
        key = {"target_id": {"S": "t1"}}
        parsed["Responses"] = {}
        parsed["UnprocessedKeys"] = {tt: {"Keys": [key]}, st: {"Keys": [key]}}

    ddb.meta.events.register("after-call.dynamodb.BatchGetItem", unprocessed)
    targets, states = DynamoTargetStore(ddb, tt), DynamoStateStore(ddb, st)

    def run(_: Waits) -> None:
        item, state = read_target_and_state(
            ddb, "t1", targets=targets, states=states, targets_table=tt, state_table=st
        )
        # the keys still left after the last try are read one by one: the check goes on
        assert item is not None and item["host"] == "h1.example.com" and state is None

    _check(run, tries=3, base_s=0.05, cap_s=0.2, mp=monkeypatch)
    assert len(calls) == 2 * 3


def test_the_direct_invoker_backs_off_with_jitter_on_throttling(
    endpoint: Endpoint,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    client = session.client("lambda", endpoint_url=endpoint.url)

    def run(_: Waits) -> None:
        endpoint.replies = [429] * 10
        invoker = DirectLambdaInvoker(client, session, "smtpwatch-probe")
        with pytest.raises(RuntimeError, match="answered 429"):
            invoker.invoke("mx1", "2026-11-25T15:00:00Z")

    _check(run, tries=4, base_s=0.1, cap_s=1.0, mp=monkeypatch)
    assert len(endpoint.requests) == 2 * 4
