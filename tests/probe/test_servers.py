"""The test servers themselves behave as the probe tests assume."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Callable

import pytest

from smtpwatch.testing.servers import Certificates, HostileServer, SmtpServer, closed_port


def test_smtp_server_serves_starttls_and_counts_auth_attempts(
    ip: str, certs: Certificates, smtp_server: Callable[..., SmtpServer]
) -> None:
    # GIVEN a STARTTLS server with one user
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials={"u": "pw"})
    # WHEN a client logs in with CRAM-MD5 after STARTTLS
    with smtplib.SMTP(ip, srv.port, local_hostname="client.test", timeout=5) as client:
        client.ehlo()
        client.starttls(context=certs.client_context())
        client.ehlo()
        client.user, client.password = "u", "pw"
        code, _ = client.auth("CRAM-MD5", client.auth_cram_md5)
    # THEN the login passes and the server saw exactly that one attempt
    assert code == 235
    assert srv.auth_attempts == ["CRAM-MD5"]


def test_smtp_server_restarts_on_the_same_port(smtp_server: Callable[..., SmtpServer]) -> None:
    srv = smtp_server("127.0.0.1")
    port = srv.port
    srv.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    srv.start()
    assert srv.port == port
    socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_closed_port_refuses(ip: str) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, closed_port(ip)), timeout=2)


def test_hostile_greeting_554_is_seen_by_smtplib(
    ip: str, hostile: Callable[[HostileServer], HostileServer]
) -> None:
    srv = hostile(HostileServer.greeting(b"554 5.3.2 no service\r\n", ip))
    with pytest.raises(smtplib.SMTPConnectError) as err:
        smtplib.SMTP(ip, srv.port, local_hostname="client.test", timeout=5)
    assert err.value.smtp_code == 554
