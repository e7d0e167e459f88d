"""The vote tests' world (tests/service, tests/aws): a target checked from several
locations in one process, with one shared set of stores (state, results, votes,
location health, the alert sink), a probe environment per location whose network the
test breaks (a resolver sending every host to 127.0.0.2, where nothing listens:
connection refused there only), and a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from smtpwatch.core.locations import OpenSlot
from smtpwatch.core.probe import ProbeEnvironment
from smtpwatch.core.resolve.answers import Resolution, ResolvedAddress
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import AlertEvent
from smtpwatch.core.target import Target
from smtpwatch.ports import LocationHealthStore, ResultStore, StateStore, VoteStore
from smtpwatch.service.check import CheckDeps, CheckOutcome, default_probe_fn
from smtpwatch.service.location_health import LocationWatch
from smtpwatch.service.memory import MemoryResultStore, MemorySink, MemoryStateStore
from smtpwatch.service.memory_votes import MemoryLocationHealthStore, MemoryVoteStore
from smtpwatch.service.vote import VoteOutcome, cast_vote, decide_slot

LOCATIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
HOME, EU, AP = LOCATIONS
T0 = datetime(2026, 12, 8, 1, 0, 0, tzinfo=UTC)
DEADLINE_S = 40
UNREACHABLE = "127.0.0.2"  # loopback, but the test servers listen on 127.0.0.1 only


class Network:
    """One location's resolver: the target's own address, or 127.0.0.2 when broken."""

    def __init__(self) -> None:
        self.broken = False
        self.lookups = 0

    def resolve(self, target: Any, *, timeout: float) -> Resolution:
        self.lookups += 1
        ip = UNREACHABLE if self.broken else target.host
        return Resolution((ResolvedAddress(ip, "ipv4"),), "dns")


class HasPort(Protocol):
    port: int


def target(server: HasPort, **fields: Any) -> Target:
    """Target ``mx1`` of a plain SMTP server on 127.0.0.1 (``fields`` override)."""
    base: dict[str, Any] = {
        "target_id": "mx1",
        "host": "127.0.0.1",
        "port": server.port,
        "encryption": "none",
        "timeout_s": 5,
    }
    return Target(**(base | fields))


def slot(i: int) -> str:
    return format_ts(T0 + timedelta(minutes=i))


@dataclass
class World:
    states: StateStore = field(default_factory=MemoryStateStore)
    results: ResultStore = field(default_factory=MemoryResultStore)
    votes: VoteStore = field(default_factory=MemoryVoteStore)
    health: LocationHealthStore = field(default_factory=MemoryLocationHealthStore)
    sink: MemorySink = field(default_factory=MemorySink)
    locations: tuple[str, ...] = LOCATIONS
    now: datetime = T0
    nets: dict[str, Network] = field(default_factory=dict)
    watches: dict[str, LocationWatch] = field(default_factory=dict)
    opened: list[OpenSlot] = field(default_factory=list)
    passing_result_every_s: int = 0  # the AWS default keeps a passing result an hour

    def __post_init__(self) -> None:
        for name in self.locations:
            self.nets[name] = Network()
        for name in (*self.locations, "sweep"):
            # One per process (a location's container, the dispatcher).
            self.watches[name] = LocationWatch(self.health, [self.sink], now=lambda: self.now)

    # --- the parts
    def deps(self, location: str | None = None) -> CheckDeps:
        env = ProbeEnvironment(
            resolver=self.nets[location] if location else None, location=location or HOME
        )
        return CheckDeps(
            states=self.states,
            results=self.results,
            sinks=[self.sink],
            probe_fn=default_probe_fn(env),
            now=lambda: self.now,
            sleep=lambda s: None,
            maintenance=lambda t, n: False,
            passing_result_every_s=self.passing_result_every_s,
        )

    def break_net(self, *names: str) -> None:
        for name, net in self.nets.items():
            net.broken = name in names

    # --- the flow
    def open(self, target: Target, at: str, names: Sequence[str] | None = None) -> OpenSlot:
        names = tuple(names or self.locations)
        deadline = format_ts(datetime.fromisoformat(at) + timedelta(seconds=DEADLINE_S))
        opened = OpenSlot(target.target_id, at, names, deadline, "corr-1")
        self.votes.open_slot(opened)
        self.opened.append(opened)
        return opened

    def vote(self, target: Target, opened: OpenSlot, location: str) -> VoteOutcome:
        return cast_vote(
            target,
            scheduled_at=opened.scheduled_at,
            expected=opened.locations,
            deadline=opened.deadline,
            deps=self.deps(location),
            votes=self.votes,
            location=location,
            watch=self.watches[location],
        )

    def check(self, target: Target, at: str, *, silent: Iterable[str] = ()) -> list[VoteOutcome]:
        """One slot: opened, then every location that is not ``silent`` votes in turn."""
        opened = self.open(target, at)
        quiet = set(silent)
        return [self.vote(target, opened, n) for n in opened.locations if n not in quiet]

    def sweep(self, target: Target, opened: OpenSlot) -> CheckOutcome | None:
        return decide_slot(target, opened, self.deps(), self.votes, self.watches["sweep"])

    # --- what a user sees
    @property
    def events(self) -> list[str]:
        return [a.event.value for a in self.sink.alerts]

    def target_events(self) -> list[str]:
        return [
            a.event.value
            for a in self.sink.alerts
            if a.event not in (AlertEvent.LOCATION_DOWN, AlertEvent.LOCATION_UP)
        ]


def decisions(outcomes: Iterable[VoteOutcome]) -> list[CheckOutcome]:
    return [o.decision for o in outcomes if o.decision is not None]
