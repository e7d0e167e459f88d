"""Verdicts apply in slot order on DynamoDB (moto, tables from template.yaml), with a
real SMTP server on loopback: a slot the sweep decides late (a silent location) after
a newer slot of the same target was decided passing — a verdict that wrote no state —
is kept in history only: no DOWN after the target already passed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from smtpwatch.adapters.dynamodb import (
    DynamoLocationHealthStore,
    DynamoResultStore,
    DynamoStateStore,
    DynamoVoteStore,
)
from smtpwatch.core.kinds import Status
from smtpwatch.core.locations import OpenSlot
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import TargetStatus
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import SmtpServer
from votes_world import AP, EU, HOME, World, slot


@pytest.fixture(scope="module")
def server() -> Iterator[SmtpServer]:
    with SmtpServer("127.0.0.1").start() as srv:
        yield srv


@pytest.fixture
def world(ddb: Any, tables: dict[str, str]) -> World:
    state, results = tables["StateTable"], tables["ResultsTable"]
    return World(
        states=DynamoStateStore(ddb, state),
        results=DynamoResultStore(ddb, results),
        votes=DynamoVoteStore(ddb, state, results),
        health=DynamoLocationHealthStore(ddb, state),
    )


def late_failing_slot(world: World, server: SmtpServer, *, newer_decided: bool) -> Target:
    """Slot 0 passes; slot 1: HOME and EU fail, AP never votes; slot 2: every location
    passes (all of them, or only HOME: still open). Then the sweep of slot 1."""
    t = Target(target_id="mx1", host="127.0.0.1", port=server.port, encryption="none", timeout_s=5)
    world.check(t, slot(0))
    world.now = world.now.replace(minute=1, second=5)
    world.break_net(HOME, EU)
    world.check(t, slot(1), silent=[AP])
    world.break_net()
    world.now = world.now.replace(minute=2, second=5)
    world.check(t, slot(2), silent=[] if newer_decided else [EU, AP])
    world.now = world.now.replace(second=50)
    return t


def test_a_slot_swept_after_a_newer_passing_verdict_is_history_only(
    world: World, server: SmtpServer
) -> None:
    t = late_failing_slot(world, server, newer_decided=True)
    late = world.sweep(t, world.opened[1])
    assert late is not None and late.skipped == "overtaken"
    assert world.events == []
    state = world.states.get_state("mx1")
    assert state is not None and state.status is TargetStatus.UP
    assert state.last_scheduled_at == slot(0)
    (kept,) = [r for r in world.results.iter_results("mx1") if r.status is Status.CRITICAL]
    assert [v.status for v in kept.locations] == ["critical", "critical", "silent"]


def test_a_slot_swept_while_the_newer_slot_is_still_open_is_applied(
    world: World, server: SmtpServer
) -> None:
    t = late_failing_slot(world, server, newer_decided=False)
    late = world.sweep(t, world.opened[1])
    assert late is not None and late.skipped is None
    assert world.target_events() == ["down"]
    state = world.states.get_state("mx1")
    assert state is not None and state.status is TargetStatus.DOWN


def test_decided_after_names_the_nearest_newer_claimed_slot_only(
    ddb: Any, tables: dict[str, str]
) -> None:
    store = DynamoVoteStore(ddb, tables["StateTable"], tables["ResultsTable"])

    def opened(at: str, *voters: str) -> None:
        store.open_slot(OpenSlot("mx1", at, (HOME, EU), "2026-12-08T02:00:00Z", None))
        for name in voters:
            result = ProbeResult("mx1", at, Status.OK, host="h", port=25, location=name)
            assert store.put_vote("mx1", at, result)

    opened(slot(1), HOME)
    opened(slot(2), HOME, EU)
    opened(slot(3), "a#b")  # a location name with the key's separator in it
    assert store.decided_after("mx1", slot(1)) is None  # newer slots voted, none claimed
    assert store.claim("mx1", slot(1))
    assert store.decided_after("mx1", slot(2)) is None  # an older claim is no newer one
    assert store.claim("mx1", slot(3))
    assert store.decided_after("mx1", slot(1)) == slot(3)
    assert store.claim("mx1", slot(2))
    assert store.decided_after("mx1", slot(1)) == slot(2)  # the nearest first
    assert store.decided_after("mx1", slot(3)) is None
    assert store.decided_after("other", slot(0)) is None
