"""Votes and verdicts against DynamoDB Local, AWS's own emulator, with a real SMTP
server on loopback: every location's event delivered twice at once, the sweep racing
the last vote, and racing writers of a location's health. Exactly one decision per
slot and one alert per change, on the real engine's conditional writes. Each racer is
a real thread with its own DynamoDB client and stores, as separate invocations are."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
import pytest
from botocore.config import Config
from dynamodb_local import running_dynamodb_local
from template_tables import create_tables

from smtpwatch.adapters.dynamodb import (
    DynamoLocationHealthStore,
    DynamoResultStore,
    DynamoStateStore,
    DynamoVoteStore,
)
from smtpwatch.core.locations import silent, verdict
from smtpwatch.core.result import ProbeResult, Status
from smtpwatch.service.memory import MemorySink
from smtpwatch.testing.servers import SmtpServer
from votes_world import AP, EU, HOME, LOCATIONS, World, slot, target

pytestmark = pytest.mark.dynamodb_local

R = TypeVar("R")
_prefixes = itertools.count()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with running_dynamodb_local() as url:
        yield url


@pytest.fixture(scope="module")
def server() -> Iterator[SmtpServer]:
    with SmtpServer("127.0.0.1").start() as srv:
        yield srv


def _client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=32, retries={"mode": "standard"}),
    )


class Processes:
    """``n`` worlds over the same tables and one alert sink: each its own client."""

    def __init__(self, url: str, n: int) -> None:
        names = create_tables(_client(url), prefix=f"v{next(_prefixes)}")
        self.sink = MemorySink()
        self.lock = threading.Lock()
        self.worlds = []
        for _ in range(n):
            c = _client(url)
            world = World(
                states=DynamoStateStore(c, names["StateTable"]),
                results=DynamoResultStore(c, names["ResultsTable"]),
                votes=DynamoVoteStore(c, names["StateTable"], names["ResultsTable"]),
                health=DynamoLocationHealthStore(c, names["StateTable"]),
                sink=self.sink,
            )
            self.worlds.append(world)

    @property
    def first(self) -> World:
        return self.worlds[0]

    def at(self, minute: int, second: int) -> None:
        for w in self.worlds:
            w.now = w.now.replace(minute=minute, second=second)

    def break_net(self, *names: str) -> None:
        for w in self.worlds:
            w.break_net(*names)

    def events(self) -> list[str]:
        with self.lock:
            return [a.event.value for a in self.sink.alerts]


def _race(n: int, fn: Callable[[int], R]) -> list[R]:
    barrier = threading.Barrier(n)

    def go(i: int) -> R:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


def test_every_event_twice_at_once_is_one_decision_and_one_alert_per_change(
    endpoint: str, server: SmtpServer
) -> None:
    procs, t = Processes(endpoint, 6), target(server)
    deliveries = [name for name in LOCATIONS for _ in range(2)]  # each event twice

    def one_slot(i: int) -> int:
        opened = procs.first.open(t, slot(i))
        outs = _race(6, lambda k: procs.worlds[k].vote(t, opened, deliveries[k]))
        assert sum(o.stored for o in outs) == 3  # one vote per location
        return sum(o.decision is not None for o in outs)

    procs.at(0, 5)
    assert one_slot(0) == 1
    procs.break_net(EU, AP)
    procs.at(1, 5)
    assert one_slot(1) == 1
    procs.at(2, 5)
    assert one_slot(2) == 1  # still down: decided, no alert
    procs.break_net()
    procs.at(3, 5)
    assert one_slot(3) == 1
    assert procs.events() == ["down", "recovered"]
    down = procs.sink.alerts[0]
    assert down.result is not None
    assert [v["status"] for v in down.result["locations"]] == ["ok", "critical", "critical"]
    stored = list(procs.first.results.iter_results("mx1"))
    assert [r.status for r in stored] == [Status.OK, Status.CRITICAL, Status.CRITICAL, Status.OK]


def test_the_sweep_racing_the_last_vote_decides_once(endpoint: str, server: SmtpServer) -> None:
    procs, t = Processes(endpoint, 5), target(server)
    procs.at(0, 5)
    opened = procs.first.open(t, slot(0))
    procs.first.vote(t, opened, HOME)
    procs.worlds[1].vote(t, opened, EU)
    procs.at(0, 45)  # past the deadline: four sweeps and AP's late vote, all at once

    def race(k: int) -> bool:
        if k == 0:
            return procs.worlds[0].vote(t, opened, AP).decision is not None
        return procs.worlds[k].sweep(t, opened) is not None

    assert _race(5, race).count(True) == 1
    (stored,) = list(procs.first.results.iter_results("mx1"))
    ap = stored.locations[2]
    assert stored.status is Status.OK and [v.status for v in stored.locations[:2]] == ["ok"] * 2
    # AP is silent in the verdict only if the sweep claimed before its vote: then, and
    # only then, one monitor alert.
    assert procs.events() == (["location_down"] if ap.status == "silent" else [])


def test_racing_writers_flip_a_location_once_each_way(endpoint: str) -> None:
    procs = Processes(endpoint, 6)
    watches = [w.watches["sweep"] for w in procs.worlds]  # six processes' watches
    votes = {n: ProbeResult("mx1", slot(0), Status.OK, location=n) for n in (HOME, EU)}
    decided = verdict("mx1", slot(0), LOCATIONS, votes, quorum=0, alert_on_partial=False)
    assert decided.locations[2] == silent(AP)
    sent = _race(6, lambda k: len(watches[k].slot_decided(decided, slot(0))))
    assert sum(sent) == 1
    back = _race(6, lambda k: watches[k].vote_seen(AP, slot(1)) is not None)
    assert back.count(True) == 1
    assert procs.events() == ["location_down", "location_up"]
    health = procs.first.health.get_location(AP)
    # two flips, each written with its alert and cleared once the alert was out
    assert health is not None and health.status == "ok" and health.pending is None
    assert health.version == 4
    # An older slot's late decision cannot silence it again.
    assert watches[0].slot_decided(decided, slot(0)) == []
    assert procs.events() == ["location_down", "location_up"]
