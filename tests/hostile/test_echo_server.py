"""The echoing server really echoes: every site, every shape, on both loopbacks.

The leak tests pass when nothing leaks; a server that had quietly stopped echoing
would make them pass too. A plain client (sockets and ssl, no smtpwatch) walks the
whole dialogue here and finds the password, in the shape asked for, where asked for.
"""

from __future__ import annotations

import base64
import socket
import ssl

import pytest

from hostile.echo_server import SHAPES, SITES, EchoPlan, EchoServer, shape
from hostile.scenarios import Rig
from smtpwatch.testing.servers import Certificates

PASSWORD = "Echo-Me-If-You-Can-42"


class _Client:
    def __init__(self, server: EchoServer, context: ssl.SSLContext) -> None:
        family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
        self.sock: socket.socket = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect((server.host, server.port))
        self.context = context
        self.seen: list[str] = []
        self._buf = b""

    def tls(self) -> None:
        self.sock = self.context.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self._buf = b""

    def reply(self) -> int:
        while True:
            while b"\n" not in self._buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return 0
                self._buf += chunk
            line, _, self._buf = self._buf.partition(b"\n")
            text = line.decode("utf-8").rstrip("\r")
            self.seen.append(text)
            if text[3:4] != "-":
                return int(text[:3])

    def send(self, line: str) -> int:
        self.sock.sendall(line.encode("utf-8") + b"\r\n")
        return self.reply()


def _dialogue(server: EchoServer, certs: Certificates, plan: EchoPlan) -> str:
    """Greeting, EHLO, STARTTLS, EHLO, AUTH PLAIN, QUIT as far as the plan lets it go."""
    context = ssl.create_default_context(cadata=certs.ca_pem)
    if not plan.cert_trusted:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    client = _Client(server, context)
    if plan.mode == "implicit":
        client.tls()
    try:
        if client.reply() != 220 or client.send("EHLO client.test") != 250:
            return "\n".join(client.seen)
        if plan.mode != "implicit":
            if client.send("STARTTLS") != 220:
                return "\n".join(client.seen)
            client.tls()
            client.send("EHLO client.test")
        token = base64.b64encode(f"\0user\0{PASSWORD}".encode()).decode()
        client.send(f"AUTH PLAIN {token}")
        client.send("QUIT")
        if not plan.cert_trusted:
            assert isinstance(client.sock, ssl.SSLSocket)
            cert = client.sock.getpeercert(binary_form=True) or b""
            client.seen.append(cert.decode("latin-1"))
    finally:
        client.sock.close()
    return "\n".join(client.seen)


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1"])
@pytest.mark.parametrize("site", SITES)
def test_each_site_carries_the_password(rig: Rig, certs: Certificates, site: str, ip: str) -> None:
    plan = EchoPlan(
        mode="starttls" if site != "ehlo_keyword" else "implicit",
        echoes=((site, "plain"),),
        cert_trusted=site != "certificate",
    )
    server = rig.servers[ip]
    server.configure(plan, remember=(PASSWORD,))
    seen = _dialogue(server, certs, plan)
    assert PASSWORD in seen
    server.configure(plan, echo=False, remember=(PASSWORD,))
    assert PASSWORD not in _dialogue(server, certs, plan)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_shape_reaches_the_wire(rig: Rig, certs: Certificates, name: str) -> None:
    plan = EchoPlan(echoes=(("greeting", name),))
    server = rig.servers["127.0.0.1"]
    server.configure(plan, remember=(PASSWORD,))
    seen = _dialogue(server, certs, plan)
    for fragment in shape(name, PASSWORD):
        # the wire carries each fragment (tabs of the spaced shape included)
        assert fragment in seen, (name, fragment, seen)


def test_the_server_learns_what_auth_sent(rig: Rig, certs: Certificates) -> None:
    plan = EchoPlan(echoes=(("auth", "plain"),))
    server = rig.servers["127.0.0.1"]
    server.configure(plan)  # nothing remembered: only what AUTH sends
    seen = _dialogue(server, certs, plan)
    assert server.received() == [("PLAIN", PASSWORD)]
    assert f"535 5.7.8 no {PASSWORD}" in seen
