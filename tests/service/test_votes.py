"""A target checked from three locations (``service.vote``), with in-memory stores and a
real SMTP server on loopback: a location's network fault is its resolver sending the
host to 127.0.0.2 (connection refused there only). What a user relies on: which
alerts go out (DOWN only on a quorum, naming the failing locations), what the history
keeps (one verdict per slot with every location's vote), and exactly one decision per
slot whoever delivers or races."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smtpwatch.core.kinds import ErrorKind, Phase, Status
from smtpwatch.core.locations import failing_summary
from smtpwatch.core.state import TargetStatus
from smtpwatch.testing.servers import SmtpServer
from votes_world import AP, EU, HOME, LOCATIONS, World, decisions, slot, target


@pytest.fixture(scope="module")
def server() -> Iterator[SmtpServer]:
    with SmtpServer("127.0.0.1").start() as srv:
        yield srv


def test_all_pass_the_last_vote_decides_and_history_keeps_every_location(
    server: SmtpServer,
) -> None:
    world, t = World(), target(server)
    out = world.check(t, slot(0))
    assert [o.decision is not None for o in out] == [False, False, True]
    assert [o.voted for o in out] == [(HOME,), (HOME, EU), LOCATIONS]
    (stored,) = list(world.results.iter_results("mx1"))
    assert stored.status is Status.OK
    assert [(v.location, v.status) for v in stored.locations] == [(n, "ok") for n in LOCATIONS]
    assert world.events == []
    state = world.states.get_state("mx1")
    assert state is not None and state.status is TargetStatus.UP
    assert state.last_scheduled_at == slot(0)


def test_one_of_three_failing_is_no_alert_and_history_shows_1_of_3(server: SmtpServer) -> None:
    world, t = World(), target(server)
    world.break_net(EU)
    out = world.check(t, slot(0))
    eu_vote = out[1].vote
    assert eu_vote is not None and eu_vote.error is not None
    assert eu_vote.error.kind is ErrorKind.CONNECT_REFUSED and eu_vote.location == EU
    (stored,) = list(world.results.iter_results("mx1"))
    assert stored.status is Status.OK and failing_summary(stored) == "1/3 locations failing"
    failed = [(v.location, v.phase, v.error) for v in stored.locations if v.failed]
    assert failed == [(EU, Phase.CONNECT.value, ErrorKind.CONNECT_REFUSED.value)]
    assert world.events == []


def test_with_sampled_history_a_verdict_with_a_failing_location_is_still_kept(
    server: SmtpServer,
) -> None:
    # AWS keeps one passing result an hour; a partial failure is not a passing result
    # that changes nothing: the history shows every one.
    world, t = World(passing_result_every_s=3600), target(server)

    def at(minute: int, second: int = 5) -> None:
        world.now = world.now.replace(minute=minute, second=second)

    for minute, broken in ((10, ()), (15, ()), (20, (EU,))):
        at(minute)
        world.break_net(*broken)
        world.check(t, slot(minute))
    world.break_net()
    at(25)
    world.check(t, slot(25), silent=[AP])
    at(25, 45)
    world.sweep(t, world.opened[-1])
    history = [[v.status for v in r.locations] for r in world.results.iter_results("mx1")]
    # 10: the first (the state changed); 15: all pass, nothing changed: sampled out.
    assert history == [["ok", "ok", "ok"], ["ok", "critical", "ok"], ["ok", "ok", "silent"]]


def test_two_of_three_is_one_down_naming_both_then_one_recovered(server: SmtpServer) -> None:
    world, t = World(), target(server)
    world.check(t, slot(0))
    world.break_net(EU, AP)
    world.check(t, slot(1))
    world.check(t, slot(2))  # still down: no second alert
    world.break_net()
    world.check(t, slot(3))
    assert world.events == ["down", "recovered"]
    down = world.sink.alerts[0]
    assert down.result is not None
    assert down.result["location"] == EU  # the first failing vote, in the slot's order
    by_location = {v["location"]: v for v in down.result["locations"]}
    assert [by_location[n]["status"] for n in LOCATIONS] == ["ok", "critical", "critical"]
    assert by_location[AP]["error"] == "connect_refused"
    assert by_location[AP]["phase"] == "connect"


def test_every_event_delivered_twice_is_one_decision_and_one_alert(server: SmtpServer) -> None:
    world, t = World(), target(server)
    world.check(t, slot(0))
    world.break_net(HOME, EU)
    opened = world.open(t, slot(1))
    out = [world.vote(t, opened, n) for n in LOCATIONS for _ in range(2)]
    assert [o.skipped for o in out] == [
        None,
        "redelivered",
        None,
        "redelivered",
        None,
        "redelivered",
    ]
    assert len(decisions(out)) == 1
    # The slot decided, a redelivery finds the state has taken it: no probe at all.
    again = world.vote(t, opened, HOME)
    assert again.skipped == "redelivered" and again.vote is None
    assert world.events == ["down"]
    assert len(list(world.results.iter_results("mx1"))) == 2  # one verdict per slot


def test_a_silent_location_is_no_vote_the_sweep_decides_and_one_monitor_alert(
    server: SmtpServer,
) -> None:
    world, t = World(), target(server)
    out = world.check(t, slot(0), silent=[AP])
    assert decisions(out) == []  # the deadline has not passed: wait for the silent one
    world.now = world.now.replace(second=45)
    decided = world.sweep(t, world.opened[-1])
    assert decided is not None and decided.result is not None
    assert decided.result.status is Status.OK
    assert [v.status for v in decided.result.locations] == ["ok", "ok", "silent"]
    assert world.sweep(t, world.opened[-1]) is None  # claimed: nobody decides again
    assert world.events == ["location_down"]
    down = world.sink.alerts[0]
    assert down.status == "silent" and down.target["location"] == AP
    # Silent again the next slot: no second alert (the watch and the item agree).
    world.now = world.now.replace(minute=1, second=5)
    world.check(t, slot(1), silent=[AP])
    world.now = world.now.replace(second=45)
    world.sweep(t, world.opened[-1])
    assert world.events == ["location_down"]
    # It reports again: one location_up, sent by its own vote.
    world.now = world.now.replace(minute=2, second=5)
    out = world.check(t, slot(2))
    assert world.events == ["location_down", "location_up"]
    assert [a.event.value for a in out[2].alerts] == ["location_up"]
    assert world.sink.alerts[1].details.get("was") == "silent"


def test_votes_past_the_deadline_decide_nothing_alone_the_other_votes_still_count(
    server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A slot is dispatched at the tick after it, so a vote can come after a deadline
    # counted from the slot: a vote must not then decide with itself alone.
    world, t = World(), target(server)
    opened = world.open(t, slot(0))
    world.now = world.now.replace(second=50)  # past the deadline
    out = [world.vote(t, opened, n) for n in LOCATIONS]
    assert [o.decision is not None for o in out] == [False, False, True]
    decided = out[2].decision
    assert decided is not None and decided.result is not None
    assert [v.status for v in decided.result.locations] == ["ok", "ok", "ok"]
    assert world.events == []  # nobody silent
    assert "late vote" in caplog.text
    assert world.sweep(t, opened) is None


def test_the_sweep_decides_an_incomplete_slot_with_the_votes_there(
    server: SmtpServer,
) -> None:
    world, t = World(), target(server)
    opened = world.open(t, slot(0))
    world.vote(t, opened, HOME)
    world.now = world.now.replace(second=50)
    assert world.vote(t, opened, EU).decision is None
    decided = world.sweep(t, opened)
    assert decided is not None and decided.result is not None
    assert [v.status for v in decided.result.locations] == ["ok", "ok", "silent"]


def test_verdicts_apply_in_slot_order_a_late_one_never_overwrites(server: SmtpServer) -> None:
    world, t = World(), target(server)
    older = world.open(t, slot(0))
    world.vote(t, older, HOME)
    world.break_net(HOME, EU, AP)
    newer_out = world.check(t, slot(1))  # decided first: down
    world.break_net()
    world.now = world.now.replace(minute=1, second=50)
    late = world.sweep(t, older)
    assert late is not None and late.skipped == "stale"
    state = world.states.get_state("mx1")
    assert state is not None and state.status is TargetStatus.DOWN
    assert state.last_scheduled_at == slot(1)
    assert len(decisions(newer_out)) == 1 and world.events == ["down"]


def test_a_location_recheck_follows_the_verdict_state(server: SmtpServer) -> None:
    world, t = World(), target(server, recheck_delay_s=5)
    world.break_net(EU)
    out = world.check(t, slot(0))
    # EU's failure could make the verdict cross the threshold (1): it re-checked.
    assert [o.rechecked for o in out] == [False, True, False]
    assert out[1].first_result is not None and out[1].first_result.location == EU


def test_a_vote_for_a_slot_already_taken_does_not_probe(server: SmtpServer) -> None:
    world, t = World(), target(server)
    world.check(t, slot(1))
    stale = world.open(t, slot(0))
    lookups = world.nets[HOME].lookups
    out = world.vote(t, stale, HOME)
    assert out.skipped == "stale" and out.vote is None
    assert world.nets[HOME].lookups == lookups


def test_a_disabled_targets_vote_is_skipped_before_probing(server: SmtpServer) -> None:
    world, t = World(), target(server, enabled=False)
    out = world.check(t, slot(0))
    assert [o.skipped for o in out] == ["disabled"] * 3
    assert all(o.vote is None for o in out)
    assert sum(net.lookups for net in world.nets.values()) == 0
    assert list(world.results.iter_results("mx1")) == [] and world.events == []


def test_a_vote_from_a_location_not_expected_is_dropped(
    server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    world, t = World(), target(server)
    opened = world.open(t, slot(0), names=[HOME, EU])
    out = world.vote(t, opened, AP)
    assert out.skipped == "not expected" and out.vote is None
    assert "not expected" in caplog.text
