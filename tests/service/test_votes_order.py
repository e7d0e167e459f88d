"""Verdicts apply in slot order even when the newer one wrote nothing: a passing
verdict that changes nothing stores no state, so the state's last slot can be older
than a slot already decided. A slot the sweep decides late (a silent location) after
a newer slot of the same target was decided is kept in history and alerts nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smtpwatch.core.kinds import Status
from smtpwatch.core.locations import OpenSlot
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import TargetStatus
from smtpwatch.core.target import Target
from smtpwatch.service.memory_votes import MemoryVoteStore
from smtpwatch.testing.servers import SmtpServer
from votes_world import AP, EU, HOME, World, slot, target


@pytest.fixture(scope="module")
def server() -> Iterator[SmtpServer]:
    with SmtpServer("127.0.0.1").start() as srv:
        yield srv


def late_failing_slot(world: World, t: Target, *, newer_decided: bool) -> None:
    """Slot 0 passes; slot 1: HOME and EU fail, AP never votes; slot 2: every
    location passes (all of them, or only HOME: still open). Then the sweep of slot 1."""
    world.check(t, slot(0))
    world.now = world.now.replace(minute=1, second=5)
    world.break_net(HOME, EU)
    world.check(t, slot(1), silent=[AP])
    world.break_net()
    world.now = world.now.replace(minute=2, second=5)
    world.check(t, slot(2), silent=[] if newer_decided else [EU, AP])


def test_a_slot_swept_after_a_newer_passing_verdict_is_history_only(
    server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    world, t = World(), target(server)
    late_failing_slot(world, t, newer_decided=True)
    state = world.states.get_state("mx1")
    assert state is not None and state.last_scheduled_at == slot(0)  # the pass wrote nothing
    world.now = world.now.replace(second=50)
    late = world.sweep(t, world.opened[1])
    assert late is not None and late.skipped == "overtaken"
    # No DOWN after the target already passed, no location alert, the state untouched.
    assert world.events == []
    state = world.states.get_state("mx1")
    assert state is not None and state.status is TargetStatus.UP
    assert state.last_scheduled_at == slot(0) and state.consecutive_failures == 0
    # History keeps the late verdict, with every location's vote.
    (kept,) = [r for r in world.results.iter_results("mx1") if r.status is Status.CRITICAL]
    assert [v.status for v in kept.locations] == ["critical", "critical", "silent"]
    assert "overtaken" in caplog.text


def test_a_slot_swept_while_the_newer_slot_is_still_open_is_applied(
    server: SmtpServer,
) -> None:
    world, t = World(), target(server)
    late_failing_slot(world, t, newer_decided=False)
    world.now = world.now.replace(second=50)
    late = world.sweep(t, world.opened[1])
    assert late is not None and late.skipped is None
    assert world.target_events() == ["down"]
    state = world.states.get_state("mx1")
    assert state is not None and state.status is TargetStatus.DOWN
    assert state.last_scheduled_at == slot(1)


def test_the_memory_store_names_the_nearest_newer_claimed_slot_only() -> None:
    store = MemoryVoteStore()
    for i in (1, 2, 3):
        store.open_slot(OpenSlot("mx1", slot(i), (HOME, EU), slot(i + 1), None))
        result = ProbeResult("mx1", slot(i), Status.OK, host="h", port=25, location=HOME)
        assert store.put_vote("mx1", slot(i), result)
    assert store.decided_after("mx1", slot(1)) is None
    assert store.claim("mx1", slot(1)) and store.decided_after("mx1", slot(2)) is None
    assert store.claim("mx1", slot(3)) and store.decided_after("mx1", slot(1)) == slot(3)
    assert store.claim("mx1", slot(2)) and store.decided_after("mx1", slot(1)) == slot(2)
