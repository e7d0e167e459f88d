"""Encryption modes explicit / implicit / none / auto and their default ports."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator

import pytest

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, Status, WarningKind
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import Certificates, HostileServer, SmtpServer

MakeTarget = Callable[..., Target]
Smtp = Callable[..., SmtpServer]


def test_explicit_does_starttls_and_ehlo_again(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server that offers AUTH only after STARTTLS (aiosmtpd's default)
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials={"u": "p"})
    # WHEN probed with encryption explicit
    result = probe(make_target(ip, srv.port, encryption="explicit"), env=env)
    # THEN every phase up to the second EHLO passed, TLS is verified
    assert result.status is Status.OK, result.to_dict()
    for phase in (Phase.BANNER, Phase.EHLO, Phase.STARTTLS, Phase.TLS, Phase.EHLO_TLS):
        assert result.phase(phase).ok, phase
    assert result.tls is not None and result.tls.verified
    assert result.tls.version in ("TLSv1.2", "TLSv1.3")
    # and the extensions are those of the EHLO sent after TLS (RFC 3207)
    assert "AUTH" in result.server.extensions
    assert "STARTTLS" not in result.server.extensions
    assert srv.sni_names == [None]  # an IP-literal host sends no SNI
    assert not result.phase(Phase.AUTH).reached
    assert result.phase(Phase.QUIT).ok


def test_implicit_speaks_tls_from_the_first_byte(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), implicit_tls=True)
    result = probe(make_target(ip, srv.port, encryption="implicit"), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.phase(Phase.TLS).ok and result.phase(Phase.BANNER).ok
    assert not result.phase(Phase.STARTTLS).reached
    assert not result.phase(Phase.EHLO_TLS).reached
    assert result.tls is not None and result.tls.verified


def test_none_never_starts_tls_even_when_offered(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True)
    result = probe(make_target(ip, srv.port, encryption="none"), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.tls is None
    assert not result.phase(Phase.STARTTLS).reached
    assert "STARTTLS" in result.server.extensions
    assert result.warnings == ()


def test_auto_uses_starttls_when_offered(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True)
    result = probe(make_target(ip, srv.port, encryption="auto"), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.phase(Phase.EHLO_TLS).ok
    assert result.tls is not None and result.tls.verified


def test_auto_without_starttls_runs_plain_with_tls_not_offered_warning(
    ip: str, smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip)
    result = probe(make_target(ip, srv.port, encryption="auto"), env=env)
    assert result.status is Status.WARNING
    assert result.status.exit_code == 1
    assert [w.kind for w in result.warnings] == [WarningKind.TLS_NOT_OFFERED]
    assert result.error is None and result.tls is None
    assert result.phase(Phase.QUIT).ok


def test_auto_never_downgrades_after_a_failed_starttls(
    ip: str,
    hostile: Callable[[HostileServer], HostileServer],
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    srv = hostile(HostileServer.starttls_454(ip))
    result = probe(make_target(ip, srv.port, encryption="auto"), env=env)
    assert result.status is Status.CRITICAL
    assert result.error is not None and result.error.kind is ErrorKind.STARTTLS
    assert result.error.smtp_code == 454


def test_auto_is_never_implicit_tls(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # An SMTPS port waits for a ClientHello; auto waits for a greeting: no TLS is tried.
    srv = smtp_server(ip, cert=certs.valid(), implicit_tls=True)
    result = probe(make_target(ip, srv.port, encryption="auto", timeout_s=1), env=env)
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.TIMEOUT, Phase.BANNER)
    assert not result.phase(Phase.TLS).reached


# ------------------------------------------------------------------ default ports
# These servers bind the real default ports (25, 465, 587) on loopback, which needs
# root (CI runs them as root). Without the privilege the tests skip, saying why; a port
# another program keeps (a local MTA) skips them too, except in CI, where it is a
# failure. Binding retries for a while in case a parallel run of this test holds it.


def _server_on(port: int, host: str, **options: object) -> SmtpServer:
    end = time.monotonic() + 15
    while True:
        try:
            return SmtpServer(host, port, **options).start()  # type: ignore[arg-type]
        except OSError as err:
            if err.errno in (errno.EACCES, errno.EPERM):
                pytest.skip(f"binding port {port} needs root (CI runs these tests as root)")
            if err.errno != errno.EADDRINUSE or time.monotonic() > end:
                if err.errno == errno.EADDRINUSE and not os.environ.get("CI"):
                    pytest.skip(f"port {port} on {host} is held by another program")
                raise
            time.sleep(0.5)


@pytest.fixture
def on_default_port(ip: str, certs: Certificates) -> Iterator[Callable[..., SmtpServer]]:
    started: list[SmtpServer] = []

    def start(port: int, **options: object) -> SmtpServer:
        server = _server_on(port, ip, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.mark.parametrize(
    ("encryption", "port", "tls"),
    [
        ("explicit", 587, "starttls"),
        ("implicit", 465, "implicit"),
        ("none", 25, None),
        ("auto", 25, "starttls"),
    ],
)
def test_empty_port_means_the_default_port_of_the_encryption(
    ip: str,
    encryption: str,
    port: int,
    tls: str | None,
    on_default_port: Callable[..., SmtpServer],
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    # GIVEN a server on the mode's default port
    on_default_port(
        port,
        cert=certs.valid(),
        starttls=tls == "starttls",
        implicit_tls=tls == "implicit",
    )
    # WHEN a target without port is probed
    result = probe(make_target(ip, None, encryption=encryption), env=env)
    # THEN it reached that server on that port
    assert result.status is Status.OK, result.to_dict()
    assert result.port == port and result.address.port == port
    assert (result.tls is not None) == (tls is not None)
