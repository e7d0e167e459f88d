"""What the Lambda's address guard tells and keeps: the refusal names the address and
how tests lift it, a trimmed answer keeps its source, IPv4 hidden in IPv6 is judged as
IPv4, and a guard without a resolver of its own uses the default one."""

from __future__ import annotations

from typing import Any

import pytest

from smtpwatch.adapters.address_guard import GuardedResolver, forbidden_reason
from smtpwatch.core.resolve import AddressResolver, DnsLookupError
from smtpwatch.core.target import Target

HINT = "refused on AWS (SMTPWATCH_ALLOW_LOOPBACK=1 lifts it for tests)"


def test_an_answer_of_forbidden_addresses_only_fails_naming_the_first_and_the_way_out() -> None:
    # GIVEN a name that maps only to the metadata endpoint, then to loopback
    target = Target(
        target_id="meta",
        host="mx.example.com",
        dns_hosts=["169.254.169.254 mx.example.com", "127.0.0.1 mx.example.com"],
    )
    # WHEN the guarded resolver resolves it
    with pytest.raises(DnsLookupError) as info:
        GuardedResolver(AddressResolver()).resolve(target, timeout=1.0)
    # THEN the message says which address was refused, why, and how tests lift it
    assert str(info.value) == (
        "mx.example.com: 169.254.169.254 is a link-local address (metadata endpoints live"
        f" there): {HINT}"
    )


def test_a_single_forbidden_address_is_refused_with_its_reason() -> None:
    target = Target(target_id="lo", host="mx.example.com", dns_hosts=["::1 mx.example.com"])
    with pytest.raises(DnsLookupError) as info:
        GuardedResolver(AddressResolver()).resolve(target, timeout=1.0)
    assert str(info.value) == f"mx.example.com: ::1 is a loopback address: {HINT}"


def test_a_refused_nameserver_message_names_it_and_the_way_out() -> None:
    class _NeverAsked(AddressResolver):
        def resolve(self, target: Any, *, timeout: float) -> Any:
            raise AssertionError("a refused nameserver was asked")

    target = Target(
        target_id="ns", host="mx.example.com", dns_mode="external", nameservers=["127.0.0.1:53"]
    )
    with pytest.raises(DnsLookupError) as info:
        GuardedResolver(_NeverAsked()).resolve(target, timeout=0.5)
    assert str(info.value) == f"nameserver 127.0.0.1: 127.0.0.1 is a loopback address: {HINT}"


def test_a_trimmed_answer_keeps_where_it_came_from() -> None:
    # GIVEN dns_hosts lines that mix a public address with loopback
    target = Target(
        target_id="mixed",
        host="mx.example.com",
        dns_hosts=["127.0.0.1 mx.example.com", "203.0.113.7 mx.example.com"],
    )
    # WHEN guarded
    resolution = GuardedResolver(AddressResolver()).resolve(target, timeout=1.0)
    # THEN only the public address is left, and the result still says dns_hosts
    assert [a.ip for a in resolution.addresses] == ["203.0.113.7"]
    assert resolution.source == "dns_hosts"


def test_a_guard_without_its_own_resolver_uses_the_default_one() -> None:
    target = Target(target_id="lit", host="203.0.113.7")
    resolution = GuardedResolver().resolve(target, timeout=1.0)
    assert [a.ip for a in resolution.addresses] == ["203.0.113.7"]
    assert resolution.source == "literal"


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1 is a loopback address"),
        (
            "::ffff:169.254.169.254",
            "169.254.169.254 is a link-local address (metadata endpoints live there)",
        ),
        ("2002:7f00:1::1", "127.0.0.1 is a loopback address"),  # 6to4 around 127.0.0.1
    ],
)
def test_ipv4_inside_ipv6_is_judged_as_the_ipv4_address(ip: str, reason: str) -> None:
    assert forbidden_reason(ip) == reason


def test_a_scoped_link_local_address_is_refused_by_its_address_alone() -> None:
    # The zone (an interface name) is no part of the address the refusal names.
    reason = forbidden_reason("fe80::1%eth0")
    assert reason == "fe80::1 is a link-local address (metadata endpoints live there)"


@pytest.mark.parametrize("ip", ["::ffff:203.0.113.7", "2002:cb00:7107::1"])
def test_a_public_ipv4_inside_ipv6_is_allowed(ip: str) -> None:
    assert forbidden_reason(ip) is None
