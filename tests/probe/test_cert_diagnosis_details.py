"""Details of a failed verification the user reads: the second, unverified connection
introduces itself with the probe's EHLO name and reports the cipher; certificate fields
read there are masked like any server text; the messages list every name, or say none,
and an expiry OpenSSL reports before the certificate's own date says just that."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from tls_handshakes import verify_error

from smtpwatch.core.kinds import ErrorKind
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.probe.cert_diagnosis import verify_failure
from smtpwatch.core.server_text import ServerTextGuard
from smtpwatch.core.target import Target
from smtpwatch.core.tls import CertFacts
from smtpwatch.testing.servers import (
    DEFAULT_HOSTNAME,
    WRONG_HOSTNAME,
    Certificates,
    SmtpServer,
)

MakeTarget = Callable[..., Target]
Smtp = Callable[..., SmtpServer]
NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)


def _facts(subject: str | None, *sans: str, not_after: dt.datetime) -> CertFacts:
    return CertFacts(
        subject=subject,
        issuer="O=smtpwatch test CA",
        sans=sans,
        not_before=not_after - dt.timedelta(days=90),
        not_after=not_after,
    )


def test_an_untrusted_certificate_is_read_again_with_the_probes_name_and_cipher(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a STARTTLS server whose certificate comes from a CA the target does not trust
    srv = smtp_server(ip, cert=certs.untrusted(), starttls=True)
    # WHEN probed
    result = probe(make_target(ip, srv.port), env=env)
    # THEN cert_untrusted, with the facts, version and cipher of the second connection,
    # which introduced itself with the probe's EHLO name like the first
    assert result.error is not None and result.error.kind is ErrorKind.CERT_UNTRUSTED
    assert result.tls is not None and not result.tls.verified
    assert result.tls.issuer is not None and "untrusted CA" in result.tls.issuer
    assert result.tls.version is not None and result.tls.version.startswith("TLSv1.")
    assert result.tls.cipher is not None and not result.tls.cipher.startswith("TLSv")
    assert len(srv.ehlo_names) == 2, srv.ehlo_names
    assert set(srv.ehlo_names) == {"probe.smtpwatch.test"}


def test_certificate_fields_read_unverified_are_masked(certs: Certificates) -> None:
    # GIVEN a certificate whose subject and names spell the probe's password
    password = "Tr0ub4dor&3-secret"
    err = verify_error(certs.wrong_hostname(), certs.ca_pem)
    facts = _facts(
        f"CN={password}", f"DNS:{password}.example.com", not_after=NOW + dt.timedelta(days=90)
    )
    # WHEN the failure is diagnosed with the probe's guard
    tls, error = verify_failure(
        err,
        (facts, "TLSv1.3", None),
        now=NOW,
        host=DEFAULT_HOSTNAME,
        guard=ServerTextGuard([password]),
    )
    # THEN the password appears nowhere: not in the facts, not in the message
    assert error.kind is ErrorKind.CERT_HOSTNAME
    for text in (tls.subject, *tls.sans, error.message):
        assert text is not None and password not in text, text
        assert "Tr0ub4dor" not in text, text


def test_a_hostname_mismatch_lists_every_name_or_says_none(certs: Certificates) -> None:
    err = verify_error(certs.wrong_hostname(), certs.ca_pem)
    guard = ServerTextGuard()
    facts = _facts(
        None,
        f"DNS:{WRONG_HOSTNAME}",
        "DNS:other.example.com",
        not_after=NOW + dt.timedelta(days=90),
    )
    _, error = verify_failure(err, (facts, None, None), now=NOW, host=DEFAULT_HOSTNAME, guard=guard)
    assert error.message == (
        f"certificate is not valid for {DEFAULT_HOSTNAME}"
        f" (names: DNS:{WRONG_HOSTNAME}, DNS:other.example.com)"
    )
    _, error = verify_failure(err, (None, None, None), now=NOW, host=DEFAULT_HOSTNAME, guard=guard)
    assert error.message == f"certificate is not valid for {DEFAULT_HOSTNAME} (names: none)"


@pytest.mark.parametrize("left", [dt.timedelta(hours=3), dt.timedelta(days=1, hours=3)])
def test_an_expiry_openssl_reports_before_the_certificates_date_claims_no_date(
    certs: Certificates, left: dt.timedelta
) -> None:
    # GIVEN OpenSSL says expired, but by this machine's clock the certificate ends later
    err = verify_error(certs.expired(), certs.ca_pem)
    facts = _facts(None, f"DNS:{DEFAULT_HOSTNAME}", not_after=NOW + left)
    # WHEN diagnosed
    _, error = verify_failure(
        err, (facts, None, None), now=NOW, host=DEFAULT_HOSTNAME, guard=ServerTextGuard()
    )
    # THEN it is cert_expired, without an "expired N days ago" that would be false
    assert (error.kind, error.message) == (ErrorKind.CERT_EXPIRED, "certificate expired")
