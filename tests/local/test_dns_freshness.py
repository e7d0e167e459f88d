"""A moved address is seen within a minute: ``device_cached`` answers are shared by the
checks of one tick but never kept longer than 60 s, in a long-running ``run`` and in a
warm Lambda container alike (both keep one resolver for the life of the process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from local.scheduler_helpers import Clock, Listener
from smtpwatch.core.probe import ProbeEnvironment
from smtpwatch.core.resolve import AddressResolver
from smtpwatch.core.target import Target
from smtpwatch.local.reports import CheckReport
from smtpwatch.local.scheduler import LocalScheduler
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.service.memory import MemorySink
from smtpwatch.testing.dns_server import DnsServer
from smtpwatch.testing.servers import SmtpServer

NAME = "mx.moving.test"
MAX_AGE_S = 60  # the documented bound on a device-cached answer's age


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer({NAME: ["127.0.0.1"]}, host="127.0.0.1", ttl=3600) as server:
        yield server


@pytest.fixture
def two_servers(smtp_server: Callable[..., SmtpServer]) -> tuple[SmtpServer, SmtpServer]:
    """The same port on two loopback addresses: the old and the new home of the name."""
    old = smtp_server("127.0.0.1")
    new = smtp_server("127.0.0.2", port=old.port)
    return old, new


def _ip_of(report: CheckReport) -> str | None:
    assert report.result is not None
    assert report.result.status.value == "ok", report.result.to_dict()
    return report.result.address.ip


def test_a_running_scheduler_sees_a_moved_address_within_a_minute(
    tmp_path: Path, dns: DnsServer, two_servers: tuple[SmtpServer, SmtpServer]
) -> None:
    old, _ = two_servers
    clock = Clock()
    store = SqliteStore(tmp_path / "db")
    listener = Listener()
    env = ProbeEnvironment(resolver=AddressResolver(dns.resolver(), clock=clock.monotonic))
    sched = LocalScheduler(
        store,
        sinks=[("memory", MemorySink())],
        listener=listener,
        env=env,
        now=clock,
        retention_days=None,
    )
    try:
        store.put_item(
            {
                "target_id": "mx1",
                "host": NAME,
                "port": old.port,
                "encryption": "none",
                "interval_s": 10,
                "recheck_delay_s": 0,
                "timeout_s": 10,
            }
        )
        # GIVEN a check that resolved the name to its old address
        assert sched.tick() == 1
        assert sched._pool.wait_idle(30)
        assert _ip_of(listener.reports[-1]) == "127.0.0.1"
        # WHEN the name moves (the record's TTL is an hour: only our own bound can help)
        dns.set_zone({NAME: ["127.0.0.2"]})
        seen: list[str | None] = []
        for _ in range(6):  # the checks of the next minute, every 10 s
            clock.advance(10)
            assert sched.tick() == 1
            assert sched._pool.wait_idle(30)
            seen.append(_ip_of(listener.reports[-1]))
        # THEN the check a minute after the first answer uses the new address
        assert seen[-1] == "127.0.0.2", seen
        # AND the checks before it shared the cached answer (one lookup per minute)
        assert seen[0] == "127.0.0.1", seen
    finally:
        sched.shutdown()
        store.close()


def test_a_device_cached_answer_is_shared_inside_the_minute_and_asked_again_after(
    dns: DnsServer,
) -> None:
    """The same bound holds for a warm Lambda container's process-wide resolver."""
    clock = Clock()
    resolver = AddressResolver(dns.resolver(), clock=clock.monotonic)
    target = Target(target_id="t", host=NAME, ip_family="ipv4")
    assert resolver.resolve(target, timeout=5).addresses[0].ip == "127.0.0.1"
    dns.set_zone({NAME: ["127.0.0.2"]})
    clock.advance(MAX_AGE_S - 1)
    cached = resolver.resolve(target, timeout=5)
    assert (cached.source, cached.addresses[0].ip) == ("cache", "127.0.0.1")
    clock.advance(1)
    fresh = resolver.resolve(target, timeout=5)
    assert (fresh.source, fresh.addresses[0].ip) == ("dns", "127.0.0.2")
