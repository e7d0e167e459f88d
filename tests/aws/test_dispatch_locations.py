"""The dispatcher with three deployed locations (us-east-1 home, eu-west-1, ap-southeast-2).

GIVEN the home stack's environment with SMTPWATCH_PROBE_REGIONS and a probe function in
each region (moto; its Lambda records each invoke in the region it reached and runs no
code) WHEN the real dispatcher handler ticks THEN a target checked from several
locations gets its slot opened and one invoke per location with the ``vote`` key, a
target with one location gets today's event from that location alone, and the sweep of
a later tick decides a slot whose deadline passed with the votes that came.
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

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
PROBE_REGIONS = ("eu-west-1", "ap-southeast-2")
LOCATIONS = (REGION, *PROBE_REGIONS)
HOME_PROBE = "smtpwatch-ProbeFunction-x1"  # a home probe's name is CloudFormation's


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


def _by_region(invokes: list[Invoke]) -> dict[str, Invoke]:
    out = {i.region: i for i in invokes}
    assert len(out) == len(invokes), invokes
    return out


def test_each_location_gets_one_invoke_with_the_vote_after_the_slot_is_open(home: Home) -> None:
    # GIVEN a target checked from every deployed location (locations: [] = all)
    home.put("mx1")
    # WHEN the dispatcher ticks
    summary = home.tick(T0)
    # THEN each location's function got exactly one invoke, in its own region
    got = _by_region(home.recorder.take())
    assert got.keys() == set(LOCATIONS)
    assert got[REGION].function == HOME_PROBE
    for region in PROBE_REGIONS:
        assert got[region].function == f"smtpwatch-probe-{region}"
    slot = got[REGION].event["scheduled_at"]
    # ... all with the same event: today's keys plus the vote (locations in deployed
    # order, the deadline: 2 x timeout_s 120 + recheck_delay_s 10 + 30 s after the slot)
    deadline = schedule.format_ts(schedule.parse_ts(slot) + timedelta(seconds=280))
    for invoke in got.values():
        assert invoke.event == got[REGION].event
        assert invoke.event["vote"] == {"locations": list(LOCATIONS), "deadline": deadline}
        assert invoke.event["target_id"] == "mx1"
        assert invoke.event["correlation_id"] == "tick-1"
        assert invoke.event["target"]["host"] == {"S": "mx1.example.com"}
    # AND the slot is open in the state table before any vote
    item = home.raw_state(f"#slot#mx1#{slot}")
    assert item is not None
    assert item["for_target"] == {"S": "mx1"}
    assert [v["S"] for v in item["locations"]["L"]] == list(LOCATIONS)
    assert item["deadline"] == {"S": deadline}
    # AND the run counts one target dispatched (one verdict to come), three invokes
    assert (summary["dispatched"], summary["invokes"], summary["slots_opened"]) == (1, 3, 1)
    assert summary["failed"] == 0


def test_a_target_with_one_location_gets_todays_event_from_that_location_only(
    home: Home,
) -> None:
    # GIVEN targets naming one location each: a probe region, and the home region
    home.put("far", locations=["ap-southeast-2"])
    home.put("near", locations=[REGION])
    summary = home.tick(T0)
    invokes = {i.event["target_id"]: i for i in home.recorder.take()}
    # THEN each is invoked once, from its location, with today's event (no vote) ...
    assert sorted(invokes) == ["far", "near"]
    assert (invokes["far"].region, invokes["far"].function) == (
        "ap-southeast-2",
        "smtpwatch-probe-ap-southeast-2",
    )
    assert (invokes["near"].region, invokes["near"].function) == (REGION, HOME_PROBE)
    for invoke in invokes.values():
        assert "vote" not in invoke.event
        assert set(invoke.event) == {"target_id", "scheduled_at", "correlation_id", "target"}
    # ... and no slot is opened for them: their probe decides alone, as today
    for tid in ("far", "near"):
        assert home.raw_state(f"#slot#{tid}#{invokes[tid].event['scheduled_at']}") is None
    assert (summary["dispatched"], summary["invokes"], summary["slots_opened"]) == (2, 2, 0)


def test_a_locations_subset_is_honoured_in_deployed_order(home: Home) -> None:
    # GIVEN a target naming two of the three locations, the home one last
    home.put("pair", locations=["ap-southeast-2", REGION], quorum=2)
    home.tick(T0)
    got = _by_region(home.recorder.take())
    # THEN only those two are invoked, and the vote lists them in deployed order
    assert got.keys() == {REGION, "ap-southeast-2"}
    for invoke in got.values():
        assert invoke.event["vote"]["locations"] == [REGION, "ap-southeast-2"]


def test_without_probe_regions_the_dispatcher_is_todays(home: Home) -> None:
    # GIVEN the home stack deployed without ProbeRegions (the variable is empty)
    home.monkeypatch.setenv("SMTPWATCH_PROBE_REGIONS", "")
    home.put("mx1")
    summary = home.tick(T0)
    # THEN one invoke, of the home probe, with today's event; no slot, no slot figures
    (invoke,) = home.recorder.take()
    assert (invoke.region, invoke.function) == (REGION, HOME_PROBE)
    assert "vote" not in invoke.event
    assert home.raw_state(f"#slot#mx1#{invoke.event['scheduled_at']}") is None
    assert "slots_opened" not in summary and "invokes" not in summary


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


def test_the_sweep_decides_a_slot_whose_deadline_passed_with_the_votes_there(
    home: Home, alerts: Alerts
) -> None:
    # GIVEN every result kept (PassingResultSeconds=0), a slot opened at T0 and only
    # the home location's (passing) vote stored
    home.monkeypatch.setenv("PASSING_RESULT_SECONDS", "0")
    home.put("mx1")
    home.tick(T0)
    slot = home.recorder.take()[0].event["scheduled_at"]
    assert home.votes.put_vote("mx1", slot, _vote(REGION, slot))
    # WHEN a tick before its deadline (slot + 280 s) runs, THEN the slot stays open
    assert home.tick(T0 + timedelta(minutes=3), "tick-2")["slots_decided"] == 0
    assert home.raw_state(f"#slot#mx1#{slot}") is not None
    # WHEN the first tick after the deadline runs
    summary = home.tick(T0 + timedelta(minutes=5), "tick-3")
    # THEN it decided the slot: the open item is gone ...
    assert summary["slots_decided"] == 1 and summary["slots_left"] == 0
    assert home.raw_state(f"#slot#mx1#{slot}") is None
    # ... the verdict, stored as the slot's result, carries the home vote and names
    # the two silent locations ...
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
    # ... and the next tick has not this slot to decide again (the one of tick-2 only)
    assert home.tick(T0 + timedelta(minutes=8), "tick-4")["slots_decided"] == 1
    assert home.raw_state(f"#slot#mx1#{slot}") is None
