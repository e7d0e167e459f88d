"""Address resolution: literals, dns_hosts, the four DNS modes, ip_family, failures.

Every DNS answer comes from a loopback server these tests start (never the machine's
resolver): ``AddressResolver`` gets a resolver pointed at it, ``external`` targets name
it in ``nameservers``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from smtpwatch.core.parsing import HostsEntry, Nameserver
from smtpwatch.core.resolve import (
    AddressResolver,
    DnsLookupError,
    DnsTimeoutError,
    Resolution,
    ResolvedAddress,
    default_resolver,
)
from smtpwatch.core.target import Target
from smtpwatch.testing.dns_server import DnsServer

ZONE = {
    "mx.example.com": ["192.0.2.10", "2001:db8::10"],
    "v4only.example.com": ["192.0.2.4"],
    "v6only.example.com": ["2001:db8::6"],
    "multi.example.com": ["192.0.2.1", "192.0.2.2", "2001:db8::1"],
}


def target(host: str, **fields: Any) -> Target:
    return Target(target_id="t", host=host, **fields)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dns4() -> Iterator[DnsServer]:
    with DnsServer(ZONE, host="127.0.0.1", ttl=300) as server:
        yield server


@pytest.fixture
def dns6() -> Iterator[DnsServer]:
    with DnsServer(ZONE, host="::1", ttl=300) as server:
        yield server


def ips(res: Resolution) -> list[str]:
    return [a.ip for a in res.addresses]


# -- literals and dns_hosts -----------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "expected"),
    [("192.0.2.7", ResolvedAddress("192.0.2.7", "ipv4")), ("::1", ResolvedAddress("::1", "ipv6"))],
)
def test_ip_literal_host_is_used_without_any_dns_query(
    dns4: DnsServer, host: str, expected: ResolvedAddress
) -> None:
    resolver = AddressResolver(dns4.resolver())
    res = resolver.resolve(target(host), timeout=5)
    assert res == Resolution((expected,), "literal")
    assert dns4.count() == 0


def test_ip_literal_of_the_other_family_is_a_dns_failure(dns4: DnsServer) -> None:
    resolver = AddressResolver(dns4.resolver())
    with pytest.raises(DnsLookupError, match="ipv6 address but ip_family is ipv4"):
        resolver.resolve(_Bare("2001:db8::1", ip_family="ipv4"), timeout=5)


def test_dns_hosts_ipv4_and_ipv6_answer_before_dns_case_insensitively(dns4: DnsServer) -> None:
    # GIVEN the zone knows mx.example.com, but dns_hosts maps it elsewhere
    t = target(
        "MX.Example.COM",
        dns_hosts=["127.0.0.1 other.example.com mx.example.com", "::1 MX.EXAMPLE.COM"],
    )
    # WHEN it is resolved
    res = AddressResolver(dns4.resolver()).resolve(t, timeout=5)
    # THEN both mapped addresses come back in line order and DNS was never asked
    assert res.source == "dns_hosts"
    assert res.addresses == (ResolvedAddress("127.0.0.1", "ipv4"), ResolvedAddress("::1", "ipv6"))
    assert dns4.count() == 0


@pytest.mark.parametrize(("family", "expected"), [("ipv4", ["127.0.0.1"]), ("ipv6", ["::1"])])
def test_dns_hosts_are_filtered_by_ip_family(
    dns4: DnsServer, family: str, expected: list[str]
) -> None:
    t = target(
        "mx.example.com",
        ip_family=family,
        dns_hosts=["127.0.0.1 mx.example.com", "::1 mx.example.com"],
    )
    assert ips(AddressResolver(dns4.resolver()).resolve(t, timeout=5)) == expected


def test_dns_hosts_name_without_address_of_the_family_fails_instead_of_asking_dns(
    dns4: DnsServer,
) -> None:
    t = target("mx.example.com", ip_family="ipv6", dns_hosts=["127.0.0.1 mx.example.com"])
    with pytest.raises(DnsLookupError, match=r"dns_hosts maps mx\.example\.com to no ipv6 address"):
        AddressResolver(dns4.resolver()).resolve(t, timeout=5)
    assert dns4.count() == 0


def test_dns_hosts_for_other_names_do_not_hide_dns(dns4: DnsServer) -> None:
    t = target("mx.example.com", dns_hosts=["127.0.0.1 other.example.com"])
    res = AddressResolver(dns4.resolver()).resolve(t, timeout=5)
    assert res.source == "dns"
    assert ips(res) == ["192.0.2.10", "2001:db8::10"]


# -- ip_family over DNS ---------------------------------------------------------------
def test_any_family_asks_a_and_aaaa_and_lists_ipv4_first(dns4: DnsServer) -> None:
    res = AddressResolver(dns4.resolver()).resolve(target("multi.example.com"), timeout=5)
    # (servers rotate the records of one type, so within a family the order varies)
    assert {a.ip for a in res.addresses[:2]} == {"192.0.2.1", "192.0.2.2"}
    assert [a.family for a in res.addresses] == ["ipv4", "ipv4", "ipv6"]
    assert res.addresses[2] == ResolvedAddress("2001:db8::1", "ipv6")
    assert dns4.count(rdtype="A") == 1
    assert dns4.count(rdtype="AAAA") == 1


@pytest.mark.parametrize(
    ("family", "asked", "not_asked", "expected"),
    [("ipv4", "A", "AAAA", ["192.0.2.10"]), ("ipv6", "AAAA", "A", ["2001:db8::10"])],
)
def test_single_family_asks_only_its_record_type(
    dns4: DnsServer, family: str, asked: str, not_asked: str, expected: list[str]
) -> None:
    res = AddressResolver(dns4.resolver()).resolve(
        target("mx.example.com", ip_family=family), timeout=5
    )
    assert ips(res) == expected
    assert dns4.count(rdtype=asked) == 1
    assert dns4.count(rdtype=not_asked) == 0


def test_name_with_only_ipv4_is_a_failure_for_ipv6(dns4: DnsServer) -> None:
    with pytest.raises(DnsLookupError, match=r"v4only\.example\.com: no AAAA record"):
        AddressResolver(dns4.resolver()).resolve(
            target("v4only.example.com", ip_family="ipv6"), timeout=5
        )


def test_name_with_only_ipv6_resolves_for_any(dns4: DnsServer) -> None:
    res = AddressResolver(dns4.resolver()).resolve(target("v6only.example.com"), timeout=5)
    assert res.addresses == (ResolvedAddress("2001:db8::6", "ipv6"),)


# -- modes and caches -----------------------------------------------------------------
def test_device_cache_shares_one_lookup_between_targets_with_the_same_host(
    dns4: DnsServer,
) -> None:
    # GIVEN two targets watching the same host on different ports
    resolver = AddressResolver(dns4.resolver())
    first = Target(target_id="a", host="mx.example.com", port=25)
    second = Target(target_id="b", host="MX.example.com.", port=587)
    # WHEN both are resolved by the same (per-process) resolver
    r1 = resolver.resolve(first, timeout=5)
    r2 = resolver.resolve(second, timeout=5)
    # THEN DNS was asked once per record type and the second answer came from the cache
    assert dns4.count(rdtype="A") == 1
    assert dns4.count(rdtype="AAAA") == 1
    assert (r1.source, r2.source) == ("dns", "cache")
    assert r1.addresses == r2.addresses


def test_device_cache_keeps_answers_until_cleared_or_a_minute_old(dns4: DnsServer) -> None:
    clock = FakeClock()
    resolver = AddressResolver(dns4.resolver(), clock=clock)
    t = target("mx.example.com")
    resolver.resolve(t, timeout=5)
    clock.now += 59
    assert resolver.resolve(t, timeout=5).source == "cache"
    assert dns4.count() == 2
    resolver.clear()
    assert resolver.resolve(t, timeout=5).source == "dns"
    assert dns4.count() == 4
    # a moved address must be seen within a minute, whatever the record's TTL (300 s)
    clock.now += 60
    assert resolver.resolve(t, timeout=5).source == "dns"
    assert dns4.count() == 6


def test_device_cache_is_bounded_and_forgets_the_oldest_name(dns4: DnsServer) -> None:
    resolver = AddressResolver(dns4.resolver(), max_entries=2)
    a = target("v4only.example.com", ip_family="ipv4")
    b = target("mx.example.com", ip_family="ipv4")
    c = target("multi.example.com", ip_family="ipv4")
    for t in (a, b, c):
        resolver.resolve(t, timeout=5)
    assert resolver.resolve(c, timeout=5).source == "cache"
    assert resolver.resolve(a, timeout=5).source == "dns"


def test_device_cache_lets_concurrent_probes_of_one_host_share_the_lookup(
    dns4: DnsServer,
) -> None:
    resolver = AddressResolver(dns4.resolver())
    results: list[Resolution] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(resolver.resolve(target("mx.example.com"), timeout=5))
        )
        for _ in range(8)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 8
    assert dns4.count(rdtype="A") == 1
    assert dns4.count(rdtype="AAAA") == 1


def test_non_cached_asks_dns_every_time(dns4: DnsServer) -> None:
    resolver = AddressResolver(dns4.resolver())
    t = target("mx.example.com", dns_mode="non_cached")
    sources = [resolver.resolve(t, timeout=5).source for _ in range(3)]
    assert sources == ["dns", "dns", "dns"]
    assert dns4.count(rdtype="A") == 3


def test_ttl_cache_answers_until_the_record_ttl_expires() -> None:
    # GIVEN records with a 60 s TTL and a clock the test moves
    with DnsServer(ZONE, ttl=60) as server:
        clock = FakeClock()
        resolver = AddressResolver(server.resolver(), clock=clock)
        t = target("mx.example.com", dns_mode="ttl_cached", ip_family="ipv4")
        # WHEN resolved, then again within the TTL
        assert resolver.resolve(t, timeout=5).source == "dns"
        clock.now += 59
        # THEN the second answer is cached
        assert resolver.resolve(t, timeout=5).source == "cache"
        assert server.count() == 1
        # AND after the TTL DNS is asked again
        clock.now += 2
        assert resolver.resolve(t, timeout=5).source == "dns"
        assert server.count() == 2


def test_ttl_cache_keeps_a_missing_aaaa_for_the_negative_ttl() -> None:
    with DnsServer(ZONE, ttl=600, negative_ttl=30) as server:
        clock = FakeClock()
        resolver = AddressResolver(server.resolver(), clock=clock)
        t = target("v4only.example.com", dns_mode="ttl_cached")
        resolver.resolve(t, timeout=5)
        clock.now += 29
        assert resolver.resolve(t, timeout=5).source == "cache"
        clock.now += 2
        resolver.resolve(t, timeout=5)
        assert server.count(rdtype="AAAA") == 2
        assert server.count(rdtype="A") == 1


def test_failures_are_not_cached(dns4: DnsServer) -> None:
    resolver = AddressResolver(dns4.resolver())
    t = target("new.example.com")
    with pytest.raises(DnsLookupError):
        resolver.resolve(t, timeout=5)
    dns4.set_zone({**ZONE, "new.example.com": ["192.0.2.99"]})
    assert ips(resolver.resolve(t, timeout=5)) == ["192.0.2.99"]


def test_external_asks_the_targets_ipv6_nameserver_not_the_injected_resolver(
    dns4: DnsServer,
) -> None:
    # GIVEN the injected resolver's server knows nothing, the target's own server knows it
    dns4.set_zone({})
    with DnsServer({"mx.example.com": ["192.0.2.77"]}, host="::1") as own:
        resolver = AddressResolver(dns4.resolver())
        t = target("mx.example.com", dns_mode="external", nameservers=[own.nameserver])
        # WHEN resolved twice
        r1 = resolver.resolve(t, timeout=5)
        r2 = resolver.resolve(t, timeout=5)
        # THEN the answer came from the target's nameserver, uncached
        assert ips(r1) == ips(r2) == ["192.0.2.77"]
        assert (r1.source, r2.source) == ("dns", "dns")
        assert own.count(rdtype="A") == 2
        assert dns4.count() == 0


def test_external_with_an_ipv4_nameserver_and_port(dns6: DnsServer) -> None:
    with DnsServer({"mx.example.com": ["192.0.2.78"]}, host="127.0.0.1") as own:
        t = target("mx.example.com", dns_mode="external", nameservers=[own.nameserver])
        assert ips(AddressResolver(dns6.resolver()).resolve(t, timeout=5)) == ["192.0.2.78"]


def test_external_nameserver_that_is_gone_is_a_dns_timeout_within_the_timeout(
    dns4: DnsServer,
) -> None:
    # GIVEN a nameserver address where nothing answers any more
    port = dns4.port
    dns4.stop()
    t = target("mx.example.com", dns_mode="external", nameservers=[f"127.0.0.1:{port}"])
    # WHEN resolving with a 1 s budget
    started = time.monotonic()
    with pytest.raises(DnsTimeoutError):
        AddressResolver().resolve(t, timeout=1.0)
    # THEN it gives up at the deadline
    assert time.monotonic() - started < 1.0 + 0.5


# -- failures -------------------------------------------------------------------------
def test_unknown_name_is_nxdomain_with_a_one_line_message(dns6: DnsServer) -> None:
    with pytest.raises(DnsLookupError) as info:
        AddressResolver(dns6.resolver()).resolve(target("nope.example.com"), timeout=5)
    assert str(info.value) == "nope.example.com: no such domain (NXDOMAIN)"
    assert info.value.rcode_name == "NXDOMAIN"
    assert not isinstance(info.value, TimeoutError)


def test_servfail_is_a_dns_failure_with_its_rcode(dns4: DnsServer) -> None:
    dns4.mode = "servfail"
    with pytest.raises(DnsLookupError) as info:
        AddressResolver(dns4.resolver()).resolve(target("mx.example.com"), timeout=5)
    assert info.value.rcode_name == "SERVFAIL"
    assert "nameserver answered SERVFAIL" in str(info.value)


def test_silent_server_is_a_dns_timeout_within_the_timeout(dns4: DnsServer) -> None:
    # GIVEN a server that never answers, a per-attempt timeout shorter than the budget
    dns4.mode = "silent"
    resolver = AddressResolver(dns4.resolver(timeout=0.4))
    # WHEN resolving with a 1.5 s budget
    started = time.monotonic()
    with pytest.raises(DnsTimeoutError) as info:
        resolver.resolve(target("mx.example.com"), timeout=1.5)
    elapsed = time.monotonic() - started
    # THEN it gives up as a timeout, not earlier and not much later (the deadline is the behaviour)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, DnsLookupError)
    assert 1.3 <= elapsed < 1.5 + 0.5
    assert "mx.example.com: DNS timed out" in str(info.value)
    assert dns4.count() >= 2  # it kept retrying within the budget


def test_silent_aaaa_does_not_lose_the_ipv4_answer_nor_the_whole_budget() -> None:
    # GIVEN a server that answers A but drops AAAA queries
    with DnsServer(ZONE, silent_rdtypes=["AAAA"]) as server:
        resolver = AddressResolver(server.resolver(timeout=0.3))
        started = time.monotonic()
        res = resolver.resolve(target("mx.example.com"), timeout=4)
        elapsed = time.monotonic() - started
    # THEN the IPv4 address is used and at most about half of the budget went to AAAA
    assert ips(res) == ["192.0.2.10"]
    assert elapsed < 4 / 2 + 0.5


def test_servfail_for_aaaa_keeps_the_ipv4_answer() -> None:
    # GIVEN a server that fails every AAAA question (after answering A)
    with DnsServer(ZONE) as server:
        resolver = AddressResolver(server.resolver())
        # A answered first; now make the server fail
        res = resolver.resolve(target("mx.example.com", ip_family="ipv4"), timeout=5)
        server.mode = "servfail"
        both = resolver.resolve(target("mx.example.com"), timeout=5)
    # THEN the cached A answer is used and the failed AAAA is no reason to give up
    assert ips(res) == ips(both) == ["192.0.2.10"]
    assert both.source == "dns"


def test_answer_too_big_for_udp_is_fetched_over_tcp() -> None:
    many = [f"192.0.2.{i}" for i in range(1, 61)]  # 60 A records: > 512 bytes
    with DnsServer({"big.example.com": many}) as server:
        res = AddressResolver(server.resolver()).resolve(
            target("big.example.com", ip_family="ipv4"), timeout=5
        )
        transports = [q.transport for q in server.queries]
    assert sorted(ips(res)) == sorted(many)
    assert transports == ["udp", "tcp"]


def test_invalid_host_name_is_a_dns_failure(dns4: DnsServer) -> None:
    long_label = "a" * 64 + ".example.com"
    with pytest.raises(DnsLookupError, match="not a valid host name"):
        AddressResolver(dns4.resolver()).resolve(_Bare(long_label), timeout=5)


def test_default_resolver_is_one_per_process() -> None:
    assert default_resolver() is default_resolver()


@dataclass(frozen=True)
class _Bare:
    """A host the Target model would refuse, to show the resolver copes by itself."""

    host: str
    dns_mode: str = "non_cached"
    ip_family: str = "any"
    nameservers: tuple[Nameserver, ...] = ()
    dns_hosts: tuple[HostsEntry, ...] = ()


def test_literals_and_dns_hosts_do_not_load_dnspython() -> None:
    # A Nagios check started per run should not pay ~80 ms for dnspython it never uses.
    code = (
        "import sys\n"
        "from smtpwatch.core.resolve import AddressResolver\n"
        "from smtpwatch.core.target import Target\n"
        "r = AddressResolver()\n"
        "r.resolve(Target(target_id='a', host='::1'), timeout=1)\n"
        "r.resolve(Target(target_id='b', host='mx.example.com',"
        " dns_hosts=['127.0.0.1 mx.example.com']), timeout=1)\n"
        "print(sorted(m for m in sys.modules if m == 'dns' or m.startswith('dns.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_silent_a_does_not_lose_the_ipv6_answer() -> None:
    # GIVEN a server that drops A queries but answers AAAA (ip_family any asks A first)
    with DnsServer(ZONE, silent_rdtypes=["A"]) as server:
        resolver = AddressResolver(server.resolver(timeout=0.3))
        started = time.monotonic()
        res = resolver.resolve(target("mx.example.com"), timeout=4)
        elapsed = time.monotonic() - started
    # THEN the IPv6 address is used: A got about half of the budget, not all of it
    assert ips(res) == ["2001:db8::10"]
    assert elapsed < 4 / 2 + 0.5


def test_silent_a_and_no_aaaa_record_is_the_a_timeout() -> None:
    # GIVEN a name with only an A record, on a server that drops A queries
    with DnsServer(ZONE, silent_rdtypes=["A"]) as server:
        resolver = AddressResolver(server.resolver(timeout=0.3))
        # WHEN resolved for any family
        with pytest.raises(DnsTimeoutError) as info:
            resolver.resolve(target("v4only.example.com"), timeout=2)
    # THEN the failure says the A question timed out (not "no A or AAAA record")
    assert "A query" in str(info.value)
