"""Certificate facts as the result reports them, from ``getpeercert()``-style dicts
(fixed vectors, in OpenSSL's own text forms) and from OpenSSL's verification errors;
the context cache's sharing and bound."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from tls_handshakes import verify_error

from smtpwatch.core.kinds import ErrorKind
from smtpwatch.core.tls import (
    CertFacts,
    ContextCache,
    cert_facts_from_dict,
    classify_verify_error,
    tls_info,
    verify_message,
)
from smtpwatch.testing.servers import Certificates

UTC = dt.UTC


@pytest.fixture
def new_york() -> Iterator[None]:
    """The machine's local time zone is not UTC for the test's duration."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        yield
    finally:
        mp.undo()
        time.tzset()


def test_subject_and_issuer_read_as_short_names_and_keep_unknown_attributes() -> None:
    facts = cert_facts_from_dict(
        {
            "subject": (
                (("commonName", "mx.example.com"),),
                (("organizationName", "Example"),),
                (("emailAddress", "hostmaster@example.com"),),
            ),
            "issuer": ((("countryName", "US"),), (("commonName", "Example CA"),)),
        }
    )
    assert facts.subject == "CN=mx.example.com, O=Example, emailAddress=hostmaster@example.com"
    assert facts.issuer == "C=US, CN=Example CA"


def test_a_certificate_without_alternative_names_has_none() -> None:
    facts = cert_facts_from_dict({"subject": ((("commonName", "old.example.com"),),)})
    assert facts.sans == ()


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("Jun  1 12:00:00 2027 GMT", dt.datetime(2027, 6, 1, 12, 0, 0, tzinfo=UTC)),
        ("Feb 28 23:59:59 2027 GMT", dt.datetime(2027, 2, 28, 23, 59, 59, tzinfo=UTC)),
        # a leap second, as OpenSSL prints it: the instant after 23:59:59
        ("Dec 31 23:59:60 2016 GMT", dt.datetime(2017, 1, 1, 0, 0, 0, tzinfo=UTC)),
        ("Jun  1 12:00:00 2027 PST", None),  # OpenSSL prints GMT only
        ("Jun  1 12:00:xx 2027 GMT", None),
    ],
)
def test_validity_times_are_read_as_openssl_prints_them(
    text: str, moment: dt.datetime | None
) -> None:
    assert cert_facts_from_dict({"notAfter": text}).not_after == moment


def test_a_certificate_is_valid_through_its_not_after_second() -> None:
    end = dt.datetime(2027, 6, 1, 12, 0, 0, tzinfo=UTC)
    facts = CertFacts(None, None, (), None, end)
    assert not facts.expired(end)
    assert facts.expired(end + dt.timedelta(seconds=1))


def test_validity_times_are_written_in_utc_whatever_the_machine_time_zone(
    new_york: None,
) -> None:
    end = dt.datetime(2027, 6, 1, 12, 0, 0, tzinfo=UTC)
    facts = CertFacts(None, None, (), end - dt.timedelta(days=90), end)
    info = tls_info(facts, now=end - dt.timedelta(days=1), version=None, cipher=None, verified=True)
    assert (info.not_before, info.not_after) == ("2027-03-03T12:00:00Z", "2027-06-01T12:00:00Z")


def test_the_verify_error_is_openssls_reason_alone(certs: Certificates) -> None:
    # GIVEN OpenSSL's errors for an untrusted and for an expired certificate
    untrusted = verify_error(certs.untrusted(), certs.ca_pem)
    expired = verify_error(certs.expired(), certs.ca_pem)
    # THEN the reason is OpenSSL's verify message, without the "[SSL: ...]" wrapping
    assert verify_message(untrusted) == untrusted.verify_message
    assert not verify_message(untrusted).startswith("[SSL")
    assert verify_message(expired) == "certificate has expired"
    assert classify_verify_error(untrusted, None, dt.datetime.now(UTC)) is ErrorKind.CERT_UNTRUSTED


def test_unverified_contexts_are_one_whatever_the_bundle(certs: Certificates) -> None:
    cache = ContextCache()
    first = cache.get(verify=False, ca_bundle=certs.ca_pem)
    assert cache.get(verify=False, ca_bundle=None) is first
    assert len(cache) == 1


def test_a_cache_of_one_bundle_keeps_only_the_latest(certs: Certificates) -> None:
    other = Certificates()
    cache = ContextCache(max_bundles=1)
    first = cache.get(verify=True, ca_bundle=certs.ca_pem)
    cache.get(verify=True, ca_bundle=other.ca_pem)
    assert len(cache) == 1
    assert cache.get(verify=True, ca_bundle=certs.ca_pem) is not first
