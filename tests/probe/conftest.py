"""Fixtures for probe tests: targets pointing at loopback servers, an isolated env."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dns.resolver
import pytest

from smtpwatch.core.probe import ProbeEnvironment
from smtpwatch.core.resolve import AddressResolver
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import Certificates, closed_port

PASSWORD = "Tr0ub4dor&3-secret"  # searched for in every output by the secrecy tests
USER = "monitor@smtpwatch.test"


@pytest.fixture
def env() -> ProbeEnvironment:
    """A fresh environment whose DNS can only reach a closed loopback port: tests use
    IP literals and dns_hosts, and a stray DNS query fails instead of leaving the host."""
    stub = dns.resolver.Resolver(configure=False)
    stub.nameservers = ["127.0.0.1"]
    stub.port = closed_port("127.0.0.1")
    return ProbeEnvironment(
        resolver=AddressResolver(stub), default_ehlo_name="probe.smtpwatch.test"
    )


@pytest.fixture
def make_target(certs: Certificates) -> Callable[..., Target]:
    """``make_target(host, port, **fields)``: trusts the test CA, 10 s deadline."""

    def make(host: str, port: int | None, **fields: Any) -> Target:
        fields.setdefault("target_id", "t1")
        fields.setdefault("ca_bundle", certs.ca_pem)
        fields.setdefault("timeout_s", 10)
        if fields.get("login"):
            fields.setdefault("username", USER)
            fields.setdefault("password_ref", "env:SMTPWATCH_TEST_PASSWORD")
        return Target(host=host, port=port, **fields)

    return make


@pytest.fixture
def password() -> str:
    """The one password of the probe tests (the secrecy tests search for it)."""
    return PASSWORD
