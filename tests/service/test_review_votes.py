"""The vote path (``service.vote``, ``service.location_health``, the dispatcher's sweep)
with in-memory stores and a real SMTP server on loopback; a location's fault is its
resolver sending the host to 127.0.0.2. What an operator relies on: a location reported
as failing costs no alert per target; a silent location's alert dates the silence from
the slot it missed; unusable open-slot items are one log line a tick."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smtpwatch.service.location_health import LocationHealth
from smtpwatch.testing.servers import SmtpServer
from votes_world import AP, EU, HOME, World, slot, target


@pytest.fixture(scope="module")
def server() -> Iterator[SmtpServer]:
    with SmtpServer("127.0.0.1").start() as srv:
        yield srv


def test_a_location_reported_failing_later_sends_no_alert_per_target(server: SmtpServer) -> None:
    # GIVEN a target that asks for partial failures, warned once that AP fails it
    world, t = World(), target(server, alert_on_partial=True)
    world.break_net(AP)
    world.check(t, slot(0))
    assert world.target_events() == ["warning"]
    # WHEN AP is then reported as failing most of its targets (its network), and
    # still fails this one
    world.health.save_location(LocationHealth(AP, "failing", None, slot(0), 1))
    world.check(t, slot(1))
    world.check(t, slot(2))
    # THEN nothing more is said about this target: AP's trouble is one location alert,
    # not one "recovered" per target that AP fails
    assert world.target_events() == ["warning"]


def test_unusable_open_slot_items_are_one_log_line_a_tick_not_one_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Items under #slot# the dispatcher cannot use stay until their TTL (or for ever,
    # without one): the sweep reads them every tick, and says so once per tick.
    import logging
    from datetime import UTC, datetime

    from smtpwatch.service.dispatch_locations import sweep
    from smtpwatch.service.dispatch_plan import DispatchReport
    from smtpwatch.service.dispatch_ports import DeployedLocations
    from smtpwatch.service.memory_votes import MemoryVoteStore

    junk = [{"target_id": f"#slot#junk{i}", "for_target": 1} for i in range(500)]
    deployed = DeployedLocations(("us-east-1", "eu-west-1"), {}, slots=MemoryVoteStore())
    log = logging.getLogger("smtpwatch.test_sweep")
    with caplog.at_level(logging.WARNING, logger="smtpwatch.test_sweep"):
        sweep(
            junk,
            datetime(2026, 12, 8, 2, 0, tzinfo=UTC),
            deployed=deployed,
            report=DispatchReport(),
            correlation_id=None,
            workers=1,
            log=log,
        )
    lines = [r for r in caplog.records if r.name == "smtpwatch.test_sweep"]
    assert len(lines) == 1
    assert "500 unusable open-slot items" in lines[0].getMessage()


def test_a_silent_locations_alert_says_the_slot_it_went_silent_at_not_when_it_was_noticed(
    server: SmtpServer,
) -> None:
    # GIVEN AP silent from slot(0) on, the slot decided by the sweep at its deadline
    world, t = World(), target(server)
    world.check(t, slot(0), silent=[AP])
    world.now = world.now.replace(minute=2, second=30)  # the sweep's tick, minutes later
    world.sweep(t, world.opened[-1])
    # THEN the alert dates the silence from the slot AP did not vote for
    (down,) = [a for a in world.sink.alerts if a.event.value == "location_down"]
    assert down.since == slot(0)
    # ... and its location_up, when AP votes again, says since when it was silent
    world.now = world.now.replace(minute=3, second=5)
    world.check(t, slot(3))
    up = world.sink.alerts[-1]
    assert up.event.value == "location_up" and up.since == slot(0)


def test_a_location_alert_the_topic_refused_is_not_replaced_by_the_next_flip(
    server: SmtpServer,
) -> None:
    # GIVEN the alert topic down while AP goes silent (its location_down stays pending)
    world, t = World(), target(server)
    world.sink.down = True
    world.check(t, slot(0), silent=[AP])
    world.now = world.now.replace(second=45)
    world.sweep(t, world.opened[-1])
    # WHEN AP votes again while the topic is still down, then the topic is back and the
    # dispatcher's next ticks and AP's next votes run
    world.now = world.now.replace(minute=1, second=5)
    world.check(t, slot(1))
    world.sink.down = False
    for minute in (2, 3, 4):
        world.now = world.now.replace(minute=minute, second=5)
        world.watches["sweep"].settle(slot(minute - 1), world.locations)
        world.check(t, slot(minute))
    # THEN operators got both, in order: AP silent, then AP reporting again
    assert world.events == ["location_down", "location_up"]


def test_while_the_topic_is_down_a_locations_votes_retry_its_alert_once_a_minute(
    server: SmtpServer,
) -> None:
    # GIVEN AP's location_down pending (the topic refused it)
    world, t = World(), target(server)
    world.sink.down = True
    world.check(t, slot(0), silent=[AP])
    world.now = world.now.replace(second=45)
    world.sweep(t, world.opened[-1])
    tried = world.sink.attempts
    # WHEN AP votes for five targets of the next slot, the topic still down
    world.now = world.now.replace(minute=1, second=5)
    for n in range(5):
        world.check(target(server, target_id=f"mx{n + 2}"), slot(1))
    # THEN AP's process tried the pending alert once, not once per vote (each try of a
    # topic that is down can take seconds of the vote's time)
    location_tries = world.sink.attempts - tried
    assert location_tries == 1


def test_a_slot_completed_by_a_slow_vote_after_a_newer_passing_verdict_sends_no_down(
    server: SmtpServer,
) -> None:
    # GIVEN slot 0 passed; slot 1: HOME and EU fail at once, AP's probe is slow (it runs
    # its timeouts); slot 2: every location passes and decides at once (nothing changes:
    # no state write)
    world, t = World(), target(server)
    world.check(t, slot(0))
    world.now = world.now.replace(minute=1, second=5)
    world.break_net(HOME, EU)
    one = world.open(t, slot(1))
    world.vote(t, one, HOME)
    world.vote(t, one, EU)
    world.break_net()
    world.now = world.now.replace(minute=2, second=5)
    world.check(t, slot(2))
    # WHEN AP's vote for slot 1 comes at last and completes it (the vote decides it)
    world.now = world.now.replace(minute=2, second=20)
    late = world.vote(t, one, AP)
    # THEN slot 1's 2/3 verdict is history: no DOWN for a target that has passed since
    assert late.decision is not None
    assert world.target_events() == []
