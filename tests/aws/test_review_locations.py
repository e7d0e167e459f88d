"""The several-locations dispatch on moto: what a stored item the dispatcher did not
write (a malformed or forged ``#slot#`` item in the state table) can do to the expired
slots beside it, with the real dispatcher handler ticking and the real home probe handler
running the decide events it sends; and how long a vote item is kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import test_dispatch_locations as located
from test_dispatch_locations import T0, Home

from conftest import REGION

# The dispatch tests' world: the home stack's tables, a probe function per region.
home = located.home
recorder = located.recorder

_HOSTILE = [
    # a location name the probe refuses (65 characters)
    ("2020-01-01T00:00:00Z", ("x" * 65, REGION)),
    # a slot that is no time
    ("soon", (REGION, "eu-west-1")),
]


def _put_raw(home: Home, item: dict[str, Any]) -> None:
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=home.tables["StateTable"], Item=item
    )


def _slot_item(target_id: str, scheduled_at: str, names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "target_id": {"S": f"#slot#{target_id}#{scheduled_at}"},
        "for_target": {"S": target_id},
        "scheduled_at": {"S": scheduled_at},
        "locations": {"L": [{"S": name} for name in names]},
        # long past: the oldest of all, so it travels with the first expired slots
        "deadline": {"S": "2020-01-01T00:00:00Z"},
    }


def test_a_malformed_open_slot_item_does_not_stop_the_expired_slots_beside_it(
    home: Home,
) -> None:
    # GIVEN three targets whose slots of T0 got no vote, and open-slot items nobody's
    # dispatcher wrote (unusable for the probe function), older than all of them
    for tid in ("mx1", "mx2", "mx3"):
        home.put(tid)
    home.tick(T0)
    home.recorder.take()
    for i, (at, names) in enumerate(_HOSTILE):
        _put_raw(home, _slot_item(f"ghost{i}", at, names))
    # WHEN the first tick past their deadlines runs and the home function runs what it got
    home.tick(T0 + timedelta(minutes=5), "tick-2")
    decides = [i.event for i in home.recorder.take() if "decide" in i.event]
    outcomes = [home.probe(event) for event in decides]
    # THEN every decide event is one the home function takes, and the three real slots
    # are decided: their verdicts (every location silent) are in the targets' history
    assert [o.get("status") for o in outcomes] == [None] * len(outcomes)
    assert sum(o["decided"] for o in outcomes) == 3
    for tid in ("mx1", "mx2", "mx3"):
        (verdict,) = _results(home, tid)
        assert [v["status"] for v in verdict] == ["silent", "silent", "silent"]


def _results(home: Home, target_id: str) -> list[list[dict[str, Any]]]:
    """Each stored result's locations (a verdict's votes), as the history reads them."""
    from smtpwatch.adapters.dynamodb import DynamoResultStore

    store = DynamoResultStore(boto3.client("dynamodb", region_name=REGION), home.results)
    return [[v.to_dict() for v in r.locations] for r in store.iter_results(target_id)]


def test_an_open_slot_item_under_another_key_does_not_decide_a_real_slot_early(
    home: Home,
) -> None:
    # GIVEN mx1 dispatched at T0 (its slot open, deadline 280 s later) and an item under
    # another key that names mx1's slot, one location and a deadline long past
    home.put("mx1")
    home.tick(T0)
    slot = located._events(home.recorder.take())[0].event["scheduled_at"]
    forged = _slot_item("mx1", slot, (REGION,)) | {"target_id": {"S": "#slot#forged"}}
    _put_raw(home, forged)
    # WHEN the next tick runs, before mx1's deadline
    summary = home.tick(T0 + timedelta(minutes=1), "tick-2")
    # THEN nothing goes to be decided: mx1's slot waits for its three locations
    assert [i.event for i in home.recorder.take() if "decide" in i.event] == []
    assert summary["slots_expired"] == 0
    assert home.raw_state(f"#slot#mx1#{slot}") is not None


def test_a_vote_expires_two_days_after_its_slot(home: Home) -> None:
    # The verdict keeps each location's status, phase, error and message for the
    # results' retention; the raw vote is for diagnosis and goes 2 days after its slot
    # (not 30 days: 3 items per slot nobody reads after the verdict).
    from smtpwatch.adapters.dynamodb import DynamoVoteStore
    from smtpwatch.core.kinds import Status
    from smtpwatch.core.result import ProbeResult

    ddb = boto3.client("dynamodb", region_name=REGION)
    slot = "2026-11-25T15:00:00Z"
    late = T0.timestamp() + 3_600  # stored an hour after its slot
    votes = DynamoVoteStore(
        ddb, home.tables["StateTable"], home.results, retention_s=30 * 86_400, clock=lambda: late
    )
    vote = ProbeResult("mx1", slot, Status.OK, location="eu-west-1")
    assert votes.put_vote("mx1", slot, vote)
    item = ddb.get_item(
        TableName=home.results,
        Key={"target_id": {"S": "#vote#mx1"}, "ts": {"S": f"{slot}#eu-west-1"}},
        ConsistentRead=True,
    )["Item"]
    assert int(item["expires_at"]["N"]) == int(T0.timestamp()) + 2 * 86_400


def test_a_health_item_whose_pending_alert_cannot_be_cleared_is_not_sent_every_tick(
    home: Home,
) -> None:
    # GIVEN a location health item nobody's code wrote: a pending alert and a version
    # that is no number (so no conditional write can ever clear that alert)
    import json

    from smtpwatch.adapters.dynamodb import DynamoLocationHealthStore
    from smtpwatch.core.alerting.location import location_alert
    from smtpwatch.service.location_health import LocationWatch
    from smtpwatch.service.memory import MemorySink

    alert = location_alert("eu-west-1", "silent", created_at=T0, detail={"since": "x"})
    _put_raw(
        home,
        {
            "target_id": {"S": "#location#eu-west-1"},
            "status": {"S": "silent"},
            "version": {"S": "many"},
            "pending": {"S": json.dumps(alert.to_dict())},
        },
    )
    ddb = boto3.client("dynamodb", region_name=REGION)
    sink = MemorySink()
    watch = LocationWatch(DynamoLocationHealthStore(ddb, home.tables["StateTable"]), [sink])
    # WHEN the dispatcher's once-a-tick housekeeping runs three ticks
    for minute in (1, 2, 3):
        watch.settle(f"2026-11-25T15:0{minute}:00Z", ("us-east-1", "eu-west-1"))
    # THEN that alert went out at most once, not once a tick for ever
    assert len(sink.alerts) <= 1
