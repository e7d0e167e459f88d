"""Shared fixtures: loopback servers (aiosmtpd + trustme + hostile listeners).

- ``ip``: parametrized over "127.0.0.1" and "::1"; a test using it runs on both.
- ``certs``: one ``Certificates`` (trusted test CA + untrusted CA) per session.
- ``smtp_server(host, **options)``: a started ``SmtpServer``, stopped at teardown.
- ``hostile(server)``: starts a ``HostileServer`` (built with its class methods) and
  stops it at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from smtpwatch.testing.servers import Certificates, HostileServer, SmtpServer

LOOPBACKS = ("127.0.0.1", "::1")


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
