"""The dispatcher with three deployed locations (us-east-1 home, eu-west-1, ap-southeast-2).

GIVEN the home stack's environment with SMTPWATCH_PROBE_REGIONS and a probe function in
each region (moto; its Lambda records each invoke in the region it reached and runs no
code) WHEN the real dispatcher handler ticks THEN each location's function gets the
tick's probe events in relays: a target checked from several locations once its slot is
open, one event per location with the ``vote`` key; a target with one location today's
event at that location alone. A relay, run by the real probe handler, invokes its own
function once per event. A later tick sends a slot whose deadline passed to the home
function, whose handler decides it with the votes that came.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend

from conftest import REGION, Alerts, LambdaContext
from smtpwatch.adapters.aws_secrets import encode_secret
from smtpwatch.adapters.dynamodb import (
    DynamoResultStore,
    DynamoStateStore,
    DynamoTargetStore,
    DynamoVoteStore,
)
from smtpwatch.core import schedule
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.handlers import dispatcher as dispatcher_module
from smtpwatch.handlers import probe as probe_module
from smtpwatch.service.dispatch_locations import BATCH_BYTES, BATCH_EVENTS, batches

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
PROBE_REGIONS = ("eu-west-1", "ap-southeast-2")
LOCATIONS = (REGION, *PROBE_REGIONS)
HOME_PROBE = f"smtpwatch-probe-{REGION}"  # with ProbeRegions, the convention's name too


@dataclass(frozen=True)
class Invoke:
    region: str
    function: str
    event: dict[str, Any]


@dataclass
class Recorder:
    invokes: list[Invoke] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> list[Invoke]:
        with self.lock:
            out, self.invokes = self.invokes, []
        return out


@pytest.fixture
def recorder(aws: None, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        fn = self.get_function(function_name, qualifier)  # must exist in THIS region
        with rec.lock:
            rec.invokes.append(Invoke(self.region_name, fn.function_name, json.loads(body)))
        return b""

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    return rec


def _deploy_function(region: str, name: str) -> None:
    iam = boto3.client("iam", region_name=region)
    try:
        role = iam.get_role(RoleName="probe-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="probe-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    boto3.client("lambda", region_name=region).create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": buf.getvalue()},
    )


@dataclass
class Home:
    tables: dict[str, str]
    recorder: Recorder
    monkeypatch: pytest.MonkeyPatch

    @property
    def targets(self) -> DynamoTargetStore:
        return DynamoTargetStore(self._ddb, self.tables["TargetsTable"])

    @property
    def states(self) -> DynamoStateStore:
        return DynamoStateStore(self._ddb, self.tables["StateTable"])

    @property
    def results(self) -> str:
        return self.tables["ResultsTable"]

    @property
    def votes(self) -> DynamoVoteStore:
        return DynamoVoteStore(self._ddb, self.tables["StateTable"], self.tables["ResultsTable"])

    @property
    def _ddb(self) -> Any:
        return boto3.client("dynamodb", region_name=REGION)

    def put(self, target_id: str, **fields: Any) -> None:
        item = {"target_id": target_id, "host": f"{target_id}.example.com", "interval_s": 60}
        self.targets.put_items([item | fields])
        assert self.states.save_state(TargetState(target_id, status=TargetStatus.UP, version=1))

    def probe(self, event: dict[str, Any], region: str = REGION) -> dict[str, Any]:
        """The real probe handler of ``region``'s function on ``event``."""
        fn = f"smtpwatch-probe-{region}"
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AWS_REGION", region)
            mp.setenv("AWS_LAMBDA_FUNCTION_NAME", fn)
            if region != REGION:
                mp.setenv("SMTPWATCH_HOME_REGION", REGION)
            probe_module._runtime.cache_clear()
            try:
                out: dict[str, Any] = probe_module.handler(event, LambdaContext(function_name=fn))
            finally:
                probe_module._runtime.cache_clear()
        return out

    def tick(self, moment: datetime, event_id: str = "tick-1") -> dict[str, Any]:
        dispatcher_module._runtime.cache_clear()
        event = {"source": "aws.events", "id": event_id, "time": schedule.format_ts(moment)}
        out: dict[str, Any] = dispatcher_module.handler(
            event, LambdaContext(function_name="smtpwatch-dispatcher")
        )
        return out

    def raw_state(self, key: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(
            TableName=self.tables["StateTable"], Key={"target_id": {"S": key}}, ConsistentRead=True
        ).get("Item")
        return item


@pytest.fixture
def home(
    stack_env: dict[str, str], recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Home]:
    _deploy_function(REGION, HOME_PROBE)
    for region in PROBE_REGIONS:
        _deploy_function(region, f"smtpwatch-probe-{region}")
    monkeypatch.setenv("PROBE_FUNCTION_NAME", HOME_PROBE)
    monkeypatch.setenv("SMTPWATCH_PROBE_REGIONS", ",".join(PROBE_REGIONS))
    monkeypatch.setenv("SMTPWATCH_PROBE_FUNCTION_PREFIX", "smtpwatch-probe-")
    monkeypatch.setenv("SMTPWATCH_INVOKE_MODE", "boto3")
    tables = {k: stack_env[v] for k, v in _TABLE_ENV.items()}
    yield Home(tables, recorder, monkeypatch)
    dispatcher_module._runtime.cache_clear()


_TABLE_ENV = {"TargetsTable": "TARGETS_TABLE", "StateTable": "STATE_TABLE"} | {
    "ResultsTable": "RESULTS_TABLE"
}


def _events(invokes: list[Invoke]) -> list[Invoke]:
    """The probe events the relays carry, each as (region, function, event)."""
    out = []
    for invoke in invokes:
        assert set(invoke.event) == {"relay", "correlation_id"}, invoke.event
        out += [Invoke(invoke.region, invoke.function, e) for e in invoke.event["relay"]]
    return out


def _by_region(invokes: list[Invoke]) -> dict[str, Invoke]:
    out = {i.region: i for i in invokes}
    assert len(out) == len(invokes), invokes
    return out


def test_each_location_gets_the_event_with_the_vote_after_the_slot_is_open(home: Home) -> None:
    # GIVEN a target checked from every deployed location (locations: [] = all)
    home.put("mx1")
    # WHEN the dispatcher ticks
    summary = home.tick(T0)
    # THEN each location's function got one relay, in its own region, with the event
    relays = home.recorder.take()
    assert sorted(r.region for r in relays) == sorted(LOCATIONS)
    got = _by_region(_events(relays))
    assert got[REGION].function == HOME_PROBE
    for region in PROBE_REGIONS:
        assert got[region].function == f"smtpwatch-probe-{region}"
    slot = got[REGION].event["scheduled_at"]
    # ... the same event everywhere: today's keys plus the vote (locations in deployed
    # order, the deadline: 2 x timeout_s 120 + recheck_delay_s 10 + 30 s after the tick
    # that dispatched it, not after the slot: a tick sends the slots of the minute before)
    assert schedule.parse_ts(slot) < T0
    deadline = schedule.format_ts(T0 + timedelta(seconds=280))
    for invoke in got.values():
        assert invoke.event == got[REGION].event
        assert invoke.event["vote"] == {"locations": list(LOCATIONS), "deadline": deadline}
        assert invoke.event["target_id"] == "mx1"
        assert invoke.event["correlation_id"] == "tick-1"
        assert invoke.event["target"]["host"] == {"S": "mx1.example.com"}
    # AND the slot is open in the state table
    item = home.raw_state(f"#slot#mx1#{slot}")
    assert item is not None
    assert item["for_target"] == {"S": "mx1"}
    assert [v["S"] for v in item["locations"]["L"]] == list(LOCATIONS)
    assert item["deadline"] == {"S": deadline}
    # AND the run counts one target dispatched (one verdict to come), three events
    assert (summary["dispatched"], summary["invokes"], summary["relays"]) == (1, 3, 3)
    assert (summary["slots_opened"], summary["failed"]) == (1, 0)


def test_a_target_with_one_location_gets_todays_event_at_that_location_only(
    home: Home,
) -> None:
    # GIVEN targets naming one location each: a probe region, and the home region
    home.put("far", locations=["ap-southeast-2"])
    home.put("near", locations=[REGION])
    summary = home.tick(T0)
    events = {i.event["target_id"]: i for i in _events(home.recorder.take())}
    # THEN each goes once, to its location, as today's event (no vote) ...
    assert sorted(events) == ["far", "near"]
    assert (events["far"].region, events["far"].function) == (
        "ap-southeast-2",
        "smtpwatch-probe-ap-southeast-2",
    )
    assert (events["near"].region, events["near"].function) == (REGION, HOME_PROBE)
    for invoke in events.values():
        assert set(invoke.event) == {"target_id", "scheduled_at", "correlation_id", "target"}
    # ... and no slot is opened for them: their probe decides alone, as today
    for tid in ("far", "near"):
        assert home.raw_state(f"#slot#{tid}#{events[tid].event['scheduled_at']}") is None
    assert (summary["dispatched"], summary["invokes"], summary["slots_opened"]) == (2, 2, 0)


def test_a_locations_subset_is_honoured_in_deployed_order(home: Home) -> None:
    # GIVEN a target naming two of the three locations, the home one last
    home.put("pair", locations=["ap-southeast-2", REGION], quorum=2)
    home.tick(T0)
    got = _by_region(_events(home.recorder.take()))
    # THEN only those two get it, and the vote lists them in deployed order
    assert got.keys() == {REGION, "ap-southeast-2"}
    for invoke in got.values():
        assert invoke.event["vote"]["locations"] == [REGION, "ap-southeast-2"]


def test_a_tick_of_many_targets_goes_in_relays_of_at_most_100_events(home: Home) -> None:
    home.targets.put_items(
        [{"target_id": f"t{i:03d}", "host": "h.example.com", "interval_s": 60} for i in range(230)]
    )
    summary = home.tick(T0)
    relays = home.recorder.take()
    per_region = {
        r: sorted(len(i.event["relay"]) for i in relays if i.region == r) for r in LOCATIONS
    }
    assert per_region == {r: [30, 100, 100] for r in LOCATIONS}
    assert (summary["dispatched"], summary["invokes"], summary["relays"]) == (230, 690, 9)
    assert {
        len({e.event["target_id"] for e in _events(relays) if e.region == r}) for r in LOCATIONS
    } == {230}


def test_batches_are_cut_by_count_and_by_bytes() -> None:
    small = [b"x" * 10] * 250
    assert [len(b) for b in batches(small, key=lambda b: b)] == [BATCH_EVENTS, BATCH_EVENTS, 50]
    # A third of the bound each: three do not fit, each counting its comma too.
    big = [b"y" * (BATCH_BYTES // 3)] * 7
    cut = batches(big, key=lambda b: b)
    assert all(sum(len(b) + 1 for b in batch) <= BATCH_BYTES for batch in cut)
    assert [len(b) for b in cut] == [2, 2, 2, 1]
    huge = [b"z" * (BATCH_BYTES + 1), b"a"]
    assert [len(b) for b in batches(huge, key=lambda b: b)] == [1, 1]  # alone, not lost


def test_without_probe_regions_the_dispatcher_is_todays(home: Home) -> None:
    # GIVEN the home stack deployed without ProbeRegions (the variable is empty)
    home.monkeypatch.setenv("SMTPWATCH_PROBE_REGIONS", "")
    home.put("mx1")
    summary = home.tick(T0)
    # THEN one direct invoke of the home probe with today's event: no relay, no slot
    (invoke,) = home.recorder.take()
    assert (invoke.region, invoke.function) == (REGION, HOME_PROBE)
    assert set(invoke.event) == {"target_id", "scheduled_at", "correlation_id", "target"}
    assert home.raw_state(f"#slot#mx1#{invoke.event['scheduled_at']}") is None
    assert "slots_opened" not in summary and "relays" not in summary


def test_a_relay_invokes_its_own_function_once_per_event_and_probes_nothing(
    home: Home,
) -> None:
    home.put("mx1")
    home.put("mx2")
    home.tick(T0)
    relays = {r.region: r for r in home.recorder.take()}
    # WHEN eu-west-1's function runs the relay it got
    out = home.probe(relays["eu-west-1"].event, "eu-west-1")
    # THEN it invoked itself, in its region, once per event, each event as it came
    assert out == {"relayed": 2, "failed": 0}
    again = home.recorder.take()
    assert {(i.region, i.function) for i in again} == {("eu-west-1", "smtpwatch-probe-eu-west-1")}
    assert sorted(i.event["target_id"] for i in again) == ["mx1", "mx2"]
    assert [i.event for i in again if i.event["target_id"] == "mx1"] == [
        e for e in relays["eu-west-1"].event["relay"] if e["target_id"] == "mx1"
    ]
    # AND nothing was probed: no result, no state change
    state = home.states.get_state("mx1")
    assert state is not None and (state.version, state.last_scheduled_at) == (1, None)
    assert (
        list(
            DynamoResultStore(
                boto3.client("dynamodb", region_name=REGION), home.results
            ).iter_results("mx1")
        )
        == []
    )
    # AND a relay inside a relay is refused, invoking nothing
    looped = {"relay": [relays["eu-west-1"].event], "correlation_id": "tick-1"}
    assert home.probe(looped, "eu-west-1")["status"] == "bad_event"
    assert home.recorder.take() == []


def _vote(location: str, slot: str) -> ProbeResult:
    result = ProbeResult.from_dict(
        {
            "schema_version": 1,
            "target_id": "mx1",
            "host": "mx1.example.com",
            "port": 587,
            "encryption": "explicit",
            "started_at": slot,
            "status": "ok",
            "error": None,
            "warnings": [],
            "phases": {},
            "total_ms": 12.5,
            "location": location,
        }
    )
    assert result is not None and result.location == location
    return result


def test_an_expired_slot_goes_to_the_home_function_which_decides_it(
    home: Home, alerts: Alerts
) -> None:
    # GIVEN every result kept (PassingResultSeconds=0), a slot opened at T0 and only
    # the home location's (passing) vote stored
    home.monkeypatch.setenv("PASSING_RESULT_SECONDS", "0")
    home.put("mx1")
    home.tick(T0)
    slot = _events(home.recorder.take())[0].event["scheduled_at"]
    assert home.votes.put_vote("mx1", slot, _vote(REGION, slot))
    # WHEN a tick before its deadline (dispatching tick + 280 s) runs, THEN it is not sent
    assert home.tick(T0 + timedelta(minutes=3), "tick-2")["slots_expired"] == 0
    assert all("relay" in i.event for i in home.recorder.take())
    # WHEN the first tick after the deadline runs
    summary = home.tick(T0 + timedelta(minutes=5), "tick-3")
    # THEN the slot goes, with its locations and deadline, to the home function
    assert (summary["slots_expired"], summary["slots_left"]) == (1, 0)
    decides = [i for i in home.recorder.take() if "decide" in i.event]
    assert [(i.region, i.function) for i in decides] == [(REGION, HOME_PROBE)]
    deadline = schedule.format_ts(T0 + timedelta(seconds=280))
    assert decides[0].event == {
        "decide": [
            {
                "target_id": "mx1",
                "scheduled_at": slot,
                "locations": list(LOCATIONS),
                "deadline": deadline,
            }
        ],
        "correlation_id": "tick-3",
    }
    # WHEN the home function runs it
    assert home.probe(decides[0].event) == {
        "decided": 1,
        "claimed_elsewhere": 0,
        "dropped": 0,
        "failed": 0,
    }
    # THEN the open item is gone, and the verdict, stored as the slot's result, carries
    # the home vote and names the two silent locations ...
    assert home.raw_state(f"#slot#mx1#{slot}") is None
    results = DynamoResultStore(boto3.client("dynamodb", region_name=REGION), home.results)
    (verdict,) = list(results.iter_results("mx1"))
    assert (verdict.status.value, verdict.location) == ("ok", REGION)
    assert [(v.location, v.status) for v in verdict.locations] == [
        (REGION, "ok"),
        ("eu-west-1", "silent"),
        ("ap-southeast-2", "silent"),
    ]
    # ... the silent locations are reported, once each, to the alert topic ...
    docs = alerts.documents(alerts.drain())
    assert sorted((d["event"], d["target"]["location"]) for d in docs) == [
        ("location_down", "ap-southeast-2"),
        ("location_down", "eu-west-1"),
    ]
    # ... and the same decide event delivered again decides nothing more
    assert home.probe(decides[0].event)["claimed_elsewhere"] == 1
    assert alerts.drain() == []


def test_a_region_without_its_function_fails_its_events_and_the_others_go(home: Home) -> None:
    # GIVEN eu-west-1 listed but its stack gone (its function does not exist there)
    boto3.client("lambda", region_name="eu-west-1").delete_function(
        FunctionName="smtpwatch-probe-eu-west-1"
    )
    home.put("mx1")
    home.put("mx2")
    summary = home.tick(T0)
    # THEN its two events count as failed (DispatchFailed alarms), the other locations
    # got theirs, and both targets are dispatched: their slots decide without eu-west-1
    assert summary["failed"] == 2
    assert (summary["dispatched"], summary["invokes"], summary["relays"]) == (2, 4, 2)
    assert sorted(i.region for i in home.recorder.take()) == ["ap-southeast-2", REGION]


@pytest.mark.parametrize(
    "event",
    [
        {"relay": []},
        {"relay": [1, 2]},
        {"relay": [{"target_id": "mx1", "scheduled_at": "2026-11-25T15:00:00Z"}] * 101},
        {"relay": [{"target_id": "mx1"}], "target_id": "mx1"},
        {"decide": [{"target_id": "mx1", "scheduled_at": "2026-11-25T15:00:00Z"}]},
        {"decide": [{"target_id": "mx1", "scheduled_at": "soon", "locations": [REGION]}]},
        {"target_id": "mx1", "scheduled_at": "2026-11-25T15:00:00Z", "vote": {"locations": REGION}},
        {"target_id": "mx1", "scheduled_at": "2026-11-25T15:00:00Z", "vote": {"locations": []}},
        {
            "target_id": "mx1",
            "scheduled_at": "2026-11-25T15:00:00Z",
            "vote": {"locations": [REGION, REGION], "deadline": "2026-11-25T15:05:00Z"},
        },
    ],
)
def test_a_malformed_batch_or_vote_is_a_bad_event_that_does_nothing(
    home: Home, event: dict[str, Any]
) -> None:
    home.put("mx1")
    assert home.probe(event)["status"] == "bad_event"
    assert home.recorder.take() == []
    state = home.states.get_state("mx1")
    assert state is not None and (state.version, state.last_scheduled_at) == (1, None)


def test_expired_slots_go_to_be_decided_ten_at_a_time_oldest_first(home: Home) -> None:
    # GIVEN 25 targets whose slots of T0 got no vote at all (every location silent)
    home.targets.put_items(
        [{"target_id": f"t{i:02d}", "host": "h.example.com", "interval_s": 60} for i in range(25)]
    )
    home.tick(T0)
    home.recorder.take()
    # WHEN the first tick past their deadlines runs
    summary = home.tick(T0 + timedelta(minutes=5), "tick-2")
    # THEN they go to the home function in decide events of at most 10 slots (one
    # decision costs milliseconds of CPU: a small batch keeps each event short), each once
    decides = [i.event["decide"] for i in home.recorder.take() if "decide" in i.event]
    assert sorted(len(d) for d in decides) == [5, 10, 10]
    slots = [s for d in decides for s in d]
    assert sorted(s["target_id"] for s in slots) == [f"t{i:02d}" for i in range(25)]
    # the oldest first: in deadline order within each event and from event to event (the
    # events themselves are sent at once, so they arrive in any order)
    runs = sorted(([s["deadline"] for s in d] for d in decides), key=lambda run: run[0])
    deadlines = [at for run in runs for at in run]
    assert deadlines == sorted(deadlines)
    assert (summary["slots_expired"], summary["slots_left"]) == (25, 0)


def test_a_probe_regions_function_reads_and_writes_the_home_regions_resources(
    home: Home,
) -> None:
    # GIVEN a secret stored once, in the home region, bound to its host
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/smtpwatch/mx1",
        Value=encode_secret("s3cret", ["mx1.example.com"]),
        Type="SecureString",
    )
    # WHEN eu-west-1's function builds its runtime (SMTPWATCH_HOME_REGION=us-east-1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_REGION", "eu-west-1")
        mp.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        mp.setenv("SMTPWATCH_HOME_REGION", REGION)
        probe_module._runtime.cache_clear()
        try:
            rt = probe_module._runtime()
        finally:
            probe_module._runtime.cache_clear()
    # THEN its results say where they ran, while its tables, topic and secrets are the
    # home region's: the secret read across regions, the state of the home table
    assert rt.env.location == "eu-west-1"
    for service in ("dynamodb", "sns", "ssm", "secretsmanager"):
        assert rt.clients is not None and rt.clients(service).meta.region_name == REGION
    assert rt.secrets.resolve("ssm:/smtpwatch/mx1", host="mx1.example.com") == "s3cret"
    home.put("mx1")
    state = rt.states.get_state("mx1")
    assert state is not None and state.status is TargetStatus.UP
