"""What a repeated hold in the degraded episode answers, on DynamoDB Local (AWS's own
emulator): the time the target's alert was first held, which the maximum hold counts
from. moto leaves an attribute an update did not change out of ``UPDATED_NEW``; the
real engine returns it, so this runs on the emulator. One client, no threads; the
episode item is written directly, so that only the hold runs here (each run of the
emulator costs seconds, and the rest of the episode is tested on moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from dynamodb_local import running_dynamodb_local
from template_tables import create_tables

from smtpwatch.adapters.dynamodb import DynamoBookkeeping

pytestmark = pytest.mark.dynamodb_local

T1 = "2026-11-25T15:00:00Z"
T2 = "2026-11-25T15:01:00Z"
T3 = "2026-11-25T15:02:00Z"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with running_dynamodb_local() as url:
        yield boto3.client(
            "dynamodb",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def test_a_repeated_hold_answers_when_the_alert_was_first_held(client: Any) -> None:
    table = create_tables(client)["StateTable"]
    books = DynamoBookkeeping(client, table)
    # GIVEN an open episode since T1 (the item as open_episode writes it)
    client.put_item(
        TableName=table,
        Item={
            "target_id": {"S": "#episode"},
            "since": {"S": T1},
            "held": {"M": {}},
            "released": {"M": {}},
        },
    )
    assert books.hold_in_episode(T1, "mx1", T1) == T1
    # WHEN the target's check holds its alert again at later ticks
    # THEN each hold answers the first time, from which the maximum hold counts
    assert books.hold_in_episode(T1, "mx1", T2) == T1
    assert books.hold_in_episode(T1, "mx2", T2) == T2
    assert books.hold_in_episode(T1, "mx1", T3) == T1
    assert books.hold_in_episode(T1, "mx2", T3) == T2
    # AND an episode that has ended takes no more holds
    client.update_item(
        TableName=table,
        Key={"target_id": {"S": "#episode"}},
        UpdateExpression="SET ended_at = :at",
        ExpressionAttributeValues={":at": {"S": T3}},
    )
    assert books.hold_in_episode(T1, "mx1", T3) is None


def test_an_episode_is_ended_once_on_the_real_engines_rules(client: Any) -> None:
    # The end sends no attribute names: DynamoDB refuses an empty
    # ExpressionAttributeNames outright (moto lets it pass), and an episode that could
    # not end would hold down alerts until the maximum hold.
    table = create_tables(client, prefix="end")["StateTable"]
    books = DynamoBookkeeping(client, table)
    client.put_item(
        TableName=table,
        Item={
            "target_id": {"S": "#episode"},
            "since": {"S": T1},
            "held": {"M": {}},
            "released": {"M": {}},
        },
    )
    assert books.end_episode(T2, T3) is False  # not this episode
    assert books.end_episode(T1, T3) is True
    assert books.end_episode(T1, T3) is False
    item = client.get_item(TableName=table, Key={"target_id": {"S": "#episode"}})["Item"]
    assert item["ended_at"] == {"S": T3}
