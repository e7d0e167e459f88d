"""Benchmark: how soon a slot checked from 3 locations gets its verdict.

    .venv-test311/bin/python bench/decision.py [--slots 40] [--backends moto,ddb-local]
        [--call-ms 0,6,80] [--sweep-slots 1000] [--count]

moto runs no Lambda code, so this runs the vote path in-process: the real
``service.vote.cast_vote`` with the real DynamoDB stores (votes, state, results, location
health, tick gate), wired as the probe handler wires a check, against a moto server (own
process) and DynamoDB Local (AWS's emulator, java), both on loopback. Each location probes
a real loopback SMTP server (aiosmtpd); a failing location's host resolves to 127.0.0.2,
where nothing listens. ``--call-ms`` adds a wait before every DynamoDB request (in the
client, like a network round trip): 0 is the emulator alone, 6 an in-region call, 80 a
probe region's call to the home region's tables.

1. Last vote -> verdict: per slot, the dispatcher's open slot, two locations' votes, then
   the third location's ``cast_vote``; timed from the moment its probe returns (its vote
   exists) to ``cast_vote`` returning with the slot decided (claim, votes read, verdict
   applied: result stored, state saved, alert published). Slots alternate: passing
   (nothing changes), 2 of 3 failing (DOWN), passing (RECOVERED). Also: the three votes
   at once from three threads (two deciders may race; one claims). Goal: <= 2 s.
2. Silent location -> verdict: ``--sweep-slots`` open slots past their deadline with
   2 of 3 votes each; the real dispatcher handler's sweep decides them (DynamoDB Local
   behind a 20 ms endpoint). The deadline passes just after a tick in the worst case, so
   the verdict comes at the next tick (60 s) plus the time that tick takes to sweep.
   Goal: <= 70 s.
``--count``: AWS calls, write/read units (by DynamoDB's item-size rules) and HTTP bytes
per vote and per decision, the figures ``bench/cost.py --locations`` uses.
Figures are printed, never asserted. Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "aws"), str(ROOT / "functions"), str(ROOT / "bench")]

HOME = "us-east-1"
LOCATIONS = (HOME, "eu-west-1", "ap-southeast-2")
GOAL_LAST_VOTE_S = 2.0
GOAL_SILENT_S = 70.0
TICK_S = 60.0


# --------------------------------------------------------------------------- backends


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in its own process on a port it picks (port 0)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url = match.group(1)
        if url is None:
            raise RuntimeError("moto server did not start")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain its log
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def backend(kind: str) -> Iterator[str]:
    if kind == "moto":
        with moto_server() as url:
            yield url
    else:
        from dynamodb_local import running_dynamodb_local

        with running_dynamodb_local() as url:
            yield url


# --------------------------------------------------------------------------- counting


@dataclass
class Calls:
    """What the DynamoDB client sent: per operation, calls, write/read units (DynamoDB's
    item-size rules, as bench/cost.py counts them) and HTTP bytes (request, response)."""

    wait_s: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)

    def install(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-send.dynamodb", self._before_send)
        events.register("after-call.dynamodb", self._after_call)
        events.register("after-call-error.dynamodb", self._after_error)

    def mark(self) -> int:
        with self.lock:
            return len(self.log)

    def since(self, mark: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.log[mark:])

    def _before_send(self, request: Any, **_: Any) -> None:
        if self.wait_s:
            time.sleep(self.wait_s)
        body = request.body or b""
        head = sum(len(k) + len(str(v)) + 4 for k, v in request.headers.items())
        self.local.request_bytes = head + len(body) + len(request.url) + 20

    def _after_call(self, http_response: Any, parsed: Any, model: Any, **kw: Any) -> None:
        self._record(model.name, kw.get("context") or {}, http_response, parsed, None)

    def _after_error(self, exception: Any = None, context: Any = None, **kw: Any) -> None:
        pass

    def record_params(self, op: str, params: dict[str, Any]) -> None:
        self.local.params = (op, params)

    def _record(self, op: str, context: Any, http_response: Any, parsed: Any, error: Any) -> None:
        from cost import item_size

        params: dict[str, Any] = getattr(self.local, "params", (op, {}))[1]
        response_bytes = len(http_response.content or b"") + sum(
            len(k) + len(str(v)) + 4 for k, v in http_response.headers.items()
        )
        failed = bool(parsed.get("Error")) if isinstance(parsed, dict) else False
        wru = rru = 0.0
        factor = 1.0 if params.get("ConsistentRead") else 0.5
        if op == "PutItem":
            wru = max(1, math.ceil(item_size(params.get("Item", {})) / 1024))
        elif op in ("DeleteItem", "UpdateItem"):
            wru = 1.0  # the items here are < 1 KB
        elif op == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for req in requests:
                    item = req.get("PutRequest", {}).get("Item", {})
                    wru += max(1, math.ceil(item_size(item) / 1024))
        elif op == "GetItem" and isinstance(parsed, dict):
            rru = max(1, math.ceil(item_size(parsed.get("Item") or {}) / 4096)) * factor
        elif op in ("Query", "Scan") and isinstance(parsed, dict):
            size = sum(item_size(it) for it in parsed.get("Items", []))
            rru = max(1, math.ceil(size / 4096)) * factor
        with self.lock:
            self.log.append(
                {
                    "op": op,
                    "failed": failed,
                    "wru": wru,
                    "rru": rru,
                    "request_bytes": getattr(self.local, "request_bytes", 0),
                    "response_bytes": response_bytes,
                    "item_bytes": item_size(params.get("Item", {})) if op == "PutItem" else 0,
                    "table": str(params.get("TableName", "")),
                    "health": _key(params).startswith("#location#"),
                }
            )

    def install_params(self, client: Any) -> None:
        def grab(params: dict[str, Any], model: Any, **_: Any) -> None:
            self.record_params(model.name, params)

        client.meta.events.register("before-parameter-build.dynamodb", grab)


def _key(params: dict[str, Any]) -> str:
    key = (params.get("Key") or params.get("Item") or {}).get("target_id") or {}
    return str(key.get("S", "")) if isinstance(key, dict) else ""


def summed(all_calls: list[dict[str, Any]]) -> dict[str, float]:
    """Calls, units, bytes; a location's health read apart (``health_calls``): a process
    reads it once per location and slot minute, here every vote (one target, each slot
    a new minute), in production once for all the targets of that minute."""
    calls = [c for c in all_calls if not c["health"]]
    return {
        "health_calls": float(len(all_calls) - len(calls)),
        "calls": float(len(calls)),
        "wru": sum(c["wru"] for c in calls),
        "rru": sum(c["rru"] for c in calls),
        "request_bytes": float(sum(c["request_bytes"] for c in calls)),
        "response_bytes": float(sum(c["response_bytes"] for c in calls)),
        "vote_item_bytes": float(sum(c["item_bytes"] for c in calls if c["op"] == "PutItem")),
    }


# --------------------------------------------------------------------------- the world


class World:
    """One target checked from LOCATIONS against a backend; the stores as the probe
    handler wires them (one set per location, like one warm container each)."""

    def __init__(self, endpoint: str, calls: Calls, server_port: int) -> None:
        import boto3
        from template_tables import create_tables

        from smtpwatch.adapters.dynamodb import (
            DynamoBookkeeping,
            DynamoLocationHealthStore,
            DynamoResultStore,
            DynamoStateStore,
            DynamoVoteStore,
        )
        from smtpwatch.adapters.tick_gate import TickGate
        from smtpwatch.core.probe import ProbeEnvironment
        from smtpwatch.core.target import Target
        from smtpwatch.service.location_health import LocationWatch

        self.ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=HOME)
        self.tables = create_tables(self.ddb, prefix=f"b{int(time.time() * 1000) % 10**8}")
        calls.install_params(self.ddb)
        calls.install(self.ddb)
        self.calls = calls
        self.sinks = [MemorySink(calls)]
        t = self.tables
        self.states = DynamoStateStore(self.ddb, t["StateTable"])
        self.results = DynamoResultStore(self.ddb, t["ResultsTable"], retention_s=30 * 86400)
        self.votes = DynamoVoteStore(self.ddb, t["StateTable"], t["ResultsTable"])
        self.gate = TickGate(DynamoBookkeeping(self.ddb, t["StateTable"]), self.sinks)
        self.watches = {
            loc: LocationWatch(DynamoLocationHealthStore(self.ddb, t["StateTable"]), self.sinks)
            for loc in LOCATIONS
        }
        self.envs = {loc: ProbeEnvironment(location=loc) for loc in LOCATIONS}
        host = "mx.bench.example"
        common = {
            "target_id": "bench",
            "host": host,
            "port": server_port,
            "encryption": "none",
            "failures_before_alert": 1,
            "recheck_delay_s": 0,
        }
        self.passing = Target.from_item(common | {"dns_hosts": [f"127.0.0.1 {host}"]}, strict=True)[
            0
        ]
        self.failing = Target.from_item(common | {"dns_hosts": [f"127.0.0.2 {host}"]}, strict=True)[
            0
        ]
        self.probe_done: dict[str, float] = {}
        self.local = threading.local()
        # Slots from the next minute on: a slot's deadline is still ahead while its votes
        # come in (a vote past the deadline decides at once, silent locations or not).
        self.base = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)

    def deps(self, location: str) -> Any:
        """CheckDeps as the probe handler builds them for a vote (the state read first,
        eventually consistent, then handed over)."""
        from smtpwatch.adapters.dynamodb.probe_read import PrereadStates
        from smtpwatch.service.check import CheckDeps, default_probe_fn

        state = self.states.get_state("bench", consistent=False)
        real = default_probe_fn(self.envs[location])

        def probe(target: Any, password: Any, **kw: Any) -> Any:
            c0 = time.thread_time()
            try:
                return real(target, password, **kw)
            finally:
                self.probe_done[location] = time.perf_counter()
                self.local.probe_cpu = getattr(self.local, "probe_cpu", 0.0) + (
                    time.thread_time() - c0
                )

        return CheckDeps(
            states=PrereadStates(self.states, "bench", state),
            results=self.results,
            sinks=self.sinks,
            probe_fn=probe,
            gate=self.gate,
            passing_result_every_s=3600,
        )

    def open(self, scheduled_at: str) -> None:
        from smtpwatch.core.locations import OpenSlot

        self.votes.open_slot(OpenSlot("bench", scheduled_at, LOCATIONS, _deadline(scheduled_at)))

    def vote(self, location: str, scheduled_at: str, fail: bool) -> Any:
        """``cast_vote`` as the probe handler calls it; ``self.local.cpu``: this thread's
        CPU for it, the probe's own CPU left out (the client's cost of the vote)."""
        self.local.probe_cpu = 0.0
        c0 = time.thread_time()
        try:
            return self._vote(location, scheduled_at, fail)
        finally:
            self.local.cpu = time.thread_time() - c0 - self.local.probe_cpu

    def _vote(self, location: str, scheduled_at: str, fail: bool) -> Any:
        from smtpwatch.service.vote import cast_vote

        return cast_vote(
            self.failing if fail else self.passing,
            scheduled_at=scheduled_at,
            expected=LOCATIONS,
            deadline=_deadline(scheduled_at),
            deps=self.deps(location),
            votes=self.votes,
            location=location,
            watch=self.watches[location],
        )


class MemorySink:
    """The alert topic stands in: alerts are kept; each publish waits as a call does."""

    def __init__(self, calls: Calls) -> None:
        self.alerts: list[Any] = []
        self._calls = calls

    def send(self, alert: Any) -> None:
        if self._calls.wait_s:
            time.sleep(self._calls.wait_s)
        self.alerts.append(alert)


def _deadline(scheduled_at: str) -> str:
    moment = datetime.strptime(scheduled_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (moment + timedelta(seconds=30 + 10 + 30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slot(base: datetime, n: int) -> str:
    return (base + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- 1. last vote


CYCLE = ("pass", "pass", "fail", "pass")  # steady, steady, DOWN (2 of 3 fail), RECOVERED


def last_vote(world: World, slots: int, start: int, *, concurrent: bool) -> dict[str, Any]:
    """Per slot: open it, the votes, the time from the last probe's end to the verdict
    (by what the verdict did: steady, down, recovered)."""
    latencies: dict[str, list[float]] = {}
    undecided = claims = 0
    per_vote: list[dict[str, float]] = []
    per_last: dict[str, list[dict[str, float]]] = {}
    for i in range(slots):
        kind = CYCLE[i % len(CYCLE)]
        scheduled_at = _slot(world.base, start + i)
        world.open(scheduled_at)
        fails = set(LOCATIONS[1:]) if kind == "fail" else set()
        outcomes: dict[str, Any] = {}
        ends: dict[str, float] = {}
        if concurrent:
            mark = world.calls.mark()
            outcomes, ends = _at_once(world, scheduled_at, frozenset(fails))
            claims += sum(1 for c in world.calls.since(mark) if c["op"] == "DeleteItem")
        else:
            for loc in LOCATIONS:
                mark = world.calls.mark()
                outcomes[loc] = world.vote(loc, scheduled_at, loc in fails)
                ends[loc] = time.perf_counter()
                counted = summed(world.calls.since(mark)) | {"cpu_ms": world.local.cpu * 1000}
                if outcomes[loc].decision is None:
                    per_vote.append(counted)
                else:
                    claims += 1
                    alert = outcomes[loc].decision.alert
                    per_last.setdefault("steady" if alert is None else "change", []).append(counted)
        deciders = [loc for loc, o in outcomes.items() if o.decision is not None]
        if len(deciders) != 1:
            undecided += 1
            continue
        decision = outcomes[deciders[0]].decision
        label = "steady" if decision.alert is None else decision.alert.event.value
        last_probe = max(world.probe_done[loc] for loc in LOCATIONS)
        latencies.setdefault(label, []).append(ends[deciders[0]] - last_probe)
    return {
        "latencies": latencies,
        "undecided": undecided,
        "claims": claims,
        "per_vote": per_vote,
        "per_last": per_last,
        "alerts": len(world.sinks[0].alerts),
    }


def _at_once(
    world: World, scheduled_at: str, fails: frozenset[str]
) -> tuple[dict[str, Any], dict[str, float]]:
    """The three locations' votes from three threads released together."""
    barrier = threading.Barrier(len(LOCATIONS))
    outcomes: dict[str, Any] = {}
    ends: dict[str, float] = {}

    def run(loc: str) -> None:
        barrier.wait()
        outcomes[loc] = world.vote(loc, scheduled_at, loc in fails)
        ends[loc] = time.perf_counter()

    threads = [threading.Thread(target=run, args=(loc,)) for loc in LOCATIONS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes, ends


# --------------------------------------------------------------------------- 2. silent


def sweep(n_slots: int, n_targets: int, call_ms: float) -> dict[str, Any]:
    """``n_targets`` targets due, ``n_slots`` of them with one open slot past its deadline
    and the votes of two of three locations; then one real dispatcher tick."""
    import boto3
    from dynamodb_local import running_dynamodb_local

    from dispatch import _Ctx, _seed
    from dispatch_locations import Stack
    from smtpwatch.adapters.dynamodb import DynamoVoteStore
    from smtpwatch.core.locations import OpenSlot
    from smtpwatch.core.result import ProbeResult

    with running_dynamodb_local() as endpoint:
        names = _seed(endpoint, max(n_slots, n_targets))
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=HOME)
        votes = DynamoVoteStore(ddb, names["StateTable"], names["ResultsTable"])
        tick = datetime.now(UTC).replace(second=0, microsecond=0)
        slot_at = (tick - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        deadline = (tick - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ids = [f"target-{i:05d}" for i in range(n_slots)]
        slots = [OpenSlot(t, slot_at, LOCATIONS, deadline) for t in ids]
        opener = getattr(votes, "open_slots", None)
        if opener is not None:
            opener(slots)
        else:
            for slot in slots:
                votes.open_slot(slot)
        doc = _sample_result()
        for t in ids:
            for loc in LOCATIONS[:2]:
                result = ProbeResult.from_dict(doc | {"target_id": t, "location": loc})
                votes.put_vote(t, slot_at, result)
        stack = Stack(endpoint, names, list(LOCATIONS), home_ms=call_ms, cross_ms=80)
        try:
            os.environ.update(
                AWS_ENDPOINT_URL=stack.url,
                TARGETS_TABLE=names["TargetsTable"],
                STATE_TABLE=names["StateTable"],
                RESULTS_TABLE=names["ResultsTable"],
                PROBE_FUNCTION_NAME="bench-probe",
                SMTPWATCH_PROBE_REGIONS=",".join(LOCATIONS[1:]),
                SMTPWATCH_PROBE_FUNCTION_PREFIX="bench-probe-",
                POWERTOOLS_LOG_LEVEL="WARNING",
                POWERTOOLS_METRICS_NAMESPACE="Smtpwatch",
                POWERTOOLS_SERVICE_NAME="smtpwatch",
            )
            from smtpwatch.handlers import dispatcher

            event = {"source": "aws.events", "time": tick.strftime("%Y-%m-%dT%H:%M:%SZ")}
            devnull = open(os.devnull, "w")  # noqa: SIM115 - the EMF line is not the figure
            real_stdout, sys.stdout = sys.stdout, devnull
            wall0, t0 = time.time(), time.perf_counter()
            try:
                summary: dict[str, Any] = dispatcher.handler(event, _Ctx())
            finally:
                sys.stdout = real_stdout
                devnull.close()
            elapsed = time.perf_counter() - t0
            settled = stack.settle()
        finally:
            stack.close()
        left = sum(votes.claim(t, slot_at) for t in ids)  # still open: not decided
        sh = stack.shared
        # The home function ran the home relays too: their CPU as a probe region's relays.
        relay_cpu = sh.cpu[1] / max(sh.probes[1], 1) * sh.probes[0]
        home = {
            "events": sh.decides[0],
            "accepted_s": sh.decide_last[0] - wall0,
            "decided_s": sh.decided_last[0] - wall0,
            "failed": sh.failed[0],
            "cpu_s": max(0.0, sh.cpu[0] - relay_cpu),
            "settled": settled,
        }
    return {
        "summary": summary,
        "elapsed": elapsed,
        "home": home,
        "left_open": left,
    }


def _sample_result() -> dict[str, Any]:
    from dispatch import _last_result

    doc = _last_result()
    doc.pop("schema_version", None)
    return doc


# --------------------------------------------------------------------------- main


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return (
        f"median {statistics.median(values) * 1000:7.1f} ms, p95 {p95 * 1000:7.1f} ms, "
        f"max {max(values) * 1000:7.1f} ms (n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--slots", type=int, default=40, help="slots per backend and latency")
    parser.add_argument("--backends", default="moto,ddb-local")
    parser.add_argument("--call-ms", default="0,6,80", help="wait before each DynamoDB call")
    parser.add_argument("--sweep-slots", type=int, default=1000, help="0: skip the sweep")
    parser.add_argument("--sweep-targets", type=int, default=1000, help="due in that tick")
    parser.add_argument("--sweep-call-ms", type=float, default=20.0)
    parser.add_argument("--count", action="store_true", help="calls, units, bytes per vote")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=HOME,
        AWS_REGION=HOME,
        AWS_EC2_METADATA_DISABLED="true",
    )
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(name, None)
    from smtpwatch.testing.servers import SmtpServer

    waits = [float(x) for x in args.call_ms.split(",") if x.strip()]
    worst_last = 0.0
    server = SmtpServer("127.0.0.1").start()
    try:
        for kind in [b.strip() for b in args.backends.split(",") if b.strip()]:
            with backend(kind) as endpoint:
                calls = Calls()
                world = World(endpoint, calls, server.port)
                world.vote  # noqa: B018 - the first slot warms the clients up below
                start = 0
                last_vote(world, 2, start, concurrent=False)
                start += 2
                for wait in waits:
                    calls.wait_s = wait / 1000
                    for concurrent in (False, True):
                        r = last_vote(world, args.slots, start, concurrent=concurrent)
                        start += args.slots
                        how = "3 votes at once" if concurrent else "one after another"
                        print(
                            f"{kind:<9} +{wait:g} ms/call, {how}: last vote -> verdict "
                            f"(claims {r['claims']} for {args.slots} slots, undecided "
                            f"{r['undecided']}, alerts so far {r['alerts']})"
                        )
                        for label, values in sorted(r["latencies"].items()):
                            print(f"    {label:<10} {_ms(values)}")
                            worst_last = max(worst_last, max(values))
                        if args.count and not concurrent and wait == waits[0]:
                            _print_counts(r)
    finally:
        server.stop()
    if worst_last:
        print(
            f"goal: last vote -> verdict <= {GOAL_LAST_VOTE_S:g} s: worst {worst_last:.3f} s "
            f"({worst_last / GOAL_LAST_VOTE_S:.2f}x) -> "
            f"{'met' if worst_last <= GOAL_LAST_VOTE_S else 'NOT met'}"
        )
    if args.sweep_slots:
        _report_sweep(args, sweep(args.sweep_slots, args.sweep_targets, args.sweep_call_ms))
    return 0


def _report_sweep(args: argparse.Namespace, s: dict[str, Any]) -> None:
    from cost import FULL_VCPU_MB, template_defaults
    from smtpwatch.handlers.probe_batches import DECIDE_WORKERS

    summary, home = s["summary"], s["home"]
    phases = summary.get("phase_ms") or {}
    print(
        f"sweep: {args.sweep_slots} expired slots (2 of 3 votes each) in a tick that also "
        f"dispatches {summary.get('due')} targets x 3 locations, DynamoDB Local + "
        f"{args.sweep_call_ms:g} ms per call: the dispatcher's tick {s['elapsed']:.2f} s "
        f"(its sweep phase {phases.get('sweep', 0) / 1000:.2f} s); {home['events']} decide "
        f"events to the home function, the last accepted {home['accepted_s']:.2f} s after the "
        f"tick, the last verdict {home['decided_s']:.2f} s after it ({home['failed']} failed); "
        f"slots still open: {s['left_open']}"
    )
    print("  dispatcher summary:", {k: v for k, v in summary.items() if k != "phase_ms"})
    print("  dispatcher phases (ms):", {k: round(v) for k, v in phases.items()})
    per_slot = home["cpu_s"] / max(args.sweep_slots, 1)
    memory = template_defaults()["probe_memory_mb"]
    scale = max(1.0, FULL_VCPU_MB / memory)
    events = max(home["events"], 1)
    slots = args.sweep_slots / events
    calls = 4  # claim, the votes, the state, (a silent location's health)
    decide_s = slots * per_slot * scale + math.ceil(slots / DECIDE_WORKERS) * calls * (
        args.sweep_call_ms / 1000
    )
    here = TICK_S + home["decided_s"]
    aws = TICK_S + home["accepted_s"] + decide_s
    print(
        f"  deciding: {per_slot * 1000:.2f} ms of CPU per slot here; one decide event of "
        f"{slots:.0f} slots on AWS ({memory} MB, {scale:.1f}x slower CPU, {DECIDE_WORKERS} at "
        f"once) ~ {decide_s:.2f} s"
    )
    print(
        f"goal: silent location, deadline -> verdict <= {GOAL_SILENT_S:g} s. Worst case: the "
        f"deadline passes just after a tick; the next tick ({TICK_S:g} s) sends the slot to "
        f"be decided: here {TICK_S:g} + {home['decided_s']:.2f} = {here:.1f} s "
        f"({here / GOAL_SILENT_S:.2f}x, {'met' if here <= GOAL_SILENT_S else 'NOT met'}); "
        f"on AWS (decide events in parallel functions) {TICK_S:g} + {home['accepted_s']:.2f} "
        f"+ {decide_s:.2f} = {aws:.1f} s ({aws / GOAL_SILENT_S:.2f}x, "
        f"{'met' if aws <= GOAL_SILENT_S else 'NOT met'})"
    )


def _print_counts(r: dict[str, Any]) -> None:
    def mean(rows: list[dict[str, float]]) -> dict[str, float]:
        keys = rows[0].keys() if rows else ()
        return {k: statistics.mean(row[k] for row in rows) for k in keys}

    def line(values: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in values.items())

    vote = mean(r["per_vote"])
    print("    counted per vote of a location that does not decide (the handler's state read")
    print(f"    included): {line(vote)}")
    for label, rows in sorted(r["per_last"].items()):
        last = mean(rows)
        what = "nothing changes" if label == "steady" else "the state changes, an alert"
        print(f"    the deciding vote, {what}: {line(last)}")
        if vote:
            print(f"      its decision alone: {line({k: last[k] - vote[k] for k in vote})}")


if __name__ == "__main__":
    raise SystemExit(main())
