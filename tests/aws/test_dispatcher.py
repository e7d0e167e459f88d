"""The dispatcher Lambda against moto: which targets get invoked, and exactly once.

Invokes are captured at the boto3 boundary (``before-call.lambda.Invoke``); moto's
Lambda accepts them (202) without running code, as AWS-TOOLING.md describes.
"""

from __future__ import annotations

import functools
import io
import json
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from conftest import REGION, Alerts, LambdaContext
from smtpwatch.adapters.dynamodb import DynamoBookkeeping, DynamoStateStore, DynamoTargetStore
from smtpwatch.adapters.lambda_invoker import LambdaProbeInvoker
from smtpwatch.adapters.sns import SnsAlertSink
from smtpwatch.adapters.tick_gate import settle_episode
from smtpwatch.core import schedule
from smtpwatch.core.alerting import alert_id_for
from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus
from smtpwatch.handlers import dispatcher as dispatcher_module
from smtpwatch.ports import AlertSink
from smtpwatch.service.dispatch import Dispatcher
from smtpwatch.service.gate import tick_bucket

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def _event(moment: datetime) -> dict[str, Any]:
    return {
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": schedule.format_ts(moment),
    }


@pytest.fixture
def probe_function(aws: None) -> str:
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="probe-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName="smtpwatch-probe",
        Runtime="python3.13",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": buf.getvalue()},
    )
    return "smtpwatch-probe"


@dataclass
class Captured:
    """Probe events seen at the boto3 boundary; ``fail`` names targets whose invoke raises."""

    events: list[dict[str, Any]] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, params: dict[str, Any], **_: Any) -> None:
        payload = json.loads(params["body"])
        if payload["target_id"] in self.fail:
            raise ConnectionError("injected: Lambda endpoint unreachable")
        with self.lock:
            self.events.append(payload)

    def payloads(self) -> dict[str, dict[str, Any]]:
        """The captured events by target id (each target once), then cleared."""
        with self.lock:
            got = {e["target_id"]: e for e in self.events}
            assert len(got) == len(self.events)
            self.events.clear()
        return got

    def take(self) -> list[tuple[str, str]]:
        with self.lock:
            got = [(e["target_id"], e["scheduled_at"]) for e in self.events]
            self.events.clear()
        return got


@dataclass
class Harness:
    tables: dict[str, str]
    captured: Captured
    ctx: LambdaContext

    @property
    def targets(self) -> DynamoTargetStore:
        return DynamoTargetStore(
            boto3.client("dynamodb", region_name=REGION), self.tables["TargetsTable"]
        )

    @property
    def states(self) -> DynamoStateStore:
        return DynamoStateStore(
            boto3.client("dynamodb", region_name=REGION), self.tables["StateTable"]
        )

    @property
    def bookkeeping(self) -> DynamoBookkeeping:
        return DynamoBookkeeping(
            boto3.client("dynamodb", region_name=REGION), self.tables["StateTable"]
        )

    def tick(self, moment: datetime) -> dict[str, Any]:
        result: dict[str, Any] = dispatcher_module.handler(_event(moment), self.ctx)
        return result

    def mark_probed(self, *target_ids: str) -> None:
        for tid in target_ids:
            assert self.states.save_state(TargetState(tid, status=TargetStatus.UP, version=1))

    def new_dispatcher(
        self, clock: Callable[[], float] | None = None, sink: AlertSink | None = None
    ) -> Dispatcher:
        """A second, independent dispatcher (another Lambda container)."""
        ddb = boto3.client("dynamodb", region_name=REGION)
        lam = boto3.client("lambda", region_name=REGION)
        lam.meta.events.register("before-call.lambda.Invoke", self.captured.hook)
        kwargs: dict[str, Any] = {}
        if clock is not None:
            kwargs["clock"] = clock
        states = DynamoStateStore(ddb, self.tables["StateTable"])
        books = DynamoBookkeeping(ddb, self.tables["StateTable"], **kwargs)
        return Dispatcher(
            targets=DynamoTargetStore(ddb, self.tables["TargetsTable"]),
            states=states,
            bookkeeping=books,
            invoker=LambdaProbeInvoker(lam, "smtpwatch-probe"),
            sink=sink,
            settle=functools.partial(
                settle_episode, books, states, [sink] if sink is not None else []
            ),
            workers=8,
            **kwargs,
        )


@pytest.fixture
def harness(
    stack_env: dict[str, str], probe_function: str, tables: dict[str, str]
) -> Iterator[Harness]:
    dispatcher_module._runtime.cache_clear()
    _, dispatcher = dispatcher_module._runtime()
    captured = Captured()
    invoker = dispatcher.invoker
    assert isinstance(invoker, LambdaProbeInvoker)
    invoker.client.meta.events.register("before-call.lambda.Invoke", captured.hook)
    yield Harness(
        tables=tables,
        captured=captured,
        ctx=LambdaContext(
            function_name="smtpwatch-dispatcher",
            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:smtpwatch-dispatcher",
        ),
    )
    dispatcher_module._runtime.cache_clear()


def _slot(target_id: str, interval_s: int, start: datetime, end: datetime) -> str | None:
    @dataclass
    class T:
        target_id: str
        interval_s: int

    slot = schedule.due_slot(T(target_id, interval_s), start, end)
    return None if slot is None else schedule.format_ts(slot)


def test_due_targets_are_invoked_with_their_slot_and_others_are_not(harness: Harness) -> None:
    # GIVEN probed targets: every-minute ones, 5-minute ones, and a disabled one
    minute = [f"m{i}" for i in range(5)]
    five = [f"f{i}" for i in range(20)]
    harness.targets.put_items(
        [{"target_id": t, "host": f"{t}.example.com", "interval_s": 60} for t in minute]
        + [{"target_id": t, "host": f"{t}.example.com"} for t in five]
        + [{"target_id": "off", "host": "off.example.com", "interval_s": 60, "enabled": False}]
    )
    harness.mark_probed(*minute, *five, "off")
    # WHEN the first tick of a fresh stack runs (window: the minute before it)
    summary = harness.tick(T0)
    # THEN each target whose slot lies in the window is invoked once, with that slot
    start = T0 - timedelta(seconds=60)
    expected = {(t, _slot(t, 60, start, T0)) for t in minute}
    expected |= {(t, s) for t in five if (s := _slot(t, 300, start, T0))}
    got = harness.captured.take()
    assert sorted(got) == sorted(expected)
    assert summary["dispatched"] == len(expected) and summary["failed"] == 0
    assert summary["disabled"] == 1


def test_a_target_with_only_id_and_host_is_probed_at_the_next_tick(harness: Harness) -> None:
    harness.tick(T0)  # the stack is running
    # GIVEN a user's put-item with the two required attributes only
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=harness.tables["TargetsTable"],
        Item={"target_id": {"S": "mx-new"}, "host": {"S": "mx.example.com"}},
    )
    # WHEN the next tick runs, THEN it is invoked (for its most recent slot)
    harness.tick(T0 + timedelta(minutes=1))
    got = harness.captured.take()
    assert [t for t, _ in got] == ["mx-new"]
    # AND a later tick does not invoke it again before its next slot
    later = T0 + timedelta(minutes=2)
    harness.tick(later)
    again = harness.captured.take()
    assert again == (
        [("mx-new", s)] if (s := _slot("mx-new", 300, later - timedelta(minutes=1), later)) else []
    )
    assert got[0] not in again


def test_a_redelivered_tick_dispatches_nothing(harness: Harness) -> None:
    harness.targets.put_items(
        [{"target_id": f"t{i}", "host": "h.example.com", "interval_s": 60} for i in range(10)]
    )
    harness.tick(T0)
    assert len(harness.captured.take()) == 10
    summary = harness.tick(T0)  # EventBridge delivers the same event again
    assert harness.captured.take() == []
    assert summary["window"] is None


def test_overlapping_runs_never_dispatch_a_slot_twice(harness: Harness) -> None:
    ids = [f"t{i}" for i in range(60)]
    harness.targets.put_items(
        [{"target_id": t, "host": "h.example.com", "interval_s": 60} for t in ids]
    )
    harness.mark_probed(*ids[:30])  # half known, half new (first-dispatch claims race too)
    # WHEN four independent dispatchers run at once: two for the same tick, two for the next
    runs = [
        (harness.new_dispatcher(), T0),
        (harness.new_dispatcher(), T0),
        (harness.new_dispatcher(), T0 + timedelta(minutes=1)),
        (harness.new_dispatcher(), T0 + timedelta(minutes=1)),
    ]
    barrier = threading.Barrier(len(runs))

    def go(d: Dispatcher, moment: datetime) -> None:
        barrier.wait()
        d.run(moment)

    threads = [threading.Thread(target=go, args=r) for r in runs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    got = harness.captured.take()
    # THEN no (target, slot) pair is invoked twice
    dupes = [k for k, n in Counter(got).items() if n > 1]
    assert dupes == []
    # AND every known target got its slot of the last window (none skipped)
    last = {t for t, s in got if schedule.parse_ts(s) > T0}
    assert set(ids[:30]) <= last


def test_racing_window_claims_on_the_emulator_let_exactly_one_win(harness: Harness) -> None:
    # The window claim is one conditional write; DynamoDB applies a conditional write
    # atomically per item, so of racing claims that read the same mark exactly one wins.
    # moto evaluated the condition and wrote without a lock, so two could both win
    # (the overlapping-runs test above then saw a slot dispatched twice); the `aws`
    # fixture makes its writes atomic like the real service's.
    stores = [harness.bookkeeping for _ in range(6)]  # each with its own client
    barrier = threading.Barrier(len(stores))
    for round_ in range(15):
        marks = [s.get_dispatcher_mark() for s in stores]
        assert len({m.version for m in marks}) == 1
        start = schedule.format_ts(T0 + timedelta(minutes=round_))
        end = schedule.format_ts(T0 + timedelta(minutes=round_ + 1))

        def claim(i: int, marks: list[Any] = marks, start: str = start, end: str = end) -> bool:
            barrier.wait()
            return stores[i].claim_window(marks[i], start, end, 60)

        with ThreadPoolExecutor(max_workers=len(stores)) as pool:
            wins = list(pool.map(claim, range(len(stores))))
        assert wins.count(True) == 1, f"round {round_}: {wins.count(True)} claims won"


def test_a_missed_tick_skips_no_slot(harness: Harness) -> None:
    five = [f"f{i}" for i in range(40)]
    harness.targets.put_items([{"target_id": t, "host": "h.example.com"} for t in five])
    harness.mark_probed(*five)
    harness.tick(T0)
    harness.captured.take()
    # WHEN the ticks at +1 and +2 minutes never happen, THEN the +3 tick covers them
    later = T0 + timedelta(minutes=3)
    harness.tick(later)
    got = dict(harness.captured.take())
    expected = {t: s for t in five if (s := _slot(t, 300, T0, later))}
    assert got == expected
    assert expected  # 40 targets over 5 minutes: some fell in the missed minutes


def test_a_failing_invoke_does_not_stop_the_rest(
    harness: Harness, capsys: pytest.CaptureFixture[str], log_lines: io.StringIO
) -> None:
    ids = [f"t{i}" for i in range(20)]
    harness.targets.put_items(
        [{"target_id": t, "host": "h.example.com", "interval_s": 60} for t in ids]
    )
    harness.captured.fail = {"t3", "t7"}
    summary = harness.tick(T0)
    got = {t for t, _ in harness.captured.take()}
    assert got == set(ids) - {"t3", "t7"}
    assert summary["failed"] == 2 and summary["dispatched"] == 18
    out = capsys.readouterr().out
    metrics = _emf(out)
    assert metrics["DispatchFailed"] == 2 and metrics["Dispatched"] == 18 and metrics["Due"] == 20
    logged = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    failures = [rec for rec in logged if rec["message"] == "probe invoke failed"]
    assert {rec["target_id"] for rec in failures} == {"t3", "t7"}
    assert "injected: Lambda endpoint unreachable" in failures[0]["error"]


def test_a_new_target_whose_invoke_failed_is_retried_at_the_next_tick(harness: Harness) -> None:
    harness.targets.put_items([{"target_id": "new", "host": "h.example.com"}])
    harness.captured.fail = {"new"}
    assert harness.tick(T0)["failed"] == 1
    harness.captured.fail = set()
    harness.tick(T0 + timedelta(minutes=1))
    assert [t for t, _ in harness.captured.take()] == ["new"]


def test_a_malformed_item_is_dispatched_for_a_config_result_and_others_are_unaffected(
    harness: Harness,
) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    harness.targets.put_items([{"target_id": "good", "host": "h.example.com", "interval_s": 60}])
    ddb.put_item(
        TableName=harness.tables["TargetsTable"],
        Item={
            "target_id": {"S": "bad"},
            "host": {"S": "h.example.com"},
            "timeout_s": {"S": "soon"},
        },
    )
    ddb.put_item(
        TableName=harness.tables["TargetsTable"],
        Item={
            "target_id": {"S": "short"},
            "host": {"S": "h.example.com"},
            "interval_s": {"N": "5"},
        },
    )
    summary = harness.tick(T0)
    assert summary["malformed"] == 2
    assert {t for t, _ in harness.captured.take()} == {"good", "bad", "short"}


def test_one_thousand_targets_are_dispatched_in_one_tick(harness: Harness) -> None:
    ids = [f"t{i:04d}" for i in range(1000)]
    harness.targets.put_items(
        [{"target_id": t, "host": "h.example.com", "interval_s": 60} for t in ids]
    )
    summary = harness.tick(T0)
    got = harness.captured.take()
    assert summary["dispatched"] == 1000
    assert sorted(t for t, _ in got) == ids


def test_a_window_left_unfinished_by_a_crashed_run_is_dispatched_again(harness: Harness) -> None:
    ids = [f"t{i}" for i in range(10)]
    harness.targets.put_items(
        [{"target_id": t, "host": "h.example.com", "interval_s": 60} for t in ids]
    )
    harness.mark_probed(*ids)
    harness.tick(T0)
    harness.captured.take()
    # GIVEN a run that claimed the next window and died before dispatching
    states = harness.bookkeeping
    mark = states.get_dispatcher_mark()
    t1 = T0 + timedelta(minutes=1)
    assert states.claim_window(mark, schedule.format_ts(T0), schedule.format_ts(t1), lease_s=-1)
    # WHEN the next tick runs after that run's lease, THEN both minutes are covered
    t2 = T0 + timedelta(minutes=2)
    harness.tick(t2)
    got = harness.captured.take()
    assert {t for t, _ in got} == set(ids)
    assert all(schedule.parse_ts(s) > T0 for _, s in got)


def test_a_pending_alert_left_by_a_crashed_probe_is_sent_by_the_next_tick(
    harness: Harness, alerts: Alerts
) -> None:
    # (on a fixed clock at T0: the pending alert is 5 minutes old, the fresh one new)
    created = T0 - timedelta(minutes=5)
    alert = Alert(
        alert_id=alert_id_for("mx1", AlertEvent.DOWN, "2026-11-25T14:55:00Z"),
        event=AlertEvent.DOWN,
        target_id="mx1",
        status="down",
        created_at=schedule.format_ts(created),
        target={
            "target_id": "mx1",
            "name": "mx1",
            "host": "mx1.example.com",
            "port": 587,
            "tags": {},
        },
    )
    state = TargetState(
        "mx1", status=TargetStatus.DOWN, pending_alert=alert.to_dict(), alerted=True, version=1
    )
    assert harness.states.save_state(state)
    # A fresh one (its probe may still be publishing it) is left alone.
    fresh = Alert.from_dict(
        alert.to_dict()
        | {
            "alert_id": "fresh",
            "target_id": "mx2",
            "created_at": schedule.format_ts(T0),
        }
    )
    assert harness.states.save_state(TargetState("mx2", pending_alert=fresh.to_dict(), version=1))
    sink = SnsAlertSink(boto3.client("sns", region_name=REGION), alerts.topic_arn)
    dispatcher = harness.new_dispatcher(clock=T0.timestamp, sink=sink)
    summary = dispatcher.run(T0, lease_s=62).summary()
    assert summary["alerts_resent"] == 1
    docs = alerts.documents(alerts.drain())
    assert [(d["event"], d["alert_id"]) for d in docs] == [("down", alert.alert_id)]
    after = harness.states.get_state("mx1")
    assert after is not None and after.pending_alert is None and after.version == 2
    assert after.last_alert_event == "down"
    # AND the Lambda handler (its own sink, the real clock, long past T0) resends the
    # other one on its next tick: the handler wires the topic for these resends
    assert (
        dispatcher_module.handler(_event(T0 + timedelta(minutes=1)), harness.ctx)["alerts_resent"]
        == 1
    )
    assert [d["alert_id"] for d in alerts.documents(alerts.drain())] == ["fresh"]


def test_tick_counters_count_dispatched_probes_per_bucket(harness: Harness) -> None:
    ids = [f"t{i}" for i in range(12)]
    harness.targets.put_items(
        [{"target_id": t, "host": "h.example.com", "interval_s": 60} for t in ids]
    )
    harness.tick(T0)
    buckets = Counter(tick_bucket(s) for _, s in harness.captured.take())
    assert buckets == {schedule.format_ts(T0): 12}
    counts = harness.bookkeeping.add_tick_failure(schedule.format_ts(T0))
    assert counts.dispatched == 12 and counts.failures == 1


def test_tick_bucket_rounds_up_to_the_minute() -> None:
    assert tick_bucket("2026-11-25T15:00:00Z") == "2026-11-25T15:00:00Z"
    assert tick_bucket("2026-11-25T14:59:01Z") == "2026-11-25T15:00:00Z"
    assert tick_bucket("2026-11-25T14:59:59Z") == "2026-11-25T15:00:00Z"


def test_the_scheduled_event_file_drives_a_tick(
    harness: Harness, event_file: Callable[[str], dict[str, Any]]
) -> None:
    harness.targets.put_items([{"target_id": "mx1", "host": "h.example.com", "interval_s": 60}])
    summary = dispatcher_module.handler(event_file("scheduled_tick.json"), harness.ctx)
    assert summary["window"] == ["2026-11-25T14:59:00Z", "2026-11-25T15:00:00Z"]
    assert [t for t, _ in harness.captured.take()] == ["mx1"]


def _emf(stdout: str) -> dict[str, float]:
    """Metric values from the EMF JSON lines Powertools prints."""
    values: dict[str, float] = {}
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{") or "_aws" not in line:
            continue
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = doc[metric["Name"]]
                values[metric["Name"]] = value[-1] if isinstance(value, list) else value
    return values


def test_each_probe_event_carries_its_target_item_as_scanned_unless_it_cannot(
    harness: Harness,
) -> None:
    from smtpwatch.adapters.lambda_invoker import MAX_TARGET_JSON

    ddb = boto3.client("dynamodb", region_name=REGION)
    table = harness.tables["TargetsTable"]
    # GIVEN items of every JSON-able type (a string set must come back a string set),
    # one with a binary attribute, one nesting a binary value, and one too big
    full = {
        "target_id": {"S": "full"},
        "host": {"S": "mx.example.com"},
        "port": {"N": "587"},
        "interval_s": {"N": "60"},
        "enabled": {"BOOL": True},
        "name": {"NULL": True},
        "dns_hosts": {"L": [{"S": "192.0.2.25 mx.example.com"}]},
        "tags": {"M": {"team": {"S": "mail"}, "tier": {"N": "1"}}},
        "note_set": {"SS": ["a", "b"]},
    }
    plain = {"target_id": {"S": "plain"}, "host": {"S": "mx.example.com"}}
    blob = plain | {"target_id": {"S": "blob"}, "logo": {"B": b"\x89PNG"}}
    nested = plain | {
        "target_id": {"S": "nested"},
        "tags": {"M": {"k": {"L": [{"BS": [b"\x00"]}]}}},
    }
    big = plain | {"target_id": {"S": "big"}, "notes": {"S": "x" * MAX_TARGET_JSON}}
    for item in (full, plain, blob, nested, big):
        ddb.put_item(TableName=table, Item=item)
    # WHEN a tick dispatches them all
    summary = harness.tick(T0)
    assert summary["dispatched"] == 5 and summary["failed"] == 0
    got = harness.captured.payloads()
    # THEN each JSON-able item travels exactly as a low-level read returns it
    for tid in ("full", "plain"):
        stored = ddb.get_item(TableName=table, Key={"target_id": {"S": tid}})["Item"]
        assert got[tid]["target"] == stored
        assert set(got[tid]) == {"target_id", "scheduled_at", "target"}
    assert got["full"]["target"]["note_set"] == {"SS": ["a", "b"]}
    # AND an item JSON cannot carry, or one over 16 KiB, goes as before: the probe reads it
    for tid in ("blob", "nested", "big"):
        assert set(got[tid]) == {"target_id", "scheduled_at"}, tid


def test_the_dispatcher_reads_the_targets_table_with_one_scan_per_segment(
    harness: Harness,
) -> None:
    # Carrying the items costs no read: the targets table is scanned once, as before.
    harness.targets.put_items(
        [{"target_id": f"t{i}", "host": "h.example.com", "interval_s": 60} for i in range(30)]
    )
    _, dispatcher = dispatcher_module._runtime()
    calls: list[tuple[str, str]] = []
    client = boto3.client("dynamodb", region_name=REGION)
    client.meta.events.register(
        "provide-client-params.dynamodb.*",
        lambda params, model, **_: calls.append((model.name, params.get("TableName", ""))),
    )

    d = Dispatcher(
        targets=DynamoTargetStore(client, harness.tables["TargetsTable"], scan_segments=4),
        states=DynamoStateStore(client, harness.tables["StateTable"]),
        bookkeeping=DynamoBookkeeping(client, harness.tables["StateTable"]),
        invoker=dispatcher.invoker,
        sink=None,
        settle=functools.partial(
            settle_episode,
            DynamoBookkeeping(client, harness.tables["StateTable"]),
            DynamoStateStore(client, harness.tables["StateTable"]),
            [],
        ),
        workers=8,
        scan_segments=4,
    )
    report = d.run(T0)
    assert report.dispatched == 30
    on_targets = [name for name, table in calls if table == harness.tables["TargetsTable"]]
    assert on_targets == ["Scan"] * 4
    assert all("target" in e for e in harness.captured.payloads().values())


def test_the_handler_runs_the_monitor_degraded_housekeeping_with_its_topic(
    harness: Harness, alerts: Alerts
) -> None:
    # GIVEN a tick in which 7 of 10 probes failed and no check began the episode
    books = harness.bookkeeping
    bucket = schedule.format_ts(T0)
    books.record_dispatched(bucket, 10)
    for _ in range(7):
        books.add_tick_failure(bucket)
    # WHEN the Lambda handler runs the next tick
    harness.tick(T0 + timedelta(minutes=1))
    # THEN its housekeeping began the episode and sent one degraded alert to its topic
    assert [d["event"] for d in alerts.documents(alerts.drain())] == ["degraded"]
    episode = books.get_episode()
    assert episode is not None and episode.open and episode.since == bucket
