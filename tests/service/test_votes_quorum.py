"""The target's quorum and alert_on_partial, checked from three locations against a
real SMTP server on loopback (a location's fault: its resolver sends the host to
127.0.0.2). A quorum of 1 pages like today's single-location check; a partial failure
is a warning only when the target asks for it and the failing location is not already
reported as failing most of its targets; a quorum is capped at the locations that
voted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smtpwatch.core.kinds import Status, WarningKind
from smtpwatch.service.location_health import LocationHealth
from smtpwatch.testing.servers import SmtpServer
from votes_world import AP, EU, HOME, World, slot, target


@pytest.fixture(scope="module")
def server() -> Iterator[SmtpServer]:
    with SmtpServer("127.0.0.1").start() as srv:
        yield srv


def test_a_quorum_of_one_behaves_as_a_single_location_check(server: SmtpServer) -> None:
    world, t = World(), target(server, quorum=1)
    world.check(t, slot(0))
    world.break_net(AP)
    world.check(t, slot(1))
    assert world.events == ["down"]
    down = world.sink.alerts[0]
    assert down.result is not None and down.result["location"] == AP
    world.break_net()
    world.check(t, slot(2))
    assert world.events == ["down", "recovered"]


def test_a_partial_failure_with_alert_on_partial_is_one_warning(server: SmtpServer) -> None:
    world, t = World(), target(server, alert_on_partial=True)
    world.break_net(AP)
    world.check(t, slot(0))
    world.check(t, slot(1))
    assert world.events == ["warning"]
    stored = list(world.results.iter_results("mx1"))[-1]
    assert stored.status is Status.WARNING
    assert [w.kind for w in stored.warnings] == [WarningKind.PARTIAL_FAILURE]
    assert "1/3 locations failing: ap-southeast-2 connect_refused" in stored.warnings[0].message


def test_a_location_reported_failing_makes_no_partial_warning(server: SmtpServer) -> None:
    world, t = World(), target(server, alert_on_partial=True)
    world.health.save_location(LocationHealth(AP, "failing", None, slot(0), 1))
    world.break_net(AP)
    world.check(t, slot(1))
    assert world.events == []
    stored = list(world.results.iter_results("mx1"))[-1]
    assert stored.status is Status.OK and stored.warnings == ()
    assert [v.status for v in stored.locations] == ["ok", "ok", "critical"]
    # Two locations failing is the target's problem again: DOWN, whatever AP's health.
    world.break_net(EU, AP)
    world.check(t, slot(2))
    assert world.events == ["down"]


def test_the_quorum_is_capped_at_the_locations_that_voted(server: SmtpServer) -> None:
    world, t = World(), target(server, quorum=3)
    world.check(t, slot(0))
    world.break_net(HOME, EU)
    out = world.check(t, slot(1), silent=[AP])
    assert [o.decision for o in out] == [None, None]
    world.now = world.now.replace(minute=1, second=45)
    decided = world.sweep(t, world.opened[-1])
    assert decided is not None and decided.result is not None
    assert decided.result.status is Status.CRITICAL  # 2 failed of the 2 that voted
    assert world.target_events() == ["down"]
