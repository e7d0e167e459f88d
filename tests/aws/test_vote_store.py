"""The votes, open slots and location health on DynamoDB (moto, tables from
template.yaml): a vote is stored once per slot and location within one write unit, a
slot is claimed once, a health item flips only from the version read, and nothing
read back from a vote, slot or health item is trusted."""

from __future__ import annotations

import logging
import zlib
from typing import Any

import pytest

from smtpwatch.adapters.dynamodb import (
    DynamoLocationHealthStore,
    DynamoResultStore,
    DynamoStateStore,
    DynamoVoteStore,
    from_item,
    plain,
    slot_of,
)
from smtpwatch.adapters.result_codec import ITEM_LIMIT, item_size
from smtpwatch.core.alerting.location import location_alert
from smtpwatch.core.locations import MAX_LOCATIONS, OpenSlot
from smtpwatch.core.result import ErrorInfo, ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.schedule import parse_ts
from smtpwatch.core.state import Alert, TargetState
from smtpwatch.service.location_health import LocationHealth
from smtpwatch.testing.floods import largest_result

SLOT = "2026-12-08T01:00:00Z"
DEADLINE = "2026-12-08T01:00:40Z"


def vote(location: str, status: Status = Status.OK, target_id: str = "mx1") -> ProbeResult:
    error = None
    if status is Status.CRITICAL:
        error = ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "connection refused")
    return ProbeResult(
        target_id, SLOT, status, host="mx1.example.com", port=25, error=error, location=location
    )


@pytest.fixture
def store(ddb: Any, tables: dict[str, str]) -> DynamoVoteStore:
    return DynamoVoteStore(ddb, tables["StateTable"], tables["ResultsTable"], clock=lambda: 1e9)


@pytest.fixture
def health(ddb: Any, tables: dict[str, str]) -> DynamoLocationHealthStore:
    return DynamoLocationHealthStore(ddb, tables["StateTable"], clock=lambda: 1e9)


def raw_vote_item(ddb: Any, tables: dict[str, str], ts: str, **attrs: Any) -> None:
    item = {"target_id": {"S": "#vote#mx1"}, "ts": {"S": ts}, **attrs}
    ddb.put_item(TableName=tables["ResultsTable"], Item=item)


def test_a_vote_is_stored_once_per_location_and_read_back_by_location(
    store: DynamoVoteStore, ddb: Any, tables: dict[str, str]
) -> None:
    assert store.put_vote("mx1", SLOT, vote("us-east-1")) is True
    assert store.put_vote("mx1", SLOT, vote("eu-west-1", Status.CRITICAL)) is True
    # A redelivered event of the same location finds its vote: nothing more.
    assert store.put_vote("mx1", SLOT, vote("eu-west-1")) is False
    got = store.votes("mx1", SLOT)
    assert sorted(got) == ["eu-west-1", "us-east-1"]
    eu = got["eu-west-1"]
    assert eu.target_id == "mx1" and eu.location == "eu-west-1"
    assert eu.status is Status.CRITICAL and eu.error is not None
    assert eu.error.kind is ErrorKind.CONNECT_REFUSED
    # Another slot's votes and the target's history are apart from them.
    assert store.votes("mx1", "2026-12-08T01:01:00Z") == {}
    assert list(DynamoResultStore(ddb, tables["ResultsTable"]).iter_results("mx1")) == []
    item = ddb.get_item(
        TableName=tables["ResultsTable"],
        Key={"target_id": {"S": "#vote#mx1"}, "ts": {"S": f"{SLOT}#eu-west-1"}},
    )["Item"]
    # Two days after its slot (the verdict keeps each location's vote for the retention).
    assert int(item["expires_at"]["N"]) == int(parse_ts(SLOT).timestamp()) + 2 * 86_400


def test_the_largest_vote_there_can_be_is_one_write_unit(
    store: DynamoVoteStore, ddb: Any, tables: dict[str, str]
) -> None:
    big = largest_result().replace(target_id="t" * 128, location="l" * 64)
    assert store.put_vote("t" * 128, SLOT, big)
    (item,) = ddb.query(
        TableName=tables["ResultsTable"],
        KeyConditionExpression="target_id = :t",
        ExpressionAttributeValues={":t": {"S": "#vote#" + "t" * 128}},
    )["Items"]
    assert item_size(item) <= ITEM_LIMIT
    (back,) = store.votes("t" * 128, SLOT).values()
    assert back.location == "l" * 64 and back.status is Status.CRITICAL


def test_a_vote_without_a_location_is_refused(store: DynamoVoteStore) -> None:
    with pytest.raises(ValueError, match="location"):
        store.put_vote("mx1", SLOT, vote(""))


def test_hostile_vote_items_are_ignored_and_logged(
    store: DynamoVoteStore,
    ddb: Any,
    tables: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store.put_vote("mx1", SLOT, vote("us-east-1"))
    raw_vote_item(ddb, tables, f"{SLOT}#bad\x07name", r={"B": b"\x01"})
    raw_vote_item(ddb, tables, f"{SLOT}#garbage", r={"B": b"\x01not deflate"})
    raw_vote_item(ddb, tables, f"{SLOT}#noblob", status={"S": "ok"})
    raw_vote_item(ddb, tables, f"{SLOT}#huge", r={"B": b"\x01" + b"x" * 5000})
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    blob = b"\x01" + bomb.compress(b"[" * 100_000) + bomb.flush()
    raw_vote_item(ddb, tables, f"{SLOT}#bomb", r={"B": blob})
    with caplog.at_level(logging.WARNING, logger="smtpwatch.vote"):
        got = store.votes("mx1", SLOT)
    assert sorted(got) == ["us-east-1"]
    assert caplog.text.count("vote item unusable") == 5


def test_more_votes_than_locations_are_bounded_and_logged(
    store: DynamoVoteStore, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(MAX_LOCATIONS + 4):
        store.put_vote("mx1", SLOT, vote(f"loc-{i:02d}"))
    with caplog.at_level(logging.WARNING, logger="smtpwatch.vote"):
        got = store.votes("mx1", SLOT)
    assert len(got) == MAX_LOCATIONS
    assert "more than 16 votes for one slot" in caplog.text


def test_a_slot_is_opened_idempotently_claimed_once_and_read_back(
    store: DynamoVoteStore, ddb: Any, tables: dict[str, str]
) -> None:
    slot = OpenSlot("mx1", SLOT, ("us-east-1", "eu-west-1"), DEADLINE, "corr-1")
    store.open_slot(slot)
    store.open_slot(slot)  # the dispatcher writing it again is harmless
    states = DynamoStateStore(ddb, tables["StateTable"])
    (raw,) = [i for i in states.iter_raw() if str(i["target_id"]).startswith("#slot#")]
    assert slot_of(plain(raw)) == slot
    assert list(states.iter_states()) == []  # bookkeeping, not a target's state
    assert store.claim("mx1", SLOT) is True
    assert store.claim("mx1", SLOT) is False
    assert store.claim("mx1", "2026-12-08T01:01:00Z") is False  # never opened


def test_many_slots_open_in_batches(store: DynamoVoteStore, ddb: Any) -> None:
    slots = [OpenSlot(f"t{i}", SLOT, ("a", "b"), DEADLINE) for i in range(60)]
    store.open_slots(slots)
    assert sum(store.claim(f"t{i}", SLOT) for i in range(60)) == 60


@pytest.mark.parametrize(
    "change",
    [
        {"for_target": 7},
        {"locations": []},
        {"locations": ["a"] * 2},
        {"locations": [f"l{i}" for i in range(17)]},
        {"locations": ["bad\nname"]},
        {"deadline": "soon"},
        {"target_id": "#slot#other#2026-12-08T01:00:00Z"},
        {"scheduled_at": None},
    ],
)
def test_an_unusable_slot_item_is_none_and_logged(
    change: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    item: dict[str, Any] = {
        "target_id": f"#slot#mx1#{SLOT}",
        "for_target": "mx1",
        "scheduled_at": SLOT,
        "locations": ["a", "b"],
        "deadline": DEADLINE,
    }
    item.update(change)
    with caplog.at_level(logging.WARNING, logger="smtpwatch.vote"):
        assert slot_of(item) is None
    assert "open slot item unusable" in caplog.text


def test_a_health_item_flips_only_from_the_version_read(
    health: DynamoLocationHealthStore,
) -> None:
    assert health.get_location("eu-west-1") is None
    silent = LocationHealth("eu-west-1", "silent", "2026-12-08T01:00:45Z", SLOT, 1)
    assert health.save_location(silent) is True
    assert health.save_location(silent) is False  # a second writer of version 1 loses
    assert health.get_location("eu-west-1") == silent
    back = LocationHealth("eu-west-1", "ok", "2026-12-08T01:02:05Z", "2026-12-08T01:02:00Z", 2)
    assert health.save_location(back) is True
    assert health.save_location(LocationHealth("eu-west-1", "failing", None, None, 2)) is False
    assert health.get_location("eu-west-1") == back


def test_a_hostile_health_item_reads_as_ok_with_its_version(
    health: DynamoLocationHealthStore, ddb: Any, tables: dict[str, str]
) -> None:
    ddb.put_item(
        TableName=tables["StateTable"],
        Item={
            "target_id": {"S": "#location#eu-west-1"},
            "status": {"S": "exploded"},
            "since": {"S": "x" * 5000},
            "as_of": {"N": "3"},
            "version": {"N": "4"},
        },
    )
    assert health.get_location("eu-west-1") == LocationHealth("eu-west-1", "ok", None, None, 4)


def test_tick_counts_add_up_per_location_and_ignore_hostile_attributes(
    health: DynamoLocationHealthStore, ddb: Any, tables: dict[str, str]
) -> None:
    bucket = "2026-12-08T01:01:00Z"
    health.add_location_counts(bucket, dispatched={"a": 10, "b": 10}, failed={})
    health.add_location_counts(bucket, dispatched={}, failed={"a": 1})
    health.add_location_counts(bucket, dispatched={}, failed={"a": 1, "b": 1})
    ddb.update_item(
        TableName=tables["StateTable"],
        Key={"target_id": {"S": "#loctick#" + bucket}},
        UpdateExpression="SET #x = :s, #y = :n",
        ExpressionAttributeNames={"#x": "f:c", "#y": "z:d"},
        ExpressionAttributeValues={":s": {"S": "lots"}, ":n": {"N": "5"}},
    )
    counts = health.location_counts(bucket)
    assert counts.dispatched == {"a": 10, "b": 10}
    assert counts.failed == {"a": 2, "b": 1}
    assert health.location_counts("2026-12-08T01:02:00Z").dispatched == {}
    raw = plain(
        from_item(
            ddb.get_item(
                TableName=tables["StateTable"], Key={"target_id": {"S": "#loctick#" + bucket}}
            )["Item"]
        )
    )
    assert raw["expires_at"] == 1_000_000_000 + 3_600


def test_state_items_and_location_items_do_not_mix(
    health: DynamoLocationHealthStore, ddb: Any, tables: dict[str, str]
) -> None:
    states = DynamoStateStore(ddb, tables["StateTable"])
    states.save_state(TargetState("mx1", version=1))
    health.save_location(LocationHealth("us-east-1", "silent", None, SLOT, 1))
    assert [s.target_id for s in states.iter_states()] == ["mx1"]


def test_a_pending_location_alert_round_trips_and_a_hostile_one_is_dropped(
    health: DynamoLocationHealthStore, ddb: Any, tables: dict[str, str]
) -> None:
    alert = location_alert("eu-west-1", "silent", created_at=SLOT, detail={"since": SLOT})
    flipped = LocationHealth("eu-west-1", "silent", SLOT, SLOT, 1, alert.to_dict())
    assert health.save_location(flipped)
    back = health.get_location("eu-west-1")
    assert back is not None and back.pending is not None
    assert Alert.from_dict(dict(back.pending)) == alert
    for hostile in ("not json", "[1, 2]", "x" * 20_000):
        ddb.update_item(
            TableName=tables["StateTable"],
            Key={"target_id": {"S": "#location#eu-west-1"}},
            UpdateExpression="SET pending = :p",
            ExpressionAttributeValues={":p": {"S": hostile}},
        )
        read = health.get_location("eu-west-1")
        assert read is not None and read.pending is None and read.version == 1
