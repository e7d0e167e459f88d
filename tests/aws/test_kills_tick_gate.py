"""The AWS monitor-degraded gate step by step, in one thread, under moto: what a check's
gate counts and holds, which episode it records, and what the dispatcher's once-a-tick
housekeeping sends. No probes: the checks' outcomes are given, the clock is fixed, so
each case is one short sequence of store calls (the end-to-end runs with real probes
are in test_tick_gate_episode.py).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from template_tables import create_table, load_template

from smtpwatch.adapters.dynamodb import DynamoBookkeeping, DynamoStateStore
from smtpwatch.adapters.tick_gate import TickGate, settle_episode
from smtpwatch.core.result import ErrorInfo, ErrorKind, ProbeResult, Status
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus
from smtpwatch.core.target import Target
from smtpwatch.service.memory import MemorySink

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def _ts(minutes: float) -> str:
    return format_ts(T0 + timedelta(minutes=minutes))


HELD_AT = format_ts(T0 + timedelta(seconds=5))  # when the checks of tick 0 asked the gate


def assert_true(value: bool) -> None:
    assert value


def _failed(target_id: str, kind: ErrorKind = ErrorKind.CONNECT_TIMEOUT) -> ProbeResult:
    return ProbeResult(
        target_id=target_id,
        started_at=_ts(0),
        status=Status.CRITICAL,
        error=ErrorInfo(kind, None, "timed out"),
    )


class FirstHeldBooks(DynamoBookkeeping):
    """The bookkeeping as it answers on DynamoDB: a repeated hold answers when the alert
    was first held. moto leaves an attribute an update did not change out of
    ``UPDATED_NEW`` (so a repeated hold answers its own time); the real engine returns
    it, which ``test_kills_bookkeeping_local.py`` checks on DynamoDB Local.

    ``racer``, when set, runs once (with the target id) right before the next hold or
    release: another Lambda's write landing between this one's read and its write."""

    racer: Callable[[str], None] | None = None

    def _race(self, target_id: str) -> None:
        racer, self.racer = self.racer, None
        if racer is not None:
            racer(target_id)

    def hold_in_episode(self, since: str, target_id: str, at: str) -> str | None:
        self._race(target_id)
        answered = super().hold_in_episode(since, target_id, at)
        episode = self.get_episode()
        if answered is None or episode is None:
            return answered
        return episode.held.get(target_id, answered)

    def release_in_episode(self, since: str, target_id: str, at: str) -> bool:
        self._race(target_id)
        return super().release_in_episode(since, target_id, at)


class World:
    """The state table's bookkeeping and states, a sink, a fixed clock and ten targets
    (``t0`` … ``t9``); ``gate`` is a check's gate with the default rules."""

    def __init__(self, ddb: Any, table: str) -> None:
        self.books = FirstHeldBooks(ddb, table)
        self.states = DynamoStateStore(ddb, table)
        self.sink = MemorySink()
        self.now = T0 + timedelta(seconds=5)
        self.targets = {
            f"t{i}": Target(target_id=f"t{i}", host=f"t{i}.example.com") for i in range(10)
        }
        self.gate = self.new_gate()

    def new_gate(self, **rules: Any) -> TickGate:
        return TickGate(self.books, [self.sink], now=lambda: self.now, **rules)

    def tick(self, minute: float, failing: int, dispatched: int = 10) -> str:
        """The tick ``minute``: ``dispatched`` probes of which ``failing`` (t0, t1, …)
        failed, counted as the checks' gates count them. Returns the tick's bucket."""
        scheduled_at = _ts(minute)
        self.books.record_dispatched(scheduled_at, dispatched)
        for i in range(failing):
            target = Target(target_id=f"t{i}", host=f"t{i}.example.com")
            self.gate.observe(target, _failed(f"t{i}"), scheduled_at=scheduled_at)
        return scheduled_at

    def settle(self, minute: float, **rules: Any) -> None:
        self.now = T0 + timedelta(minutes=minute)
        settle_episode(
            self.books,
            self.states,
            [self.sink],
            targets=self.targets.get,
            tick=self.now,
            now=self.now,
            **rules,
        )

    def down(self, target_id: str, **fields: Any) -> None:
        """``target_id`` down and never announced, as its held check left it."""
        state = TargetState(
            target_id,
            status=TargetStatus.DOWN,
            consecutive_failures=1,
            last_change_at=_ts(0),
            last_scheduled_at=_ts(0),
            version=1,
            **fields,
        )
        assert self.states.save_state(state)

    def sent(self, event: AlertEvent, status: str | None = None) -> list[Alert]:
        return [
            a
            for a in self.sink.alerts
            if a.event is event and (status is None or a.status == status)
        ]


# One moto account for the module and a fresh state table per test: a mutation run
# repeats these tests for every mutant, and moto's start and a new client cost more
# than a test's own calls.
_TEMPLATE = load_template()
_tables = itertools.count()


@pytest.fixture(scope="module")
def moto_ddb() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client(
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
        )


@pytest.fixture
def world(moto_ddb: Any) -> World:
    name = create_table(moto_ddb, "StateTable", f"state-{next(_tables)}", _TEMPLATE)
    return World(moto_ddb, name)


# ---- what a check's gate counts --------------------------------------------------------


def test_only_a_critical_result_that_is_not_a_config_error_is_counted(world: World) -> None:
    at = _ts(0)
    t = world.targets
    world.gate.observe(t["t0"], _failed("t0"), scheduled_at=at)
    world.gate.observe(t["t1"], _failed("t1", ErrorKind.CONFIG), scheduled_at=at)
    ok = ProbeResult(target_id="t2", started_at=at, status=Status.OK)
    world.gate.observe(t["t2"], ok, scheduled_at=at)
    unknown = ProbeResult(target_id="t3", started_at=at, status=Status.UNKNOWN)
    world.gate.observe(t["t3"], unknown, scheduled_at=at)
    no_error = ProbeResult(target_id="t4", started_at=at, status=Status.CRITICAL)
    world.gate.observe(t["t4"], no_error, scheduled_at=at)
    assert world.books.get_tick_counts(at).failures == 2  # t0 and t4


def test_a_check_counts_in_the_minute_its_slot_rounds_up_to(world: World) -> None:
    world.gate.observe(world.targets["t0"], _failed("t0"), scheduled_at=_ts(0.5))
    assert world.books.get_tick_counts(_ts(1)).failures == 1
    assert world.books.get_tick_counts(_ts(0)).failures == 0


# ---- what a check's gate holds ----------------------------------------------------------


def test_a_tick_not_degraded_holds_nothing(world: World) -> None:
    at = world.tick(0, failing=5, dispatched=10)  # exactly half: not more than half
    assert not world.gate.hold_down(world.targets["t0"], scheduled_at=at)
    assert world.sink.alerts == [] and world.books.get_episode() is None


def test_the_first_degraded_tick_holds_and_sends_one_degraded_alert(world: World) -> None:
    at = world.tick(0, failing=7)
    assert world.gate.hold_down(world.targets["t3"], scheduled_at=at)
    assert world.gate.hold_down(world.targets["t4"], scheduled_at=at)
    (alert,) = world.sink.alerts
    assert (alert.event, alert.status, alert.since) == (AlertEvent.DEGRADED, "degraded", at)
    assert alert.details["failed"] == 7 and alert.details["total"] == 10
    assert alert.details["sample"] == ["t3"]  # the check that sent it
    assert alert.created_at == format_ts(world.now)
    episode = world.books.get_episode()
    assert episode is not None and episode.open and episode.since == at
    assert episode.held == {"t3": format_ts(world.now), "t4": format_ts(world.now)}


def test_the_degraded_alert_goes_to_every_sink(world: World) -> None:
    other = MemorySink()
    gate = TickGate(world.books, [world.sink, other], now=lambda: world.now)
    at = world.tick(0, failing=6)
    assert gate.hold_down(world.targets["t0"], scheduled_at=at)
    assert [a.status for a in world.sink.alerts] == ["degraded"]
    assert other.alerts == world.sink.alerts


def test_a_degraded_alert_a_sink_refused_is_sent_by_the_next_held_check(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    at = world.tick(0, failing=6)
    world.sink.fail_next = 1
    with caplog.at_level(logging.ERROR, logger="smtpwatch.gate"):
        assert world.gate.hold_down(world.targets["t0"], scheduled_at=at)
    assert world.sink.alerts == []
    logged = [r for r in caplog.records if r.name == "smtpwatch.gate"]
    assert [r.getMessage() for r in logged] == ["degraded alert not delivered"]
    assert logged[0].exc_info is not None  # with the sink's error
    assert not world.books.get_tick_counts(at).degraded_sent
    assert world.gate.hold_down(world.targets["t1"], scheduled_at=at)
    assert [a.details["sample"] for a in world.sink.alerts] == [["t1"]]


def test_the_tick_after_a_degraded_one_holds_without_a_second_alert(world: World) -> None:
    first = world.tick(0, failing=6)
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=first)
    world.now += timedelta(minutes=1)
    second = world.tick(1, failing=1)  # clean so far: the episode goes on until it is over
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=second)
    assert len(world.sink.alerts) == 1
    episode = world.books.get_episode()
    assert episode is not None and episode.since == first
    assert episode.held == {"t0": HELD_AT}  # first held at 0:05, kept


def test_the_gate_judges_by_its_own_share_and_floor(world: World) -> None:
    at = world.tick(0, failing=3)
    strict = world.new_gate(share=0.25, min_count=3)
    assert strict.hold_down(world.targets["t0"], scheduled_at=at)
    assert world.sent(AlertEvent.DEGRADED)[0].details["failed"] == 3
    assert not world.gate.hold_down(world.targets["t1"], scheduled_at=_ts(5))
    # the tick after: held because the one before was degraded by those rules
    world.now += timedelta(minutes=1)
    after = world.tick(1, failing=0)
    assert strict.hold_down(world.targets["t1"], scheduled_at=after)
    assert not world.gate.hold_down(world.targets["t1"], scheduled_at=after)


def test_a_floor_above_the_failures_holds_nothing(world: World) -> None:
    at = world.tick(0, failing=6)
    assert not world.new_gate(min_count=7).hold_down(world.targets["t0"], scheduled_at=at)
    assert not world.new_gate(share=0.6).hold_down(world.targets["t0"], scheduled_at=at)
    assert world.sink.alerts == []


# ---- which episode a held check records -------------------------------------------------


def test_a_degraded_tick_replaces_a_stale_open_episode(world: World) -> None:
    assert world.books.open_episode(_ts(-10))  # left open: no housekeeping ended it
    world.now = T0 + timedelta(minutes=0, seconds=5)
    at = world.tick(0, failing=6)
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=at)
    episode = world.books.get_episode()
    assert episode is not None and episode.since == at and episode.held == {"t0": HELD_AT}


def test_a_degraded_tick_right_after_an_open_episode_began_keeps_it(world: World) -> None:
    assert world.books.open_episode(_ts(-1))  # began by the housekeeping at the tick before
    at = world.tick(0, failing=6)
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=at)
    episode = world.books.get_episode()
    assert episode is not None and episode.since == _ts(-1) and "t0" in episode.held


def test_a_degraded_tick_after_an_ended_episode_begins_a_new_one(world: World) -> None:
    assert world.books.open_episode(_ts(-1))
    assert world.books.end_episode(_ts(-1), _ts(-1))
    at = world.tick(0, failing=6)
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=at)
    episode = world.books.get_episode()
    assert episode is not None and episode.open and episode.since == at
    assert [a.status for a in world.sink.alerts] == ["degraded"]


def test_a_hold_the_counters_call_for_records_the_episode_from_the_tick_before(
    world: World,
) -> None:
    # the tick before was degraded, but no check or housekeeping recorded the episode
    world.tick(0, failing=6)
    world.now = T0 + timedelta(minutes=1, seconds=5)
    after = world.tick(1, failing=1)
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=after)
    episode = world.books.get_episode()
    assert episode is not None and episode.open and episode.since == _ts(0)
    assert episode.held == {"t0": format_ts(world.now)}
    assert world.sink.alerts == []  # the tick that began it announces, not this one


@pytest.mark.parametrize("ended_at", [-1, 1])
def test_an_episode_ended_at_or_before_this_tick_is_recorded_again(
    world: World, ended_at: int
) -> None:
    world.tick(0, failing=6)
    assert world.books.open_episode(_ts(-5))
    assert world.books.end_episode(_ts(-5), _ts(ended_at))
    world.now = T0 + timedelta(minutes=1, seconds=5)
    after = world.tick(1, failing=1)
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=after)
    episode = world.books.get_episode()
    assert episode is not None and episode.open and episode.since == _ts(0)
    assert "t0" in episode.held


def test_an_episode_ended_at_a_later_tick_holds_no_more(world: World) -> None:
    # the housekeeping already ended the episode (its held alerts are going out): a late
    # check of the tick before must not be held into an episode that is over
    world.tick(0, failing=6)
    assert world.books.open_episode(_ts(0))
    assert world.books.end_episode(_ts(0), _ts(2))
    after = world.tick(1, failing=1)
    assert not world.gate.hold_down(world.targets["t0"], scheduled_at=after)
    episode = world.books.get_episode()
    assert episode is not None and not episode.open and episode.held == {}


def test_a_released_target_is_not_held_again(world: World) -> None:
    at = world.tick(0, failing=6)
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=at)
    assert world.books.release_in_episode(at, "t0", _ts(15))
    assert not world.gate.hold_down(world.targets["t0"], scheduled_at=at)
    assert world.gate.hold_down(world.targets["t1"], scheduled_at=at)


def test_a_check_lets_its_alert_through_only_after_the_maximum_hold_and_a_grace(
    world: World,
) -> None:
    at = world.tick(0, failing=6)
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=at)  # held at 0:05
    world.tick(16, failing=6)  # the episode goes on
    hold_at = [(17, 5, False), (17, 4, True), (15, 5, True)]  # 17:05 = 15 min + 2 grace
    for minute, second, held in hold_at:
        world.now = T0 + timedelta(minutes=minute, seconds=second)
        gate_says = world.gate.hold_down(world.targets["t0"], scheduled_at=_ts(17))
        assert gate_says is held, (minute, second)


def test_a_check_whose_episode_was_replaced_meanwhile_is_held(world: World) -> None:
    # the episode changes between the gate's read and its hold (another tick's check
    # began a new one): the counters decide, and they say hold
    at = world.tick(0, failing=6)
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=at)
    world.books.racer = lambda _tid: assert_true(world.books.open_episode(_ts(0.5)))
    assert world.gate.hold_down(world.targets["t1"], scheduled_at=at)


# ---- the dispatcher's housekeeping ------------------------------------------------------


def _held_episode(world: World, held: tuple[str, ...] = ("t0", "t1", "t2")) -> str:
    """An episode begun by the checks of tick 0, holding ``held`` since 0:05."""
    at = world.tick(0, failing=7)
    for tid in held:
        assert world.gate.hold_down(world.targets[tid], scheduled_at=at)
        world.down(tid)
    return at


def test_the_first_clean_tick_after_an_episode_ends_it_and_held_alerts_follow(
    world: World,
) -> None:
    since = _held_episode(world)
    world.states.save_state(
        TargetState("t1", status=TargetStatus.UP, version=2, last_change_at=_ts(1))
    )
    del world.targets["t2"]  # removed during the episode
    world.tick(1, failing=0)
    world.settle(2)
    end = world.sent(AlertEvent.DEGRADED, "ended")
    assert len(end) == 1 and end[0].since == since
    held = {h["target_id"]: h for h in end[0].details["held"]}
    assert held["t0"]["still_down"] is True and held["t0"]["name"] == "t0.example.com"
    assert held["t1"]["still_down"] is False
    assert held["t2"] == {
        "target_id": "t2",
        "name": "t2",
        "held_since": HELD_AT,
        "still_down": False,
        "announced": False,
    }
    downs = world.sent(AlertEvent.DOWN)
    assert [a.target_id for a in downs] == ["t0"]
    assert downs[0].details["held"] is True and downs[0].details["episode_since"] == since
    episode = world.books.get_episode()
    assert episode is not None and episode.ended_at == _ts(2)
    world.settle(3)  # nothing twice
    assert len(world.sent(AlertEvent.DEGRADED, "ended")) == 1 and len(downs) == 1


def test_the_episode_is_not_judged_over_by_its_own_first_tick(world: World) -> None:
    _held_episode(world)
    # the tick that began the episode, counted clean on a second look (a stricter rule)
    world.settle(1, min_count=8)
    assert world.sent(AlertEvent.DEGRADED, "ended") == []
    assert world.books.get_episode().open  # type: ignore[union-attr]


def test_a_tick_without_probes_does_not_end_an_episode(world: World) -> None:
    _held_episode(world)
    world.settle(2)  # tick 1: nothing dispatched (targets checked every few minutes)
    assert world.sent(AlertEvent.DEGRADED, "ended") == []
    world.tick(2, failing=0, dispatched=1)
    world.settle(3)
    assert len(world.sent(AlertEvent.DEGRADED, "ended")) == 1


def test_a_degraded_tick_does_not_end_an_episode_by_its_own_rules(world: World) -> None:
    _held_episode(world)
    world.tick(1, failing=3)
    world.settle(2, share=0.25, min_count=3)
    assert world.sent(AlertEvent.DEGRADED, "ended") == []
    world.settle(2)
    assert len(world.sent(AlertEvent.DEGRADED, "ended")) == 1


def test_an_episode_another_dispatcher_ended_is_announced_once(world: World) -> None:
    since = _held_episode(world)
    world.tick(1, failing=0)
    assert world.books.end_episode(since, _ts(2))  # the other dispatcher won
    world.settle(2)
    assert world.sent(AlertEvent.DEGRADED, "ended") == []


def test_held_alerts_past_the_maximum_hold_go_out_while_the_episode_lasts(
    world: World,
) -> None:
    since = _held_episode(world, held=("t0", "t2", "t3"))
    # t3 already went out; t2 is gone; t1 is held from 3:05 (the tick before, degraded)
    assert world.books.release_in_episode(since, "t3", _ts(10))
    del world.targets["t2"]
    world.tick(2, failing=7)
    world.now = T0 + timedelta(minutes=3, seconds=5)
    assert world.gate.hold_down(world.targets["t1"], scheduled_at=world.tick(3, failing=0))
    world.down("t1")
    # the housekeeping runs each minute; the ticks it judges had no probes
    world.settle(15 + 4 / 60)  # 15:04: not yet fifteen minutes
    assert world.sent(AlertEvent.DOWN) == []
    world.settle(15 + 5 / 60)  # 15:05
    downs = world.sent(AlertEvent.DOWN)
    assert [a.target_id for a in downs] == ["t0"]
    assert downs[0].details["held_since"] == HELD_AT
    assert downs[0].details["episode_since"] == since
    assert world.books.get_episode().released == {"t0", "t3"}  # type: ignore[union-attr]
    world.settle(16)
    assert [a.target_id for a in world.sent(AlertEvent.DOWN)] == ["t0"]
    world.settle(18 + 5 / 60)
    assert [a.target_id for a in world.sent(AlertEvent.DOWN)] == ["t0", "t1"]
    assert world.sent(AlertEvent.DEGRADED, "ended") == []


def test_held_alerts_due_together_go_out_in_target_order(world: World) -> None:
    _held_episode(world, held=("t2", "t0", "t1"))
    world.settle(16)
    assert [a.target_id for a in world.sent(AlertEvent.DOWN)] == ["t0", "t1", "t2"]


def test_a_held_alert_another_dispatcher_released_is_not_sent_again(world: World) -> None:
    since = _held_episode(world, held=("t0", "t1"))
    # the other dispatcher claimed t0 after this one read the episode
    books = world.books
    books.racer = lambda tid: assert_true(books.release_in_episode(since, tid, _ts(16)))
    world.settle(16)
    assert [a.target_id for a in world.sent(AlertEvent.DOWN)] == ["t1"]


def test_the_housekeeping_begins_an_episode_no_check_began(world: World) -> None:
    world.tick(0, failing=6)
    world.settle(1)
    (alert,) = world.sink.alerts
    assert (alert.status, alert.since, alert.created_at) == ("degraded", _ts(0), _ts(1))
    assert (alert.details["failed"], alert.details["total"], alert.details["sample"]) == (
        6,
        10,
        [],
    )
    episode = world.books.get_episode()
    assert episode is not None and episode.open and episode.since == _ts(0)
    assert world.books.get_tick_counts(_ts(0)).degraded_sent
    world.settle(1)  # a second dispatcher, or the same tick again
    assert len(world.sink.alerts) == 1


def test_the_housekeeping_judges_by_its_own_share_and_floor(world: World) -> None:
    world.tick(0, failing=3)
    world.settle(1)
    assert world.sink.alerts == []
    world.settle(1, share=0.25, min_count=3)
    assert [a.status for a in world.sink.alerts] == ["degraded"]


def test_the_housekeeping_sends_no_second_start_for_a_tick_a_check_announced(
    world: World,
) -> None:
    _held_episode(world)
    assert world.books.end_episode(_ts(0), _ts(0))  # ended meanwhile (by another run)
    world.settle(1)
    assert len(world.sent(AlertEvent.DEGRADED, "degraded")) == 1


def test_the_housekeeping_begins_no_episode_for_a_tick_an_ended_one_outlived(
    world: World,
) -> None:
    # an episode ended at a later tick already covered the judged one
    world.tick(0, failing=6)
    assert world.books.open_episode(_ts(-3))
    assert world.books.end_episode(_ts(-3), _ts(0.5))
    world.settle(1)
    assert world.sink.alerts == []
    episode = world.books.get_episode()
    assert episode is not None and episode.since == _ts(-3)


def test_the_housekeeping_begins_an_episode_after_one_that_ended_at_the_judged_tick(
    world: World,
) -> None:
    world.tick(0, failing=6)
    assert world.books.open_episode(_ts(-3))
    assert world.books.end_episode(_ts(-3), _ts(0))
    world.settle(1)
    assert [a.status for a in world.sink.alerts] == ["degraded"]
    assert world.books.get_episode().since == _ts(0)  # type: ignore[union-attr]


def test_a_start_the_sink_refused_is_tried_again_by_the_next_housekeeping(
    world: World,
) -> None:
    world.tick(0, failing=6)
    world.sink.fail_next = 1
    world.settle(1)
    assert world.sink.alerts == [] and not world.books.get_tick_counts(_ts(0)).degraded_sent
    # the episode is open now: the next run of the same tick sends no start, but the
    # next failing check of the tick does
    assert world.gate.hold_down(world.targets["t0"], scheduled_at=_ts(0))
    assert [a.status for a in world.sink.alerts] == ["degraded"]
