"""Certificate diagnosis as plain functions: a failed verification → kind and message,
and the expiry warning. The verification errors are OpenSSL's own, from handshakes
between the probe's client context and a test server context over memory buffers."""

from __future__ import annotations

import datetime as dt

import pytest
from tls_handshakes import verify_error

from smtpwatch.core.kinds import ErrorKind, WarningKind
from smtpwatch.core.probe.cert_diagnosis import expiry_warning, verify_failure
from smtpwatch.core.server_text import ServerTextGuard
from smtpwatch.core.tls import CertFacts, tls_info
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, WRONG_HOSTNAME, Certificates

NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)


def _facts(*sans: str, not_after: dt.datetime) -> CertFacts:
    return CertFacts(
        subject=None,
        issuer="O=smtpwatch test CA",
        sans=tuple(f"DNS:{name}" for name in sans),
        not_before=not_after - dt.timedelta(days=90),
        not_after=not_after,
    )


def test_an_expired_certificate_is_cert_expired_saying_how_long_ago(certs: Certificates) -> None:
    # GIVEN OpenSSL's error for an expired certificate, whose facts were read unverified
    err = verify_error(certs.expired(), certs.ca_pem)
    facts = _facts(DEFAULT_HOSTNAME, not_after=NOW - dt.timedelta(days=2, hours=1))
    # WHEN it is diagnosed
    tls, error = verify_failure(
        err, (facts, "TLSv1.3", None), now=NOW, host=DEFAULT_HOSTNAME, guard=ServerTextGuard()
    )
    # THEN it is cert_expired, with the days since and the facts in the TLS part
    assert error.kind is ErrorKind.CERT_EXPIRED
    assert error.message == "certificate expired 2 days ago (not after 2027-05-30T11:00:00Z)"
    assert (tls.verified, tls.version, tls.days_left) == (False, "TLSv1.3", -3)
    assert tls.verify_error is not None and "expired" in tls.verify_error


def test_a_certificate_for_another_name_is_cert_hostname_listing_its_names(
    certs: Certificates,
) -> None:
    err = verify_error(certs.wrong_hostname(), certs.ca_pem)
    facts = _facts(WRONG_HOSTNAME, not_after=NOW + dt.timedelta(days=300))
    tls, error = verify_failure(
        err, (facts, None, None), now=NOW, host=DEFAULT_HOSTNAME, guard=ServerTextGuard()
    )
    assert error.kind is ErrorKind.CERT_HOSTNAME
    assert error.message == (
        f"certificate is not valid for {DEFAULT_HOSTNAME} (names: DNS:{WRONG_HOSTNAME})"
    )
    assert tls.sans == (f"DNS:{WRONG_HOSTNAME}",)


def test_an_expired_certificate_for_another_name_is_cert_expired_first(
    certs: Certificates,
) -> None:
    # GIVEN a certificate both expired and for another name (OpenSSL names the name first)
    err = verify_error(certs.expired_wrong_hostname(), certs.ca_pem)
    facts = _facts(WRONG_HOSTNAME, not_after=NOW - dt.timedelta(days=2, hours=1))
    # WHEN it is diagnosed, THEN its own dates decide: the more urgent fix
    _, error = verify_failure(
        err, (facts, None, None), now=NOW, host=DEFAULT_HOSTNAME, guard=ServerTextGuard()
    )
    assert error.kind is ErrorKind.CERT_EXPIRED


def test_a_certificate_from_an_unknown_ca_is_cert_untrusted_with_openssls_reason(
    certs: Certificates,
) -> None:
    err = verify_error(certs.valid(), certs.untrusted_ca_pem)
    _, error = verify_failure(
        err, (None, None, None), now=NOW, host=DEFAULT_HOSTNAME, guard=ServerTextGuard()
    )
    assert error.kind is ErrorKind.CERT_UNTRUSTED
    assert error.message.startswith("certificate not trusted: ")
    assert not error.message.endswith(".")  # OpenSSL's sentence, without its full stop


def test_without_facts_an_expired_certificate_is_still_cert_expired(certs: Certificates) -> None:
    # GIVEN the second connection read nothing
    err = verify_error(certs.expired(), certs.ca_pem)
    tls, error = verify_failure(
        err, (None, None, None), now=NOW, host=DEFAULT_HOSTNAME, guard=ServerTextGuard()
    )
    # THEN OpenSSL's code alone decides, and the message claims no date
    assert (error.kind, error.message) == (ErrorKind.CERT_EXPIRED, "certificate expired")
    assert (tls.not_after, tls.days_left, tls.sans) == (None, None, ())


@pytest.mark.parametrize(
    ("left", "warn_days", "expected"),
    [
        (dt.timedelta(days=5, hours=1), 14, "certificate expires in 5 days"),
        (dt.timedelta(hours=3), 14, "certificate expires within 24 hours"),
        (dt.timedelta(days=13, hours=23), 14, "certificate expires in 13 days"),
        (dt.timedelta(days=14), 14, None),
        (dt.timedelta(days=200), 14, None),
        (dt.timedelta(days=5), 0, None),
    ],
)
def test_a_certificate_ending_within_the_warning_days_warns(
    left: dt.timedelta, warn_days: int, expected: str | None
) -> None:
    # GIVEN a verified certificate ending ``left`` from now
    facts = _facts(DEFAULT_HOSTNAME, not_after=NOW + left)
    tls = tls_info(facts, now=NOW, version="TLSv1.3", cipher=None, verified=True)
    # WHEN the expiry is checked against ``warn_days``
    warning = expiry_warning(facts, tls, now=NOW, warn_days=warn_days)
    # THEN there is a cert_expiring warning exactly when it ends within them
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and warning.kind is WarningKind.CERT_EXPIRING
        assert warning.message == f"{expected} (not after {tls.not_after})"


def test_no_facts_no_expiry_warning() -> None:
    tls = tls_info(None, now=NOW, version="TLSv1.3", cipher=None, verified=True)
    assert expiry_warning(None, tls, now=NOW, warn_days=14) is None
