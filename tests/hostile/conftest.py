"""Fixtures of the hostile-server tests: one echoing server per loopback address for
the whole module (reconfigured per example), a webhook receiver, a log capture."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dns.resolver
import pytest

from hostile.echo_server import EchoServer
from hostile.receivers import LogCapture, WebhookReceiver
from hostile.scenarios import Rig
from smtpwatch.core.probe import ProbeEnvironment
from smtpwatch.core.resolve import AddressResolver
from smtpwatch.testing.servers import Certificates, closed_port

LOOPBACKS = ("127.0.0.1", "::1")


@pytest.fixture(scope="module")
def rig(certs: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hostile")
    ca_file = workdir / "ca.pem"
    ca_file.write_text(certs.ca_pem, encoding="ascii")
    # DNS can only reach a closed loopback port: targets are IP literals.
    stub = dns.resolver.Resolver(configure=False)
    stub.nameservers = ["127.0.0.1"]
    stub.port = closed_port("127.0.0.1")
    env = ProbeEnvironment(resolver=AddressResolver(stub), default_ehlo_name="probe.smtpwatch.test")
    servers = {host: EchoServer(host, certs).start() for host in LOOPBACKS}
    webhook = WebhookReceiver().start()
    logs = LogCapture()
    root = logging.getLogger()
    ours = logging.getLogger("smtpwatch")
    old_level = ours.level
    ours.setLevel(logging.DEBUG)
    root.addHandler(logs)
    try:
        yield Rig(servers, certs.ca_pem, str(ca_file), env, webhook, logs, workdir)
    finally:
        root.removeHandler(logs)
        ours.setLevel(old_level)
        webhook.stop()
        for server in servers.values():
            server.stop()
