"""A location marked failing that then goes silent: operators see one location_down with
status silent, not a location_up in between."""

from __future__ import annotations

from smtpwatch.core.kinds import Status
from smtpwatch.core.locations import verdict
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import AlertEvent
from smtpwatch.service.location_health import FAILING, LocationHealth, LocationWatch
from smtpwatch.service.memory import MemorySink
from smtpwatch.service.memory_votes import MemoryLocationHealthStore
from votes_world import AP, EU, HOME, LOCATIONS, T0, slot


def test_a_failing_location_that_goes_silent_is_one_location_down_silent() -> None:
    store = MemoryLocationHealthStore()
    sink = MemorySink()
    watch = LocationWatch(store, [sink], now=lambda: T0)
    assert store.save_location(LocationHealth(AP, FAILING, slot(0), slot(0), 1))
    votes = {n: ProbeResult("mx1", slot(1), Status.OK, location=n) for n in (HOME, EU)}
    decided = verdict("mx1", slot(1), LOCATIONS, votes, quorum=0, alert_on_partial=False)
    alerts = watch.slot_decided(decided, slot(1))
    assert [(a.event, a.status) for a in alerts] == [(AlertEvent.LOCATION_DOWN, "silent")]
    health = store.get_location(AP)
    assert health is not None and health.status == "silent"
    assert [(a.event.value, a.status) for a in sink.alerts] == [("location_down", "silent")]
