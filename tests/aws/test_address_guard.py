"""DESIGN §6: the Lambda probe refuses loopback and link-local addresses, not private ones."""

from __future__ import annotations

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
