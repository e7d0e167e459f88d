"""TLS verdicts as an operator reads them, against real TLS servers on loopback with
trustme certificates: the exact verify_error of a name mismatch, certificate facts of
a verified handshake where no temporary directory is writable, and the diagnosing
second connection held to the probe's deadline by a server that stops accepting."""

from __future__ import annotations

import contextlib
import socket
import ssl
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, Status
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import (
    DEFAULT_HOSTNAME,
    WRONG_HOSTNAME,
    Certificates,
    ServerCert,
    SmtpServer,
)

MakeTarget = Callable[..., Target]
Smtp = Callable[..., SmtpServer]


# ---------------------------------------------------------------- name mismatches


def test_a_name_mismatch_shows_the_reason_without_a_trailing_period(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a STARTTLS server whose certificate names another host
    srv = smtp_server(ip, cert=certs.wrong_hostname(), starttls=True)
    target = make_target(DEFAULT_HOSTNAME, srv.port, dns_hosts=[f"{ip} {DEFAULT_HOSTNAME}"])
    # WHEN probed by its name
    result = probe(target, env=env)
    # THEN cert_hostname in tls, the message lists the certificate's names, and the
    # reason is the sentence without its final period (the result prints it mid-line)
    assert result.status is Status.CRITICAL
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.CERT_HOSTNAME, Phase.TLS)
    assert result.error.message == (
        f"certificate is not valid for {DEFAULT_HOSTNAME} (names: DNS:{WRONG_HOSTNAME})"
    )
    assert result.tls is not None
    assert result.tls.verify_error == (
        f"Hostname mismatch, certificate is not valid for '{DEFAULT_HOSTNAME}'"
    )


def test_an_ip_literal_mismatch_shows_the_reason_without_a_trailing_period(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.wrong_hostname(), implicit_tls=True)
    result = probe(make_target(ip, srv.port, encryption="implicit"), env=env)
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.CERT_HOSTNAME, Phase.TLS)
    assert result.error.message == (
        f"certificate is not valid for {ip} (names: DNS:{WRONG_HOSTNAME})"
    )
    assert result.tls is not None
    assert result.tls.verify_error == f"IP address mismatch, certificate is not valid for '{ip}'"


# ---------------------------------------------------------------- no temporary directory


def test_a_verified_probe_reports_certificate_facts_where_no_temp_dir_is_writable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    # GIVEN a healthy STARTTLS server (started first: its context is built from files)
    cert = certs.valid()
    srv = smtp_server("127.0.0.1", cert=cert, starttls=True)
    # AND a machine where no temporary file can be made (a read-only file system)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(OSError):
        tempfile.mkstemp()
    # WHEN probed with verification
    result = probe(make_target("127.0.0.1", srv.port), env=env)
    # THEN ok, and the verified handshake's own facts are reported
    assert result.status is Status.OK, result.to_dict()
    tls = result.tls
    assert tls is not None and tls.verified
    assert tls.issuer is not None and "smtpwatch test CA" in tls.issuer
    assert f"DNS:{DEFAULT_HOSTNAME}" in tls.sans and "IP Address:127.0.0.1" in tls.sans
    assert tls.not_after == cert.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- deprecated ssl API


def test_an_unverified_probe_uses_no_deprecated_ssl_api(
    smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server whose certificate no one trusts, probed with tls_verify false, while
    # smtpwatch's own use of a deprecated API is an error (as a future Python makes it)
    srv = smtp_server("127.0.0.1", cert=certs.untrusted(), implicit_tls=True)
    target = make_target("127.0.0.1", srv.port, encryption="implicit", tls_verify=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=DeprecationWarning, module=r"smtpwatch\.")
        result = probe(target, env=env)
    # THEN the probe works as ever: ok, unverified, with the certificate's facts
    assert result.status is Status.OK, result.to_dict()
    assert result.tls is not None and not result.tls.verified
    assert result.tls.issuer is not None and "untrusted CA" in result.tls.issuer


# ---------------------------------------------------------------- the second connection


class _AcceptOnceThenFull:
    """Implicit TLS on 127.0.0.1 for one connection; then the listener's one-slot accept
    queue is filled by a connection of its own, so the kernel drops every further SYN
    (the diagnosing second connection's connect hangs until its timeout). The listener
    is closed when ``release`` is set (or after ``hold_s``), which refuses connects."""

    def __init__(self, cert: ServerCert, hold_s: float) -> None:
        self._context = cert.server_context()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port: int = self._listener.getsockname()[1]
        self.release = threading.Event()
        self._hold_s = hold_s
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.settimeout(10)
            conn, _ = self._listener.accept()
            filler.settimeout(2)
            filler.connect(("127.0.0.1", self.port))  # fills the accept queue
            with conn:
                conn.settimeout(5)
                with (
                    contextlib.suppress(ssl.SSLError, OSError),
                    self._context.wrap_socket(conn, server_side=True) as tls,
                ):
                    tls.recv(1)
            self.release.wait(self._hold_s)
        finally:
            self._listener.close()
            filler.close()

    def stop(self) -> None:
        self.release.set()
        self._thread.join(10)


@pytest.fixture
def accept_once(certs: Certificates) -> Iterator[_AcceptOnceThenFull]:
    server = _AcceptOnceThenFull(certs.untrusted(), hold_s=8)
    try:
        yield server
    finally:
        server.stop()


def test_a_diagnosing_connection_that_cannot_connect_ends_within_the_deadline(
    accept_once: _AcceptOnceThenFull, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN an implicit-TLS server with an untrusted certificate that accepts the
    # probe's first connection and then no other
    target = make_target("127.0.0.1", accept_once.port, encryption="implicit", timeout_s=2)
    # WHEN probed
    started = time.monotonic()
    result = probe(target, env=env)
    elapsed = time.monotonic() - started
    accept_once.release.set()
    # THEN cert_untrusted in tls, without the facts the second connection could not
    # read, and the probe kept its 2 s deadline (its connect was capped by what was left)
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.CERT_UNTRUSTED, Phase.TLS)
    assert result.error.message == "certificate not trusted: unable to get local issuer certificate"
    assert result.tls is not None and result.tls.issuer is None
    assert elapsed < 2 + 1.0, elapsed
