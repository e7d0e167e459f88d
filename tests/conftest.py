"""Shared fixtures: loopback servers (aiosmtpd + trustme + hostile listeners).

- ``ip``: parametrized over "127.0.0.1" and "::1"; a test using it runs on both.
- ``certs``: one ``Certificates`` (trusted test CA + untrusted CA) per session.
- ``smtp_server(host, **options)``: a started ``SmtpServer``, stopped at teardown.
- ``hostile(server)``: starts a ``HostileServer`` (built with its class methods) and
  stops it at teardown.

Hypothesis profiles: ``ci`` (chosen when ``CI`` is set) derives each test's examples
from the test itself, so every CI run tries the same ones and a failure reproduces;
``deep`` (``HYPOTHESIS_PROFILE=deep``) tries many more examples, for a long local run.
``HYPOTHESIS_PROFILE`` names the profile whatever ``CI`` says.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings

from smtpwatch.testing.servers import Certificates, HostileServer, SmtpServer

LOOPBACKS = ("127.0.0.1", "::1")

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
# Tests that fix their own max_examples keep it; the others get 20 times the default.
settings.register_profile("deep", max_examples=2000)
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
settings.load_profile(_PROFILE)


@pytest.fixture(params=LOOPBACKS, ids=["v4", "v6"])
def ip(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def certs() -> Certificates:
    return Certificates()


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    started: list[SmtpServer] = []

    def start(host: str = "127.0.0.1", **options: Any) -> SmtpServer:
        server = SmtpServer(host, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def hostile() -> Iterator[Callable[[HostileServer], HostileServer]]:
    started: list[HostileServer] = []

    def start(server: HostileServer) -> HostileServer:
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()
