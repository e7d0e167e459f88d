"""The Lambda probe refuses loopback and link-local addresses, not private ones."""

from __future__ import annotations

from typing import Any

import pytest

from smtpwatch.adapters.address_guard import forbidden_reason


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "169.254.169.254",
        "169.254.170.2",
        "fe80::1",
        "fe80::1%eth0",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "0.0.0.0",
        "::",
        "fd00:ec2::254",
    ],
)
def test_loopback_link_local_and_metadata_addresses_are_refused(ip: str) -> None:
    assert forbidden_reason(ip) is not None


@pytest.mark.parametrize(
    "ip", ["10.0.0.5", "172.16.1.1", "192.168.1.10", "fd12:3456::1", "203.0.113.7", "2001:db8::25"]
)
def test_private_and_public_addresses_are_allowed(ip: str) -> None:
    assert forbidden_reason(ip) is None


def test_a_nameserver_on_loopback_is_refused_before_any_query_is_sent() -> None:
    # GIVEN a target whose external nameserver is a loopback service of the Lambda
    from smtpwatch.adapters.address_guard import GuardedResolver
    from smtpwatch.core.resolve import AddressResolver, DnsLookupError
    from smtpwatch.core.target import Target
    from smtpwatch.testing.dns_server import DnsServer

    with DnsServer({"mx.example.com": ["203.0.113.7"]}).start() as server:
        target = Target(
            target_id="ns",
            host="mx.example.com",
            dns_mode="external",
            nameservers=[server.nameserver],
        )
        # WHEN the Lambda's guarded resolver resolves it
        with pytest.raises(DnsLookupError) as info:
            GuardedResolver(AddressResolver()).resolve(target, timeout=2.0)
        # THEN the nameserver is refused by name and never receives a packet
        assert "127.0.0.1" in str(info.value) and "nameserver" in str(info.value)
        assert server.count() == 0


@pytest.mark.parametrize("ip", ["169.254.169.253", "fd00:ec2::253", "::ffff:127.0.0.1"])
def test_link_local_and_mapped_loopback_nameservers_are_refused(ip: str) -> None:
    from smtpwatch.adapters.address_guard import GuardedResolver
    from smtpwatch.core.resolve import AddressResolver, DnsLookupError
    from smtpwatch.core.target import Target

    class _NeverAsked(AddressResolver):
        # No packet may leave for a non-loopback address, even if the guard regressed.
        def resolve(self, target: Target, *, timeout: float) -> Any:
            raise AssertionError(f"{target.nameservers} was asked")

    host = f"[{ip}]:53" if ":" in ip else f"{ip}:53"
    target = Target(target_id="ns", host="mx.example.com", dns_mode="external", nameservers=[host])
    with pytest.raises(DnsLookupError, match="nameserver"):
        GuardedResolver(_NeverAsked()).resolve(target, timeout=0.5)


@pytest.mark.parametrize(
    "answer",
    [
        ["203.0.113.7", "127.0.0.1", "169.254.169.254"],
        ["127.0.0.1", "169.254.169.254", "203.0.113.7"],
        ["203.0.113.7", "::1", "fe80::1", "fd00:ec2::254", "2001:db8::25"],
    ],
)
def test_a_mixed_dns_answer_keeps_only_the_allowed_addresses(answer: list[str]) -> None:
    # GIVEN a name whose DNS answer mixes a public address with loopback, link-local
    # and metadata addresses (a table writer aiming the probe at the runtime API)
    from smtpwatch.adapters.address_guard import GuardedResolver
    from smtpwatch.core.resolve import AddressResolver
    from smtpwatch.core.target import Target
    from smtpwatch.testing.dns_server import DnsServer

    allowed = [ip for ip in answer if ip in ("203.0.113.7", "2001:db8::25")]
    with DnsServer({"mx.example.com": answer}).start() as server:
        target = Target(target_id="mixed", host="mx.example.com", dns_mode="non_cached")
        # WHEN the Lambda's guarded resolver resolves it
        resolution = GuardedResolver(AddressResolver(server.resolver())).resolve(
            target, timeout=2.0
        )
        # THEN the answer really was mixed, and the probe is handed only the allowed
        # addresses: it never tries loopback, link-local or the metadata endpoint
        assert server.count("mx.example.com") >= 1
    assert sorted(a.ip for a in resolution.addresses) == sorted(allowed)
    assert all(forbidden_reason(a.ip) is None for a in resolution.addresses)
