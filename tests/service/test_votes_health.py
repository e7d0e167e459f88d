"""A location's health (``service.location_health``) as an operator sees it: a location
failing most of its targets while the others pass is reported once as a location
problem and once when it ends; a broken health store never costs a verdict; a vote
reads the health item at most once a minute per process. Real SMTP server on loopback,
a per-location network fault (its resolver sends the host to 127.0.0.2)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest

from smtpwatch.core.kinds import Status
from smtpwatch.core.locations import verdict
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import AlertEvent
from smtpwatch.core.target import Target
from smtpwatch.service.location_health import LocationHealth, LocationWatch
from smtpwatch.service.memory import MemorySink
from smtpwatch.service.memory_votes import MemoryLocationHealthStore
from smtpwatch.testing.servers import SmtpServer
from votes_world import AP, EU, HOME, LOCATIONS, T0, World, slot

BUCKET = slot(0)  # the tick of slot(0)


@pytest.fixture(scope="module")
def server() -> Iterator[SmtpServer]:
    with SmtpServer("127.0.0.1").start() as srv:
        yield srv


def targets(server: SmtpServer, n: int) -> list[Target]:
    return [
        Target(
            target_id=f"mx{i}",
            host="127.0.0.1",
            port=server.port,
            encryption="none",
            timeout_s=5,
            recheck_delay_s=0,
        )
        for i in range(n)
    ]


def test_a_location_failing_most_targets_is_one_alert_then_one_when_it_ends(
    server: SmtpServer,
) -> None:
    world = World()
    sweep = world.watches["sweep"]
    fleet = targets(server, 6)
    world.break_net(EU)
    for t in fleet:
        world.check(t, slot(0))
    # The dispatcher counts what it sent each location; failing votes were counted by
    # the deciders.
    sweep.record_dispatched(BUCKET, dict.fromkeys(LOCATIONS, len(fleet)))
    assert world.health.location_counts(BUCKET).failed == {EU: 6}
    assert world.target_events() == []  # 1 of 3 locations: no target alert
    alerts = sweep.settle(BUCKET, LOCATIONS)
    assert [(a.event, a.status, a.details["location"]) for a in alerts] == [
        (AlertEvent.LOCATION_DOWN, "failing", EU)
    ]
    assert alerts[0].details["failed"] == 6 and alerts[0].details["total"] == 6
    assert sweep.settle(BUCKET, LOCATIONS) == []  # the same tick again: no second alert
    # The next tick EU passes again: one location_up.
    world.break_net()
    world.now += timedelta(minutes=1)
    for t in fleet:
        world.check(t, slot(1))
    sweep.record_dispatched(slot(1), dict.fromkeys(LOCATIONS, len(fleet)))
    ups = sweep.settle(slot(1), LOCATIONS)
    assert [(a.event, a.details.get("was")) for a in ups] == [(AlertEvent.LOCATION_UP, "failing")]
    assert world.events == ["location_down", "location_up"]


@pytest.mark.parametrize(
    ("failed", "expected"),
    [
        ({EU: 6, AP: 0, HOME: 0}, "failing"),  # one location, most targets
        ({EU: 6, AP: 6, HOME: 0}, "ok"),  # two of them: the targets, not a location
        ({EU: 4, AP: 0, HOME: 0}, "ok"),  # below the floor of failing targets
        ({EU: 20, AP: 0, HOME: 0}, "failing"),  # a hostile count is capped at the total
    ],
)
def test_only_one_location_failing_alone_above_the_share_and_floor_is_failing(
    failed: dict[str, int], expected: str
) -> None:
    store = MemoryLocationHealthStore()
    watch = LocationWatch(store, now=lambda: T0)
    store.add_location_counts(BUCKET, dispatched=dict.fromkeys(LOCATIONS, 8), failed=failed)
    watch.settle(BUCKET, LOCATIONS)
    health = store.get_location(EU)
    assert (health.status if health else "ok") == expected


class BrokenHealth(MemoryLocationHealthStore):
    def get_location(self, location: str) -> LocationHealth | None:
        raise ConnectionError("state table unreachable")


def test_a_broken_health_store_costs_no_verdict(
    server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(health=BrokenHealth())
    (t,) = targets(server, 1)
    world.break_net(EU, AP)
    with caplog.at_level(logging.ERROR, logger="smtpwatch.vote"):
        out = world.check(t, slot(0), silent=[])
    assert world.events == ["down"]
    assert out[-1].decision is not None and out[-1].alerts == ()
    assert "location health failed" in caplog.text


class CountingHealth(MemoryLocationHealthStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_location(self, location: str) -> LocationHealth | None:
        self.reads += 1
        return super().get_location(location)


def test_a_process_reads_its_location_health_at_most_once_a_minute_of_slots() -> None:
    store = CountingHealth()
    watch = LocationWatch(store, now=lambda: T0)
    for second in range(0, 60, 5):  # twelve votes of slots within one minute
        assert watch.vote_seen(EU, format_ts(T0 + timedelta(seconds=second))) is None
    assert store.reads == 1
    watch.vote_seen(EU, format_ts(T0 + timedelta(seconds=61)))
    assert store.reads == 2


def test_failures_decided_minutes_after_their_slot_count_in_the_tick_they_are_decided(
    server: SmtpServer,
) -> None:
    # EU's network drops packets: its votes come at the end of its timeouts, minutes
    # after their slot. The tick judged then must see them.
    world = World()
    sweep = world.watches["sweep"]
    fleet = targets(server, 6)
    opened = [world.open(t, slot(0)) for t in fleet]
    for t, o in zip(fleet, opened, strict=True):
        world.vote(t, o, HOME)
        world.vote(t, o, AP)
    world.break_net(EU)
    world.now = T0 + timedelta(minutes=3)  # decided in the tick ending at minute 3
    for t, o in zip(fleet, opened, strict=True):
        assert world.vote(t, o, EU).decision is not None
    sweep.record_dispatched(slot(3), dict.fromkeys(LOCATIONS, len(fleet)))
    alerts = sweep.settle(slot(3), LOCATIONS)
    assert [(a.status, a.details["location"]) for a in alerts] == [("failing", EU)]


def test_a_location_back_is_announced_by_its_first_vote_a_minute_of_slots_later() -> None:
    # The watch's memory ages with the slots it sees, not with the process's clock: a
    # container busy for seconds can see slots minutes apart (and a test's clock too).
    store = MemoryLocationHealthStore()
    sink = MemorySink()
    probe_watch = LocationWatch(store, [sink], now=lambda: T0)
    sweep_watch = LocationWatch(store, [sink], now=lambda: T0)
    assert probe_watch.vote_seen(EU, slot(0)) is None  # read: ok
    votes = {n: ProbeResult("mx1", slot(1), Status.OK, location=n) for n in (HOME, AP)}
    decided = verdict("mx1", slot(1), LOCATIONS, votes, quorum=0, alert_on_partial=False)
    assert [a.status for a in sweep_watch.slot_decided(decided, slot(1))] == ["silent"]
    back = probe_watch.vote_seen(EU, slot(2))
    assert back is not None and back.event is AlertEvent.LOCATION_UP
    assert [a.event.value for a in sink.alerts] == ["location_down", "location_up"]


def test_a_location_alert_that_failed_to_go_out_is_sent_by_the_next_tick_once() -> None:
    store = MemoryLocationHealthStore()
    sink = MemorySink()
    watch = LocationWatch(store, [sink], now=lambda: T0)
    votes = {n: ProbeResult("mx1", slot(0), Status.OK, location=n) for n in (HOME, EU)}
    decided = verdict("mx1", slot(0), LOCATIONS, votes, quorum=0, alert_on_partial=False)
    sink.fail_next = 1  # the topic refuses the publish once
    watch.slot_decided(decided, slot(0))
    assert sink.alerts == []
    health = store.get_location(AP)
    assert health is not None and health.status == "silent"  # flipped: no second flip
    watch.settle(slot(1), LOCATIONS)  # the dispatcher's next tick
    assert [(a.event.value, a.status) for a in sink.alerts] == [("location_down", "silent")]
    watch.settle(slot(2), LOCATIONS)
    assert len(sink.alerts) == 1
