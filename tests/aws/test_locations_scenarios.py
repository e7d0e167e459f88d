"""Locations and quorum, end to end: three regions in moto, the real handlers, real
loopback SMTP servers, and a network fault per location made by the test.

GIVEN the translated home stack in us-east-1 with ProbeRegions eu-west-1 and
ap-southeast-2, and a probe-region stack in each (``locations_harness``), WHEN the real
dispatcher ticks and each invoke runs in its region's real probe handler, THEN what a
user relies on — the alert event, its subject, the document's ``locations``, the SNS
attribute ``locations_failed``, ``smtpwatch status`` — follows the quorum, exactly once
per change whatever is redelivered or raced. One deployment per module; each test uses
its own targets and leaves every location healthy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from locations_harness import (
    HOME,
    LOCATIONS,
    PROBE_REGIONS,
    Deployment,
    Invoke,
    World,
    cli,
    deploy,
    email_text,
    state_ids,
    stored_results,
    target_fields,
)
from moto import mock_aws
from moto_atomic import atomic_dynamodb

from smtpwatch.core.schedule import parse_ts, slot_offset
from smtpwatch.testing.servers import Certificates, SmtpServer

EU, AP = PROBE_REGIONS


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def certs() -> Certificates:
    return Certificates()


@pytest.fixture(scope="module")
def server(certs: Certificates) -> Iterator[SmtpServer]:
    smtp = SmtpServer("127.0.0.1", cert=certs.valid(), starttls=True).start()
    yield smtp
    smtp.stop()


@pytest.fixture(scope="module")
def account() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": HOME,
            "AWS_REGION": HOME,
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            mp.setenv(name, value)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        with atomic_dynamodb(mp), mock_aws(config={"lambda": {"use_docker": False}}):
            yield mp


@pytest.fixture(scope="module")
def solo(account: pytest.MonkeyPatch) -> World:
    """A home stack deployed alone (no ProbeRegions), as every user starts."""
    return World(deploy("solo", probe_regions=()), account)


@pytest.fixture(scope="module")
def world(account: pytest.MonkeyPatch) -> World:
    """The home stack with ProbeRegions eu-west-1,ap-southeast-2 and their two stacks."""
    return World(deploy("smtpwatch"), account)


@dataclass
class Scenario:
    """One test's view of the shared deployment: its targets, its alerts."""

    world: World
    certs: Certificates
    server: SmtpServer
    created: list[str] = field(default_factory=list)

    @property
    def deployment(self) -> Deployment:
        return self.world.deployment

    def target(self, target_id: str, *, port: int | None = None, **extra: Any) -> str:
        port = self.server.port if port is None else port
        self.world.put_target(target_id, target_fields(self.certs, port, **extra))
        self.created.append(target_id)
        return target_id

    def alerts(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return _alerts(self.deployment)

    def status_row(self, target_id: str) -> dict[str, Any]:
        rows = json.loads(cli(["status", *self.deployment.table_args(), "--json"]))
        [row] = [r for r in rows if r["target_id"] == target_id]
        assert isinstance(row, dict)
        return row

    def status_line(self, target_id: str) -> str:
        text = cli(["status", *self.deployment.table_args(), "--color", "never"])
        [line] = [ln for ln in text.splitlines() if ln.startswith(target_id + " ")]
        return line


@pytest.fixture
def scenario(world: World, certs: Certificates, server: SmtpServer) -> Iterator[Scenario]:
    """The shared deployment, every location healthy and no alert waiting; afterwards
    the test's targets are deleted and a last tick decides whatever slot it left."""
    world.heal()
    world.deployment.alerts.drain()
    sc = Scenario(world, certs, server)
    yield sc
    # every location votes once more (a location marked silent is ok again), then the
    # targets go and a last tick decides whatever slot is left
    world.heal()
    world.tick()
    for target_id in sc.created:
        world.delete_target(target_id)
    world.tick()
    world.deployment.alerts.drain()


def _alerts(deployment: Deployment) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """New alerts on the topic: (SNS envelope, alert document)."""
    envelopes = deployment.alerts.drain()
    return [(e, json.loads(e["Message"])) for e in envelopes]


def _attribute(envelope: dict[str, Any], name: str) -> str | None:
    attr = envelope.get("MessageAttributes", {}).get(name)
    return None if attr is None else str(attr["Value"])


# --------------------------------------------------------------------------- today


def test_home_stack_without_probe_regions_checks_as_today(
    solo: World, server: SmtpServer, certs: Certificates
) -> None:
    solo.put_target("solo-mx", target_fields(certs, server.port))
    # GIVEN a passing target: one invoke of the home probe, today's event, no vote
    tick = solo.tick()
    assert [(i.region, i.function) for i in tick.sent] == [
        (HOME, solo.deployment.probe_function[HOME])
    ]
    assert set(tick.sent[0].event) == {"target_id", "scheduled_at", "correlation_id", "target"}
    assert [out["status"] for _, out in tick.probes] == ["ok"]
    # WHEN its network fails THEN one DOWN, as today, with no location in its subject
    solo.misroute(HOME)
    tick = solo.tick()
    assert [(out["status"], out["error"], out["alert"]) for _, out in tick.probes] == [
        ("critical", "connect_refused", "down")
    ]
    [(envelope, doc)] = _alerts(solo.deployment)
    assert doc["event"] == "down" and doc["target"]["target_id"] == "solo-mx"
    assert envelope["Subject"].startswith("[DOWN] ") and "location" not in envelope["Subject"]
    assert doc["locations"] == []  # always present; empty for a single location
    assert _attribute(envelope, "locations_failed") == "1"
    # the verdict is the location's own result: no votes, no open slot, no locations key
    assert state_ids(solo.deployment, "#slot#") == []
    assert stored_results(solo.deployment, "#vote#solo-mx") == {}
    assert "locations" not in stored_results(solo.deployment, "solo-mx")[tick.slot("solo-mx")]
    # WHEN it answers again THEN one RECOVERED
    solo.heal()
    solo.tick()
    [(envelope, doc)] = _alerts(solo.deployment)
    assert doc["event"] == "recovered" and _attribute(envelope, "locations_failed") == "0"
    solo.delete_target("solo-mx")


# --------------------------------------------------------------------------- quorum


def _votes(locations: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(v["location"], v["status"], v["phase"], v["error"]) for v in locations]


OK = ("ok", None, None)
REFUSED = ("critical", "connect", "connect_refused")


def test_failing_in_one_of_three_locations_alerts_nobody_status_shows_1_of_3_history_keeps_it(
    scenario: Scenario,
) -> None:
    world, deployment = scenario.world, scenario.deployment
    tid = scenario.target("partial-mx")
    world.tick()
    # WHEN only eu-west-1's path to the server breaks
    world.misroute(EU)
    tick = world.tick()
    # THEN each location got the slot's event, with the slot's locations
    assert sorted(i.region for i in tick.checks) == sorted(LOCATIONS)
    assert [i.event["vote"]["locations"] for i in tick.checks] == [list(LOCATIONS)] * 3
    # ... and nobody is paged: no DOWN, no monitor alert
    assert scenario.alerts() == []
    # the verdict passes, and remembers each location's vote
    slot = tick.slot(tid)
    verdict = stored_results(deployment, tid)[slot]
    assert verdict["status"] == "ok"
    assert _votes(verdict["locations"]) == [(HOME, *OK), (EU, *REFUSED), (AP, *OK)]
    votes = stored_results(deployment, f"#vote#{tid}")
    assert sorted(ts for ts in votes if ts.startswith(slot)) == sorted(
        f"{slot}#{location}" for location in LOCATIONS
    )
    assert state_ids(deployment, f"#slot#{tid}#") == []  # decided when the last one voted
    # status: up, 1/3 locations failing
    row = scenario.status_row(tid)
    assert (row["status"], row["locations_failing"]) == ("up", "1/3 locations failing")
    assert _votes(row["locations"]) == [(HOME, *OK), (EU, *REFUSED), (AP, *OK)]
    assert "1/3 locations failing" in scenario.status_line(tid)
    # history keeps the partial failure, with each location's check
    history = json.loads(cli(["history", tid, "--since", "6h", *deployment.table_args(), "--json"]))
    assert history["partial_failures"] == 1
    [partial] = history["recent_partial_failures"]
    assert partial["locations_failing"] == "1/3 locations failing"
    assert _votes(partial["locations"]) == [(HOME, *OK), (EU, *REFUSED), (AP, *OK)]


def test_failing_in_two_of_three_locations_sends_one_down_naming_both_and_the_passing_one(
    scenario: Scenario,
) -> None:
    world, deployment = scenario.world, scenario.deployment
    tid = scenario.target("quorum-mx")
    world.tick()
    world.misroute(EU, AP)
    world.tick()
    [(envelope, doc)] = scenario.alerts()
    assert (doc["event"], doc["target"]["target_id"]) == ("down", tid)
    assert _votes(doc["locations"]) == [(HOME, *OK), (EU, *REFUSED), (AP, *REFUSED)]
    assert _attribute(envelope, "locations_failed") == "2"
    subject = envelope["Subject"]
    assert subject.startswith("[DOWN] ") and "2/3 locations" in subject and len(subject) <= 100
    # the text: each failing location with its phase and error, then the passing one
    lines = email_text(deployment, envelope).splitlines()
    at = {loc: next(i for i, ln in enumerate(lines) if loc in ln) for loc in LOCATIONS}
    for failing in (EU, AP):
        assert "connect" in lines[at[failing]] and "refused" in lines[at[failing]].lower()
        assert at[failing] < at[HOME]
    # still failing at the next tick: no second DOWN
    world.tick()
    assert scenario.alerts() == []
    assert scenario.status_row(tid)["status"] == "down"
    assert "2/3 locations failing" in scenario.status_line(tid)


def test_alert_on_partial_warns_once_naming_the_one_failing_location(scenario: Scenario) -> None:
    world = scenario.world
    tid = scenario.target("partial-warn-mx", alert_on_partial=True)
    world.tick()
    world.misroute(EU)
    world.tick()
    [(envelope, doc)] = scenario.alerts()
    assert (doc["event"], doc["target"]["target_id"]) == ("warning", tid)
    assert [w["kind"] for w in doc["result"]["warnings"]] == ["partial_failure"]
    assert "1/3 locations failing: eu-west-1" in doc["result"]["warnings"][0]["message"]
    assert _votes(doc["locations"]) == [(HOME, *OK), (EU, *REFUSED), (AP, *OK)]
    assert _attribute(envelope, "locations_failed") == "1"
    world.tick()
    assert scenario.alerts() == []  # said once
    world.heal()
    world.tick()
    assert [doc["event"] for _, doc in scenario.alerts()] == ["recovered"]


def test_back_to_zero_of_three_failing_locations_sends_one_recovered(scenario: Scenario) -> None:
    world = scenario.world
    tid = scenario.target("recovering-mx")
    world.tick()
    world.misroute(EU, AP)
    world.tick()
    assert [doc["event"] for _, doc in scenario.alerts()] == ["down"]
    # WHEN every location reaches the server again
    world.heal()
    world.tick()
    [(envelope, doc)] = scenario.alerts()
    assert (doc["event"], doc["target"]["target_id"]) == ("recovered", tid)
    assert _votes(doc["locations"]) == [(HOME, *OK), (EU, *OK), (AP, *OK)]
    assert _attribute(envelope, "locations_failed") == "0"
    assert "still failing" not in envelope["Subject"]
    world.tick()
    assert scenario.alerts() == []
    assert scenario.status_row(tid)["status"] == "up"


def test_one_silent_region_is_no_down_but_one_location_alert_cleared_once_it_reports(
    scenario: Scenario,
) -> None:
    world, deployment = scenario.world, scenario.deployment
    tid = scenario.target("quiet-mx")
    world.tick()
    # WHEN ap-southeast-2's function stops running (its invokes are lost) for 3 ticks
    world.silence(AP)
    silent_slot = world.tick().slot(tid)
    assert scenario.alerts() == []  # two of three voted: the slot waits for its deadline
    assert state_ids(deployment, f"#slot#{tid}#") == [f"#slot#{tid}#{silent_slot}"]
    world.tick()  # the sweep decides the silent slot: one monitor alert, no DOWN
    [(envelope, doc)] = scenario.alerts()
    assert (doc["event"], doc["status"]) == ("location_down", "silent")
    assert doc["target"] == {
        "target_id": f"#location#{AP}", "name": f"location {AP}", "location": AP, "tags": {},
    }  # fmt: skip
    assert _attribute(envelope, "event") == "location_down"
    world.tick()  # still silent: said once
    assert scenario.alerts() == []
    assert scenario.status_row(tid)["status"] == "up"
    # WHEN it runs again THEN one location_up, and still no alert for the target
    world.heal(AP)
    world.tick()
    world.tick()
    events = [(doc["event"], doc["target"]["target_id"]) for _, doc in scenario.alerts()]
    assert events == [("location_up", f"#location#{AP}")]
    assert state_ids(deployment, f"#slot#{tid}#") == []


# --------------------------------------------------------------------------- exactly once


def test_every_locations_event_delivered_twice_makes_one_decision_and_one_alert_per_change(
    scenario: Scenario,
) -> None:
    world, deployment = scenario.world, scenario.deployment
    tid = scenario.target("twice-mx")

    def twice_in_a_row(invokes: list[Invoke]) -> list[Invoke]:
        return [i for invoke in invokes for i in (invoke, invoke)]

    def twice_after_all(invokes: list[Invoke]) -> list[Invoke]:
        return [*invokes, *reversed(invokes)]

    world.tick(order=twice_after_all)
    world.misroute(EU, AP)
    down = world.tick(order=twice_in_a_row)
    assert [doc["event"] for _, doc in scenario.alerts()] == ["down"]
    world.heal()
    up = world.tick(order=twice_after_all)
    assert [doc["event"] for _, doc in scenario.alerts()] == ["recovered"]
    # one decision per slot; one vote per location
    for tick in (down, up):
        assert sum(out["decided"] for _, out in tick.probes) == 1
        assert [out["skipped"] for _, out in tick.probes].count("redelivered") == 3
        slot = tick.slot(tid)
        votes = stored_results(deployment, f"#vote#{tid}")
        assert sorted(ts for ts in votes if ts.startswith(slot)) == sorted(
            f"{slot}#{location}" for location in LOCATIONS
        )
    # a redelivery after the decision changes nothing
    for invoke in down.checks:
        world.deliver(invoke)
    assert scenario.alerts() == []
    assert scenario.status_row(tid)["status"] == "up"


def test_two_deciders_racing_make_one_decision_and_one_alert_per_change(
    scenario: Scenario,
) -> None:
    world = scenario.world
    tid = scenario.target("race-mx")
    events: list[str] = []
    for fault in ((), (EU, AP), (), (EU, AP)):
        world.heal()
        world.misroute(*fault)
        tick = world.run(world.dispatch(), hold=lambda _: True)
        # the home location votes first; the last two vote at the same time, both
        # see every vote and both try to decide the slot
        first, *last = sorted(tick.held, key=lambda i: i.region != HOME)
        world.deliver(first)
        with world.rendezvous_before_reading_votes(EU, AP):
            racers = [out for out in world.race(last) if out is not None]
        # both saw every vote, one decided
        assert [sorted(out["voted"]) for out in racers] == [sorted(LOCATIONS)] * 2
        assert sorted(out["decided"] for out in racers) == [False, True]
        events += [doc["event"] for _, doc in scenario.alerts()]
        assert state_ids(scenario.deployment, f"#slot#{tid}#") == []
    assert events == ["down", "recovered", "down"]


def test_a_late_vote_racing_the_sweep_makes_one_decision_and_one_alert(
    scenario: Scenario,
) -> None:
    world, deployment = scenario.world, scenario.deployment
    tid = scenario.target("late-mx")
    world.tick()
    world.misroute(HOME, EU)
    tick = world.tick(hold=lambda i: i.region == AP)
    [late] = tick.held
    assert scenario.alerts() == []  # two of three voted: the slot is still open
    # WHEN ap-southeast-2's vote comes in as the next tick's sweep decides the slot
    next_tick = world.dispatch()
    [sweep] = [i for i in next_tick.sent if "decide" in i.event]
    assert sweep.region == HOME
    assert [s["target_id"] for s in sweep.event["decide"]] == [tid]
    late_out, sweep_out = world.race([late, sweep])
    assert late_out is not None and late_out["skipped"] is None  # it voted
    assert sweep_out is not None
    decided = [late_out["decided"], sweep_out["decided"] == 1]
    assert sorted(decided) == [False, True]  # one of the two decided the slot
    assert state_ids(deployment, f"#slot#{tid}#{tick.slot(tid)}") == []
    assert stored_results(deployment, tid)[tick.slot(tid)]["status"] == "critical"
    world.run(next_tick, [i for i in next_tick.sent if i is not sweep])
    world.heal()
    world.tick()
    target_events = [
        doc["event"] for _, doc in scenario.alerts() if doc["target"]["target_id"] == tid
    ]
    assert target_events == ["down", "recovered"]


def test_a_late_verdict_never_overwrites_a_newer_one(scenario: Scenario) -> None:
    world = scenario.world
    tid = scenario.target("order-mx")
    world.tick()
    # slot 1: two locations fail, the third's vote never comes: decided at its deadline
    world.misroute(HOME, EU)
    world.tick(hold=lambda i: i.region == AP)
    # slot 2: every location passes and decides before slot 1's verdict is applied
    world.heal()
    tick = world.dispatch()
    [sweep] = [i for i in tick.sent if "decide" in i.event]
    world.run(tick, [i for i in tick.sent if i is not sweep])
    world.run(tick, [sweep])
    # THEN the older critical verdict changes nothing: no DOWN after the newer pass
    assert [doc for _, doc in scenario.alerts() if doc["target"]["target_id"] == tid] == []
    assert scenario.status_row(tid)["status"] == "up"


def test_one_broken_region_is_one_location_alert_and_holds_no_real_down(
    scenario: Scenario, certs: Certificates
) -> None:
    world = scenario.world
    dead = SmtpServer("127.0.0.1", cert=certs.valid(), starttls=True).start()
    try:
        # 5 targets: eu-west-1 failing all 5 is the degraded floor (5) and share (1/2)
        fleet = [scenario.target(f"fleet-{n}-mx") for n in range(4)]
        tid = scenario.target("dead-mx", port=dead.port)
        world.tick()
        # WHEN eu-west-1 cannot reach any server and one server really stops
        world.misroute(EU)
        dead.stop()
        world.tick()
        # THEN the real DOWN goes out (1 verdict of 5 failed: no monitor-degraded hold)
        [(envelope, doc)] = scenario.alerts()
        assert (doc["event"], doc["target"]["target_id"]) == ("down", tid)
        assert _attribute(envelope, "locations_failed") == "3"
        # ... and eu-west-1 is reported once, as failing most of its targets (a tick's
        # failures are counted in the tick they are decided in, judged a tick later)
        world.tick()
        world.tick()
        [(envelope, doc)] = scenario.alerts()
        assert (doc["event"], doc["status"]) == ("location_down", "failing")
        assert doc["target"]["location"] == EU
        assert {scenario.status_row(t)["status"] for t in fleet} == {"up"}
        # WHEN eu-west-1 reaches them again THEN one location_up
        world.heal(EU)
        for _ in range(3):
            world.tick()
        events = [(doc["event"], doc["target"]["target_id"]) for _, doc in scenario.alerts()]
        assert events == [("location_up", f"#location#{EU}")]
    finally:
        dead.stop()


# --------------------------------------------------------------------------- as today


def test_quorum_of_one_alerts_on_one_failing_location_as_a_single_location_check(
    scenario: Scenario,
) -> None:
    world = scenario.world
    tid = scenario.target("eager-mx", quorum=1)
    world.tick()
    world.misroute(EU)
    world.tick()
    [(envelope, doc)] = scenario.alerts()
    assert (doc["event"], doc["target"]["target_id"]) == ("down", tid)
    assert _votes(doc["locations"]) == [(HOME, *OK), (EU, *REFUSED), (AP, *OK)]
    assert _attribute(envelope, "locations_failed") == "1"
    assert doc["result"]["error"]["kind"] == "connect_refused"  # the failing vote's result
    assert envelope["Subject"].startswith("[DOWN] ")
    world.tick()
    assert scenario.alerts() == []
    world.heal()
    world.tick()
    assert [doc["event"] for _, doc in scenario.alerts()] == ["recovered"]


def test_a_target_of_one_location_is_checked_as_today(scenario: Scenario) -> None:
    world, deployment = scenario.world, scenario.deployment
    tid = scenario.target("home-only-mx", locations=[HOME])
    world.misroute(EU, AP)  # not its locations: never asked
    tick = world.tick()
    assert [(i.region, set(i.event)) for i in tick.checks] == [
        (HOME, {"target_id", "scheduled_at", "correlation_id", "target"})
    ]
    world.misroute(HOME)
    tick = world.tick()
    [(envelope, doc)] = scenario.alerts()
    assert doc["event"] == "down" and doc["locations"] == []
    assert _attribute(envelope, "locations_failed") == "1"
    assert "locations" not in stored_results(deployment, tid)[tick.slot(tid)]
    assert stored_results(deployment, f"#vote#{tid}") == {}
    assert state_ids(deployment, f"#slot#{tid}#") == []


def test_status_reports_a_quorum_above_the_deployed_locations(scenario: Scenario) -> None:
    tid = scenario.target("strict-mx", quorum=5)
    text = cli(["status", "--stack", scenario.deployment.home.name, "--region", HOME])
    assert f"{tid}: quorum 5 is above the 3 deployed locations" in text


def test_votes_of_probes_that_run_their_full_time_after_a_late_dispatch_still_count(
    scenario: Scenario,
) -> None:
    """A server that drops packets: each location's probe waits out ``timeout_s`` and
    its re-check waits it out again, so its vote comes 2 x timeout_s (+ the re-check
    delay, 0 here) after the probe was invoked. A tick dispatches the slots of the
    minute before it, so a slot is invoked up to a minute after its time: its votes
    must still count, and the target go DOWN — not its locations be reported silent."""
    world = scenario.world
    # a slot early in its minute: dispatched ~50 s after its time
    tid = next(t for t in (f"slow-{n}-mx" for n in range(200)) if slot_offset(t, 60) <= 10)
    scenario.target(tid, timeout_s=90)  # the deadline: its slot + 2 x 90 s + 30 s
    world.tick()
    world.misroute(*LOCATIONS)
    full_time = timedelta(seconds=90 + 90)
    running: list[tuple[datetime, Invoke]] = []
    for _ in range(5):
        tick = world.run(world.dispatch(), hold=lambda i: i.event["target_id"] == tid)
        now = parse_ts(tick.at)
        running += [(now + full_time, invoke) for invoke in tick.held]
        # the votes of the probes that finish now, just after this tick's dispatcher run
        world.run(tick, [invoke for done_at, invoke in running if done_at <= now])
        running = [(done_at, invoke) for done_at, invoke in running if done_at > now]
    events = [(doc["event"], doc["target"]["target_id"]) for _, doc in scenario.alerts()]
    assert events == [("down", tid)]
