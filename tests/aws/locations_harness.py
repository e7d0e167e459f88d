"""Three regions in moto, the real handlers, and a fault per location made by the test.

``deploy(name, probe_regions)`` creates the translated home stack in ``HOME`` and one
``infra/probe-region.yaml`` stack per probe region, and subscribes an SQS queue to the
alert topic. ``World`` runs ticks: the real dispatcher handler with the home stack's
environment; every invoke (recorded by moto's Lambda, which runs no code: the
dispatcher's, a relay's) is handed to the real probe handler with THAT region's
function environment and runtime, until none is left. The test makes a location's
network fail (``misroute``: the host resolves to 127.0.0.2, where nothing listens) or
go silent (``silence``: its invokes never run), and holds, repeats or races invokes."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from template_tables import TEMPLATE, load_template

from conftest import Alerts, LambdaContext
from smtpwatch.adapters.dynamodb import to_item
from smtpwatch.core.resolve import AddressResolver
from smtpwatch.core.resolve.answers import Resolution, ResolvedAddress
from smtpwatch.handlers import dispatcher as dispatcher_module
from smtpwatch.handlers import probe as probe_module
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates

__all__ = [
    "ACCOUNT",
    "HOME",
    "LOCATIONS",
    "PROBE_REGIONS",
    "REGION_TEMPLATE",
    "Deployment",
    "Invoke",
    "Misroute",
    "RegionStack",
    "SimClock",
    "Tick",
    "World",
    "cli",
    "deploy",
    "email_text",
    "state_ids",
    "stored_results",
    "target_fields",
]

ACCOUNT = "123456789012"  # moto's default account
HOME = "us-east-1"
PROBE_REGIONS = ("eu-west-1", "ap-southeast-2")
LOCATIONS = (HOME, *PROBE_REGIONS)
REGION_TEMPLATE = TEMPLATE.parent / "infra" / "probe-region.yaml"
CODE_BUCKET = "smtpwatch-locations-code"
CODE_KEY = "functions.zip"
UNREACHABLE = "127.0.0.2"  # loopback, but the test servers listen on 127.0.0.1 only


# --------------------------------------------------------------------------- stacks


def _translate(template: dict[str, Any], region: str) -> dict[str, Any]:
    """SAM -> CloudFormation as ``sam deploy`` does it, the code at an s3:// URI."""
    sam = copy.deepcopy(template)
    sam.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = (
        f"s3://{CODE_BUCKET}/{CODE_KEY}"
    )
    for resource in sam.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            properties.pop("CodeUri", None)  # the Globals one applies
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = f"s3://{CODE_BUCKET}/{CODE_KEY}"
    session = boto3.session.Session(region_name=region)
    translated: dict[str, Any] = Translator({}, Parser(), boto_session=session).translate(
        sam, parameter_values={}, get_managed_policy_map=lambda: {}
    )
    return translated


def _upload_code() -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("smtpwatch/__init__.py", "")
    s3 = boto3.client("s3", region_name=HOME)
    s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=buf.getvalue())


@dataclass
class RegionStack:
    """A created stack in one region: its physical resources and outputs."""

    name: str
    region: str
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id

    @classmethod
    def create(
        cls, name: str, region: str, template: dict[str, Any], parameters: dict[str, str]
    ) -> RegionStack:
        cfn = boto3.client("cloudformation", region_name=region)
        cfn.create_stack(
            StackName=name,
            TemplateBody=json.dumps(_translate(template, region)),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
        desc = cfn.describe_stacks(StackName=name)["Stacks"][0]
        assert desc["StackStatus"] == "CREATE_COMPLETE", desc.get("StackStatusReason")
        return cls(
            name=name,
            region=region,
            outputs={o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])},
            resources={
                r["LogicalResourceId"]: str(r["PhysicalResourceId"])
                for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
            },
        )

    def physical(self, logical_id: str) -> str:
        return self.resources[logical_id]

    def function_env(self, function_name: str) -> dict[str, str]:
        lam = boto3.client("lambda", region_name=self.region)
        config = lam.get_function(FunctionName=function_name)["Configuration"]
        return {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}


def _region_parameters(template: dict[str, Any], home: RegionStack) -> dict[str, str]:
    """The probe-region stack's parameters, from the home stack as a user copies them."""
    known = {
        "HomeStackName": home.name,
        "HomeRegion": home.region,
        "TargetsTable": home.physical("TargetsTable"),
        "TargetsTableName": home.physical("TargetsTable"),
        "StateTable": home.physical("StateTable"),
        "StateTableName": home.physical("StateTable"),
        "ResultsTable": home.physical("ResultsTable"),
        "ResultsTableName": home.physical("ResultsTable"),
        "AlertTopicArn": home.physical("AlertTopic"),
        "SecretsPrefix": "/smtpwatch/",
    }
    params = template.get("Parameters", {})
    missing = [p for p, spec in params.items() if p not in known and "Default" not in spec]
    assert not missing, f"probe-region parameters the harness cannot fill: {missing}"
    return {p: known[p] for p in params if p in known}


@dataclass
class Deployment:
    """The home stack, the probe-region stacks and the alert capture."""

    home: RegionStack
    regions: dict[str, RegionStack]  # probe region -> its stack
    alerts: Alerts
    dispatcher_env: dict[str, str]
    probe_env: dict[str, dict[str, str]]  # location -> its probe function's environment
    probe_function: dict[str, str]  # location -> its probe function's name

    @property
    def locations(self) -> tuple[str, ...]:
        return (self.home.region, *self.regions)

    @property
    def tables(self) -> dict[str, str]:
        return {t: self.home.physical(t) for t in ("TargetsTable", "StateTable", "ResultsTable")}

    def table_args(self) -> list[str]:
        t = self.tables
        return [
            "--table", t["TargetsTable"], "--state-table", t["StateTable"],
            "--results-table", t["ResultsTable"], "--region", HOME,
        ]  # fmt: skip


def _alert_capture(topic_arn: str, queue: str) -> Alerts:
    sns = boto3.client("sns", region_name=HOME)
    sqs = boto3.client("sqs", region_name=HOME)
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Alerts(topic_arn=topic_arn, queue_url=queue_url, sqs=sqs, seen=[])


def deploy(name: str = "smtpwatch", probe_regions: Iterable[str] = PROBE_REGIONS) -> Deployment:
    """Deploy inside an active ``mock_aws``: the home stack ``name`` in ``HOME`` (with
    ``ProbeRegions`` when there are any) and one probe-region stack per region."""
    regions = tuple(probe_regions)
    s3 = boto3.client("s3", region_name=HOME)
    if CODE_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        _upload_code()
    params = {"ProbeRegions": ",".join(regions)} if regions else {}
    home = RegionStack.create(name, HOME, load_template(), params)
    alerts = _alert_capture(home.physical("AlertTopic"), f"{name}-alerts-capture")
    probe_function = {HOME: home.physical("ProbeFunction")}
    probe_env = {HOME: home.function_env(probe_function[HOME])}
    stacks: dict[str, RegionStack] = {}
    if regions:
        template = load_template(REGION_TEMPLATE)
        for region in regions:
            stack = RegionStack.create(
                f"{name}-probe-{region}", region, template, _region_parameters(template, home)
            )
            stacks[region] = stack
            fn = f"{name}-probe-{region}"  # the name the dispatcher invokes
            probe_function[region] = fn
            probe_env[region] = stack.function_env(fn)
    return Deployment(
        home=home,
        regions=stacks,
        alerts=alerts,
        dispatcher_env=home.function_env(home.physical("DispatcherFunction")),
        probe_env=probe_env,
        probe_function=probe_function,
    )


# --------------------------------------------------------------------------- faults


class Misroute:
    """A resolver that sends every host to 127.0.0.2: connection refused, in this
    location only (the per-location network fault)."""

    def resolve(self, target: Any, *, timeout: float) -> Resolution:
        return Resolution((ResolvedAddress(UNREACHABLE, "ipv4"),), "dns")


# --------------------------------------------------------------------------- the clock


class SimClock:
    """The simulated wall clock: ticks a minute apart; probes run a second after theirs."""

    def __init__(self, start: datetime | None = None) -> None:
        base = start or datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
        self.tick_at = base
        self._lock = threading.Lock()

    def advance(self, seconds: int = 60) -> datetime:
        with self._lock:
            self.tick_at += timedelta(seconds=seconds)
            return self.tick_at

    def now(self) -> datetime:
        return self.tick_at + timedelta(seconds=1)


def _on_simulated_clock(watch: Any, clock: SimClock) -> None:
    """A location watch (``service.location_health.LocationWatch``) takes its clock when
    the handler builds it, and counts a decided slot's failures in the tick of that
    clock: the simulated one, as the slots' ticks are (the real clock is hours ahead)."""
    assert hasattr(watch, "_now"), "LocationWatch keeps no _now: update the harness"
    watch._now = clock.now


# --------------------------------------------------------------------------- the driver


@dataclass(frozen=True)
class Invoke:
    """One invoke the dispatcher sent: the region and function moto found, the event."""

    region: str
    function: str
    event: dict[str, Any]

    @property
    def check(self) -> bool:
        """A probe event (one target's slot), not a relay or decide batch."""
        return "target_id" in self.event


@dataclass
class Tick:
    """One tick: the dispatcher's summary, what it sent (``sent``: probe events, or with
    probe regions relays and decide batches), every invoke run since (``invokes``: the
    relays' probe events too), the probe events held back, the probes' summaries."""

    at: str
    dispatcher: dict[str, Any]
    sent: list[Invoke]
    invokes: list[Invoke] = field(default_factory=list)
    held: list[Invoke] = field(default_factory=list)
    probes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (location, out)

    @property
    def checks(self) -> list[Invoke]:
        """The probe events (one target's slot each) seen in this tick, held ones too."""
        return [i for i in [*self.invokes, *self.held] if i.check]

    def slot(self, target_id: str) -> str:
        """The ``scheduled_at`` this tick dispatched ``target_id`` for."""
        slots = {
            str(i.event["scheduled_at"]) for i in self.checks if i.event["target_id"] == target_id
        }
        assert len(slots) == 1, (target_id, slots)
        return slots.pop()


_REGION: contextvars.ContextVar[str] = contextvars.ContextVar("probe_region")
_WORLD: contextvars.ContextVar[World] = contextvars.ContextVar("world")
_RECORDING: list[Invoke] | None = None  # while a World lives: every invoke, in order
# The handlers' own runtime factories (functools.cache), as imported: World builds each
# location's runtime with them, then serves it through ``_runtime`` per thread.
_DISPATCHER_FACTORY = dispatcher_module._runtime
_PROBE_FACTORY = probe_module._runtime
_RECORD_LOCK = threading.Lock()


def _recording_invoke(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    """moto's Lambda invoke: the function must exist in THIS region (else the caller
    gets ResourceNotFound, as from Lambda); the event is recorded, no code runs."""
    fn = self.get_function(function_name, qualifier)
    with _RECORD_LOCK:
        if _RECORDING is not None:
            _RECORDING.append(Invoke(self.region_name, fn.function_name, json.loads(body)))
    return b""


def _take_recorded() -> list[Invoke]:
    with _RECORD_LOCK:
        assert _RECORDING is not None, "no World is recording"
        taken = list(_RECORDING)
        _RECORDING.clear()
    return taken


@dataclass
class World:
    """Ticks of one deployment, run by the real handlers (see the module docstring).

    ``fault[location]``: None (the target answers), "refused" (misrouted) or "silent"
    (the location's invokes are recorded but never run)."""

    deployment: Deployment
    mp: pytest.MonkeyPatch
    clock: SimClock = field(default_factory=SimClock)
    fault: dict[str, str | None] = field(default_factory=dict)
    probe_runtimes: dict[str, Any] = field(default_factory=dict)
    dispatcher_runtime: Any = None
    _healthy: dict[str, Any] = field(default_factory=dict)
    _ticks: int = 0

    def __post_init__(self) -> None:
        self.mp.setattr(LambdaSimpleBackend, "invoke", _recording_invoke)
        self.mp.setattr(sys.modules[__name__], "_RECORDING", [])
        self.mp.setattr(dispatcher_module, "_runtime", _dispatcher_runtime)
        self.mp.setattr(probe_module, "_runtime", _probe_runtime)
        token = _WORLD.set(self)
        try:
            with self._env(self.deployment.dispatcher_env, HOME):
                _DISPATCHER_FACTORY.cache_clear()
                self.dispatcher_runtime = _DISPATCHER_FACTORY()
                _DISPATCHER_FACTORY.cache_clear()
            locations = getattr(self.dispatcher_runtime[1], "locations", None)
            if locations is not None and locations.health is not None:
                _on_simulated_clock(locations.health, self.clock)
            for location in self.deployment.locations:
                self.probe_runtimes[location] = self._build_probe_runtime(location)
        finally:
            _WORLD.reset(token)

    # -- environments and runtimes -----------------------------------------------------
    @contextlib.contextmanager
    def _env(self, env: dict[str, str], region: str, function: str = "") -> Iterator[None]:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            mp.setenv("AWS_REGION", region)  # Lambda sets both
            mp.setenv("AWS_DEFAULT_REGION", region)
            if function:
                mp.setenv("AWS_LAMBDA_FUNCTION_NAME", function)
            mp.setenv("SMTPWATCH_ALLOW_LOOPBACK", "1")  # the targets are on loopback
            mp.setenv("SMTPWATCH_INVOKE_MODE", "boto3")  # moto answers botocore's invoke
            yield

    def _build_probe_runtime(self, location: str) -> Any:
        fn = self.deployment.probe_function[location]
        with self._env(self.deployment.probe_env[location], location, fn):
            _PROBE_FACTORY.cache_clear()
            rt = _PROBE_FACTORY()
            _PROBE_FACTORY.cache_clear()
        healthy = AddressResolver()
        self._healthy[location] = healthy
        # The function's own ProbeEnvironment, with a resolver the test controls and the
        # simulated clock (the checks run a second after their tick).
        rt.env.resolver = healthy
        rt.env.now = self.clock.now
        rt.now = self.clock.now
        if getattr(rt, "watch", None) is not None:
            _on_simulated_clock(rt.watch, self.clock)
        return rt

    # -- faults ------------------------------------------------------------------------
    def misroute(self, *locations: str) -> None:
        for location in locations:
            self.fault[location] = "refused"
            self.probe_runtimes[location].env.resolver = Misroute()

    def silence(self, *locations: str) -> None:
        for location in locations:
            self.fault[location] = "silent"

    def heal(self, *locations: str) -> None:
        for location in locations or tuple(self.probe_runtimes):
            self.fault[location] = None
            self.probe_runtimes[location].env.resolver = self._healthy[location]

    # -- targets -----------------------------------------------------------------------
    def put_target(self, target_id: str, fields: dict[str, Any]) -> None:
        ddb = boto3.client("dynamodb", region_name=HOME)
        item = to_item({"target_id": target_id, **fields})
        ddb.put_item(TableName=self.deployment.tables["TargetsTable"], Item=item)

    def delete_target(self, target_id: str) -> None:
        ddb = boto3.client("dynamodb", region_name=HOME)
        ddb.delete_item(
            TableName=self.deployment.tables["TargetsTable"], Key={"target_id": {"S": target_id}}
        )

    # -- ticks -------------------------------------------------------------------------
    def dispatch(self, *, env: bool = True) -> Tick:
        """The dispatcher's run for the next minute; what it sent is not run yet.
        ``env=False``: keep the process environment (for threads racing)."""
        at = self.clock.advance()
        self._ticks += 1
        event = {
            "source": "aws.events",
            "id": f"tick-{self._ticks:04d}",
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        token = _WORLD.set(self)
        try:
            context = LambdaContext(function_name=self.deployment.home.name + "-dispatcher")
            with self._env(self.deployment.dispatcher_env, HOME) if env else _as_is():
                out = dispatcher_module.handler(event, context)
        finally:
            _WORLD.reset(token)
        return Tick(at=event["time"], dispatcher=out, sent=_take_recorded())

    def deliver(self, invoke: Invoke, *, env: bool = True) -> dict[str, Any] | None:
        """Run one invoke in its region's probe function (None: that region is silent).
        ``env=False``: keep the process environment (for threads racing)."""
        location = self.location_of(invoke)
        if self.fault.get(location) == "silent":
            return None
        fn = self.deployment.probe_function[location]
        context = LambdaContext(
            function_name=fn,
            invoked_function_arn=f"arn:aws:lambda:{location}:{ACCOUNT}:function:{fn}",
        )
        region_token, world_token = _REGION.set(location), _WORLD.set(self)
        try:
            if not env:
                out: dict[str, Any] = probe_module.handler(copy.deepcopy(invoke.event), context)
                return out
            with self._env(self.deployment.probe_env[location], location, fn):
                out = probe_module.handler(copy.deepcopy(invoke.event), context)
                return out
        finally:
            _REGION.reset(region_token)
            _WORLD.reset(world_token)

    def location_of(self, invoke: Invoke) -> str:
        for location, fn in self.deployment.probe_function.items():
            if fn == invoke.function:
                assert invoke.region == location, (invoke.region, location)
                return location
        raise AssertionError(f"an invoke of a function no stack deployed: {invoke}")

    def tick(
        self,
        *,
        order: Callable[[list[Invoke]], list[Invoke]] | None = None,
        hold: Callable[[Invoke], bool] | None = None,
    ) -> Tick:
        """One tick and everything it set off (``run``)."""
        return self.run(self.dispatch(), order=order, hold=hold)

    def run(
        self,
        tick: Tick,
        invokes: list[Invoke] | None = None,
        *,
        order: Callable[[list[Invoke]], list[Invoke]] | None = None,
        hold: Callable[[Invoke], bool] | None = None,
    ) -> Tick:
        """Run ``invokes`` (default: what the tick sent) one after the other, then what
        they invoked in turn (a relay's probe events), until nothing is left.
        ``order``: the delivery order of each round's probe events, duplicates included;
        ``hold``: probe events kept back (``tick.held``), not run."""
        batch = list(tick.sent if invokes is None else invokes)
        while batch:
            checks = [i for i in batch if i.check]
            if hold is not None:
                tick.held += [i for i in checks if hold(i)]
                checks = [i for i in checks if not hold(i)]
            for invoke in [i for i in batch if not i.check] + (order or list)(checks):
                tick.invokes.append(invoke)
                out = self.deliver(invoke)
                if out is not None and invoke.check:
                    tick.probes.append((self.location_of(invoke), out))
            batch = _take_recorded()
        return tick

    @contextlib.contextmanager
    def rendezvous_before_reading_votes(self, *locations: str) -> Iterator[None]:
        """The probes of ``locations`` each wait for the others after storing their vote
        and before reading the slot's votes: racing, each then sees every vote and
        tries to decide the slot (a claim per racer, at the same moment)."""
        barrier = threading.Barrier(len(locations), timeout=60)
        saved: list[tuple[Any, str, Any]] = []
        for location in locations:
            rt = self.probe_runtimes[location]
            name = _vote_store_field(rt)
            saved.append((rt, name, getattr(rt, name)))
            setattr(rt, name, _Rendezvous(getattr(rt, name), barrier))
        try:
            yield
        finally:
            for rt, name, store in saved:
                setattr(rt, name, store)

    def race(self, invokes: list[Invoke]) -> list[dict[str, Any] | None]:
        """Run ``invokes`` at the same time, one thread each (home-region environment:
        the runtimes were built with their own); their summaries, in order."""
        results: list[dict[str, Any] | None] = [None] * len(invokes)
        errors: list[BaseException] = []

        def run(i: int, invoke: Invoke) -> None:
            try:
                results[i] = self.deliver(invoke, env=False)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(run, i, inv))
            for i, inv in enumerate(invokes)
        ]
        with self._env(self.deployment.probe_env[HOME], HOME):
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a racing probe did not finish"
        if errors:
            raise errors[0]
        return results


class _Rendezvous:
    """A vote store whose ``votes`` read waits at a barrier first (see
    ``World.rendezvous_before_reading_votes``); everything else is the store's own."""

    def __init__(self, store: Any, barrier: threading.Barrier) -> None:
        self._store = store
        self._barrier = barrier

    def votes(self, *args: Any, **kwargs: Any) -> Any:
        self._barrier.wait()
        return self._store.votes(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _vote_store_field(rt: Any) -> str:
    """The probe runtime's field holding its vote store (the port's methods)."""
    import dataclasses

    for f in dataclasses.fields(rt):
        value = getattr(rt, f.name)
        if all(callable(getattr(value, m, None)) for m in ("put_vote", "votes", "claim")):
            return f.name
    raise AssertionError("the probe runtime holds no vote store")


@contextlib.contextmanager
def _as_is() -> Iterator[None]:
    yield


def _dispatcher_runtime() -> Any:
    return _WORLD.get().dispatcher_runtime


def _probe_runtime() -> Any:
    return _WORLD.get().probe_runtimes[_REGION.get()]


# --------------------------------------------------------------------------- targets


def target_fields(certs: Certificates, port: int, **extra: Any) -> dict[str, Any]:
    """A STARTTLS target on loopback, checked every minute, re-checked at once."""
    return {
        "host": DEFAULT_HOSTNAME,
        "port": port,
        "dns_hosts": [f"127.0.0.1 {DEFAULT_HOSTNAME}"],
        "ca_bundle": certs.ca_pem,
        "timeout_s": 5,
        "recheck_delay_s": 0,
        "interval_s": 60,
        **extra,
    }


# --------------------------------------------------------------------------- reading back


def stored_results(deployment: Deployment, target_id: str) -> dict[str, dict[str, Any]]:
    """The results table's documents of ``target_id`` (or a ``#vote#...`` key), by ts."""
    from smtpwatch.adapters.result_codec import decode_item

    ddb = boto3.client("dynamodb", region_name=HOME)
    items = ddb.query(
        TableName=deployment.tables["ResultsTable"],
        KeyConditionExpression="target_id = :t",
        ExpressionAttributeValues={":t": {"S": target_id}},
        ConsistentRead=True,
    )["Items"]
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        result = decode_item(item)
        assert result is not None, item
        out[item["ts"]["S"]] = result.to_dict()
    return out


def state_ids(deployment: Deployment, prefix: str) -> list[str]:
    """The state table's item ids starting with ``prefix`` (``#slot#``, ``#location#``)."""
    ddb = boto3.client("dynamodb", region_name=HOME)
    items = ddb.scan(TableName=deployment.tables["StateTable"], ConsistentRead=True)["Items"]
    return sorted(i["target_id"]["S"] for i in items if i["target_id"]["S"].startswith(prefix))


def email_text(deployment: Deployment, envelope: dict[str, Any]) -> str:
    """The text an e-mail subscriber got for the alert ``envelope`` (read from SQS):
    the ``email`` body of the same publish, as moto's topic recorded it."""
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT][HOME].topics[deployment.alerts.topic_arn]
    for message_id, message, *_ in topic.sent_notifications:
        if message_id == envelope["MessageId"]:
            return str(json.loads(message)["email"])
    raise AssertionError(f"no publish with id {envelope['MessageId']}")


def cli(argv: list[str]) -> str:
    """``smtpwatch ARGV`` in this process (moto answers its AWS calls); its stdout."""
    import io

    from smtpwatch.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    assert code == 0, (argv, code, out.getvalue())
    return out.getvalue()
