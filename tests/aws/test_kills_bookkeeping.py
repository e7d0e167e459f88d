"""The dispatcher's and the tick gate's bookkeeping items against moto (tables from
template.yaml): every change is a conditional write, so nothing is lost, nothing is
counted or sent twice, and a write that lost a race is told so.

Two "runs" are two calls that read the same item before either writes, as two
dispatcher runs or two probe handlers do; moto checks the conditions as DynamoDB does.
"""

from __future__ import annotations

from typing import Any

import pytest

from smtpwatch.adapters.dynamodb import (
    DispatcherMark,
    DynamoBookkeeping,
    DynamoStateStore,
    EpisodeRecord,
    TickCounts,
)
from smtpwatch.core.state import TargetState, TargetStatus

NOW = 1_800_000_000.75  # the bookkeeping's clock (epoch seconds), fixed
HOUR = 3_600
T1 = "2026-11-25T15:00:00Z"
T2 = "2026-11-25T15:01:00Z"
T3 = "2026-11-25T15:02:00Z"


@pytest.fixture
def table(tables: dict[str, str]) -> str:
    return tables["StateTable"]


@pytest.fixture
def books(ddb: Any, table: str) -> DynamoBookkeeping:
    return DynamoBookkeeping(ddb, table, clock=lambda: NOW)


def _raw(ddb: Any, table: str, key: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(
        TableName=table, Key={"target_id": {"S": key}}, ConsistentRead=True
    ).get("Item")
    return item


def _keys(ddb: Any, table: str) -> list[str]:
    return sorted(i["target_id"]["S"] for i in ddb.scan(TableName=table)["Items"])


def _ttl_attribute(ddb: Any, table: str) -> str:
    desc = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert desc["TimeToLiveStatus"] == "ENABLED"
    name: str = desc["AttributeName"]
    return name


def _consistent_reads(ddb: Any) -> list[bool | None]:
    """The ConsistentRead parameter of every GetItem the client sends from now on."""
    seen: list[bool | None] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params.get("ConsistentRead"))

    ddb.meta.events.register("provide-client-params.dynamodb.GetItem", record)
    return seen


# --------------------------------------------------------------- first dispatch stubs


def test_a_failed_first_invoke_gives_the_target_back_to_the_next_tick(
    ddb: Any, table: str, books: DynamoBookkeeping
) -> None:
    assert books.claim_first_dispatch("new", T1) is True
    assert _raw(ddb, table, "new") == {
        "target_id": {"S": "new"},
        "first_scheduled_at": {"S": T1},
    }
    # WHEN the invoke failed and the run releases its claim
    books.release_first_dispatch("new", T1)
    # THEN no stub is left, and the next tick claims the target as new again
    assert _raw(ddb, table, "new") is None
    assert books.claim_first_dispatch("new", T2) is True


def test_releasing_an_old_claim_leaves_a_newer_claim_and_a_probed_state_alone(
    ddb: Any, table: str, books: DynamoBookkeeping
) -> None:
    # GIVEN a stub claimed by the tick T2 (a run at T1 released its own meanwhile)
    assert books.claim_first_dispatch("new", T2) is True
    # WHEN the T1 run releases late THEN the T2 claim stays: T2's probe is under way
    books.release_first_dispatch("new", T1)
    assert _raw(ddb, table, "new") == {
        "target_id": {"S": "new"},
        "first_scheduled_at": {"S": T2},
    }
    # GIVEN the probe wrote its state over the stub
    states = DynamoStateStore(ddb, table)
    assert states.save_state(TargetState("new", status=TargetStatus.UP, version=1)) is True
    # WHEN the run that claimed it releases (its invoke reported an error after all)
    books.release_first_dispatch("new", T2)
    # THEN the state is kept, and the target is not new again
    kept = states.get_state("new")
    assert kept is not None and kept.status is TargetStatus.UP and kept.version == 1
    assert books.claim_first_dispatch("new", T3) is False


def test_a_release_keeps_a_state_that_still_carries_the_claims_tick(
    ddb: Any, table: str, books: DynamoBookkeeping
) -> None:
    # A state item with a version is never a stub, even with the stub's attribute.
    ddb.put_item(
        TableName=table,
        Item={
            "target_id": {"S": "mx1"},
            "first_scheduled_at": {"S": T1},
            "version": {"N": "1"},
            "status": {"S": "up"},
        },
    )
    books.release_first_dispatch("mx1", T1)
    assert _raw(ddb, table, "mx1") is not None


# --------------------------------------------------------------- the dispatcher's mark


def test_a_claimed_window_reads_back_whole_with_its_lease(
    ddb: Any, table: str, books: DynamoBookkeeping
) -> None:
    assert books.claim_window(books.get_dispatcher_mark(), T1, T2, 90.5) is True
    assert books.get_dispatcher_mark() == DispatcherMark(
        done_until=T2,
        claim_start=T1,
        claim_done=False,
        lease_until=round(NOW + 90.5, 3),
        version=1,
    )
    assert books.complete_window(T1, T2) is True
    mark = books.get_dispatcher_mark()
    assert mark == DispatcherMark(
        done_until=T2, claim_start=T1, claim_done=True, lease_until=round(NOW + 90.5, 3), version=1
    )
    # the next run claims on from there: version 2, a new lease of its own clock
    later = DynamoBookkeeping(ddb, table, clock=lambda: NOW + 60)
    assert later.claim_window(mark, T2, T3, 90) is True
    assert later.get_dispatcher_mark() == DispatcherMark(
        done_until=T3,
        claim_start=T2,
        claim_done=False,
        lease_until=round(NOW + 150, 3),
        version=2,
    )


def test_the_lease_is_kept_to_the_millisecond(ddb: Any, table: str) -> None:
    books = DynamoBookkeeping(ddb, table, clock=lambda: 1_800_000_000.123456)
    assert books.claim_window(books.get_dispatcher_mark(), T1, T2, 90) is True
    assert books.get_dispatcher_mark().lease_until == 1_800_000_090.123


def test_a_run_that_read_an_old_mark_cannot_claim_over_a_newer_claim(
    books: DynamoBookkeeping,
) -> None:
    first = books.get_dispatcher_mark()
    assert books.claim_window(first, T1, T2, 90) is True
    second = books.get_dispatcher_mark()
    assert books.claim_window(second, T2, T3, 90) is True
    # WHEN a slow run claims with the mark it read before both claims (version 1)
    assert books.claim_window(second, T2, T3, 90) is False
    assert books.claim_window(first, T1, T2, 90) is False
    # THEN the latest claim stands
    mark = books.get_dispatcher_mark()
    assert (mark.claim_start, mark.done_until, mark.version) == (T2, T3, 2)


def test_a_late_finish_does_not_mark_a_redone_window_done(books: DynamoBookkeeping) -> None:
    # GIVEN a run claimed (T1, T2] and was taken for crashed; the next run redoes the
    # window from the same start, wider: (T1, T3]
    assert books.claim_window(books.get_dispatcher_mark(), T1, T2, 90) is True
    assert books.claim_window(books.get_dispatcher_mark(), T1, T3, 90) is True
    # WHEN the first run finishes after all
    assert books.complete_window(T1, T2) is False
    # THEN the redo is still unfinished (were it marked done, a crash of the redo would
    # lose its window)
    assert books.get_dispatcher_mark().claim_done is False
    # and a run that claimed the same end from another start cannot finish it either
    assert books.complete_window(T2, T3) is False
    assert books.get_dispatcher_mark().claim_done is False
    assert books.complete_window(T1, T3) is True
    assert books.get_dispatcher_mark().claim_done is True


def test_completing_a_window_never_creates_the_mark(ddb: Any, table: str) -> None:
    books = DynamoBookkeeping(ddb, table)
    assert books.complete_window(T1, T2) is False
    assert _raw(ddb, table, "#dispatcher") is None
    assert books.get_dispatcher_mark() == DispatcherMark()


# --------------------------------------------------------------- tick counters


def test_dispatched_counts_add_up_and_expire_an_hour_after_they_were_written(
    ddb: Any, table: str, books: DynamoBookkeeping
) -> None:
    books.record_dispatched(T1, 3)
    books.record_dispatched(T1, 4)
    books.record_dispatched(T2, 1)
    assert books.get_tick_counts(T1) == TickCounts(dispatched=7, failures=0, degraded_sent=False)
    assert books.get_tick_counts(T2) == TickCounts(dispatched=1, failures=0, degraded_sent=False)
    assert books.get_tick_counts(T3) == TickCounts(dispatched=0, failures=0, degraded_sent=False)
    item = _raw(ddb, table, "#tick#" + T1)
    assert item is not None
    assert item[_ttl_attribute(ddb, table)] == {"N": str(int(NOW) + HOUR)}


def test_a_failure_redelivered_for_the_same_tick_is_counted_once(
    ddb: Any, table: str, books: DynamoBookkeeping
) -> None:
    books.record_dispatched(T1, 10)
    assert books.count_tick_failure(T1, "mx1") is True
    # the same event delivered again, for the same target and tick
    assert books.count_tick_failure(T1, "mx1") is False
    assert books.count_tick_failure(T1, "mx2") is True
    # the same target failing at the next tick counts for that tick
    assert books.count_tick_failure(T2, "mx1") is True
    assert books.get_tick_counts(T1) == TickCounts(dispatched=10, failures=2, degraded_sent=False)
    assert books.get_tick_counts(T2) == TickCounts(dispatched=0, failures=1, degraded_sent=False)


def test_failure_markers_and_counters_expire_with_their_tick_and_are_not_states(
    ddb: Any, table: str, books: DynamoBookkeeping
) -> None:
    assert books.count_tick_failure(T1, "mx1") is True
    ttl = _ttl_attribute(ddb, table)
    keys = _keys(ddb, table)
    assert len(keys) == 2 and all(k.startswith("#") for k in keys)
    for key in keys:
        item = _raw(ddb, table, key)
        assert item is not None and item[ttl] == {"N": str(int(NOW) + HOUR)}, key
    assert list(DynamoStateStore(ddb, table).iter_states()) == []


def test_each_added_failure_returns_the_ticks_counts_after_it(
    ddb: Any, table: str, books: DynamoBookkeeping
) -> None:
    # no dispatched count recorded (the dispatcher's write failed): none is made up
    assert books.add_tick_failure(T1) == TickCounts(dispatched=0, failures=1, degraded_sent=False)
    books.record_dispatched(T1, 5)
    assert books.add_tick_failure(T1) == TickCounts(dispatched=5, failures=2, degraded_sent=False)
    item = _raw(ddb, table, "#tick#" + T1)
    assert item is not None and item[_ttl_attribute(ddb, table)] == {"N": str(int(NOW) + HOUR)}


def test_one_degraded_alert_per_tick_and_a_failed_send_lets_the_next_caller_send(
    books: DynamoBookkeeping,
) -> None:
    books.record_dispatched(T1, 4)
    assert books.claim_degraded_alert(T1) is True
    assert books.claim_degraded_alert(T1) is False
    assert books.get_tick_counts(T1) == TickCounts(dispatched=4, failures=0, degraded_sent=True)
    # another tick has its own alert
    assert books.claim_degraded_alert(T2) is True
    # WHEN the send failed and the claim is released THEN one caller may claim again
    books.release_degraded_alert(T1)
    assert books.get_tick_counts(T1) == TickCounts(dispatched=4, failures=0, degraded_sent=False)
    assert books.claim_degraded_alert(T1) is True
    assert books.claim_degraded_alert(T1) is False
    assert books.get_tick_counts(T2).degraded_sent is True


# --------------------------------------------------------------- the degraded episode


def test_no_episode_reads_as_none_and_a_new_one_reads_back_open_and_empty(
    books: DynamoBookkeeping,
) -> None:
    assert books.get_episode() is None
    assert books.open_episode(T1) is True
    episode = books.get_episode()
    assert episode == EpisodeRecord(since=T1, held={}, released=frozenset(), ended_at=None)
    assert episode is not None and episode.open


def test_an_open_episode_is_begun_once_and_only_a_later_tick_replaces_it(
    books: DynamoBookkeeping,
) -> None:
    assert books.open_episode(T2) is True
    assert books.hold_in_episode(T2, "mx1", T2) == T2
    # a second caller for the same tick, or one for an earlier tick, does not begin it
    assert books.open_episode(T2) is False
    assert books.open_episode(T1) is False
    assert books.get_episode() == EpisodeRecord(
        since=T2, held={"mx1": T2}, released=frozenset(), ended_at=None
    )
    # an episode left open (no housekeeping ran to end it) is replaced by a later one
    assert books.open_episode(T3) is True
    assert books.get_episode() == EpisodeRecord(
        since=T3, held={}, released=frozenset(), ended_at=None
    )


def test_an_ended_episode_is_replaced_by_the_next_one(books: DynamoBookkeeping) -> None:
    assert books.open_episode(T2) is True
    assert books.end_episode(T2, T3) is True
    # even by one that began at an earlier tick (a check that runs late)
    assert books.open_episode(T1) is True
    assert books.get_episode() == EpisodeRecord(
        since=T1, held={}, released=frozenset(), ended_at=None
    )


def test_a_hold_records_when_the_alert_was_first_held(books: DynamoBookkeeping) -> None:
    assert books.open_episode(T1) is True
    assert books.hold_in_episode(T1, "mx1", T1) == T1
    # held again at later ticks: the first time stands (the maximum hold counts from it).
    # What a repeated hold returns is checked on DynamoDB Local
    # (test_kills_bookkeeping_local.py): moto returns no attribute whose value an
    # update left as it was, where DynamoDB returns it.
    assert books.hold_in_episode(T1, "mx1", T2) is not None
    assert books.hold_in_episode(T1, "mx2", T3) == T3
    assert books.hold_in_episode(T1, "mx1", T3) is not None
    episode = books.get_episode()
    assert episode is not None and episode.held == {"mx1": T1, "mx2": T3}


def test_a_hold_in_an_episode_that_is_over_or_replaced_is_refused(
    books: DynamoBookkeeping,
) -> None:
    # no episode at all
    assert books.hold_in_episode(T1, "mx1", T1) is None
    assert books.open_episode(T1) is True
    # the episode of another tick
    assert books.hold_in_episode(T2, "mx1", T2) is None
    assert books.end_episode(T1, T2) is True
    # the episode has ended: its held alerts are going out
    assert books.hold_in_episode(T1, "mx1", T3) is None
    episode = books.get_episode()
    assert episode == EpisodeRecord(since=T1, held={}, released=frozenset(), ended_at=T2)
    assert not episode.open


def test_a_held_alert_is_released_by_exactly_one_caller(books: DynamoBookkeeping) -> None:
    assert books.open_episode(T1) is True
    assert books.hold_in_episode(T1, "mx1", T1) == T1
    assert books.hold_in_episode(T1, "mx2", T1) == T1
    assert books.release_in_episode(T2, "mx1", T3) is False  # not this episode
    assert books.release_in_episode(T1, "mx1", T3) is True
    assert books.release_in_episode(T1, "mx1", T3) is False
    episode = books.get_episode()
    assert episode == EpisodeRecord(
        since=T1, held={"mx1": T1, "mx2": T1}, released=frozenset({"mx1"}), ended_at=None
    )


def test_an_episode_is_ended_by_exactly_one_caller(books: DynamoBookkeeping) -> None:
    assert books.end_episode(T1, T2) is False  # none begun
    assert books.open_episode(T1) is True
    assert books.end_episode(T2, T3) is False  # not this episode
    assert books.get_episode() == EpisodeRecord(
        since=T1, held={}, released=frozenset(), ended_at=None
    )
    assert books.end_episode(T1, T3) is True
    assert books.end_episode(T1, T3) is False
    assert books.get_episode() == EpisodeRecord(
        since=T1, held={}, released=frozenset(), ended_at=T3
    )


def test_the_bookkeeping_reads_are_strongly_consistent(ddb: Any, books: DynamoBookkeeping) -> None:
    # Each read decides a conditional write or an alert: a stale mark loses its claim
    # (a tick missed), stale counters or a stale episode hold or send the wrong alerts.
    seen = _consistent_reads(ddb)
    books.get_dispatcher_mark()
    books.get_tick_counts(T1)
    books.get_episode()
    assert seen == [True, True, True]
