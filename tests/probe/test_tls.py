"""TLS: verification against the target's host, facts, days_left, warnings, contexts."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Callable

import pytest

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, Status, WarningKind
from smtpwatch.core.target import Target
from smtpwatch.core.tls import ContextCache
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer

MakeTarget = Callable[..., Target]
Smtp = Callable[..., SmtpServer]


def test_name_from_dns_hosts_is_verified_and_sent_as_sni(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN the host name mapped to a loopback address through dns_hosts
    srv = smtp_server(ip, cert=certs.valid(), starttls=True)
    target = make_target(DEFAULT_HOSTNAME, srv.port, dns_hosts=[f"{ip} {DEFAULT_HOSTNAME}"])
    # WHEN probed (connecting to the IP)
    result = probe(target, env=env)
    # THEN the certificate was checked against the name, which was also the SNI
    assert result.status is Status.OK, result.to_dict()
    assert result.address.ip == ip and result.address.source == "dns_hosts"
    assert result.tls is not None and result.tls.verified
    assert f"DNS:{DEFAULT_HOSTNAME}" in result.tls.sans
    assert srv.sni_names == [DEFAULT_HOSTNAME]


def test_ip_literal_host_is_verified_against_the_ip_san(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), implicit_tls=True)
    result = probe(make_target(ip, srv.port, encryption="implicit"), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.tls is not None and result.tls.verified
    assert srv.sni_names == [None]


def test_certificate_facts_are_reported(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    cert = certs.expiring(days=40.5)
    srv = smtp_server(ip, cert=cert, starttls=True)
    result = probe(make_target(ip, srv.port), env=env)
    assert result.status is Status.OK, result.to_dict()
    tls = result.tls
    assert tls is not None
    assert tls.days_left == 40
    assert tls.not_after == cert.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tls.not_before is not None and tls.not_before < tls.not_after
    assert tls.issuer is not None and "smtpwatch test CA" in tls.issuer
    assert tls.subject is not None and "O=" in tls.subject
    assert "IP Address:127.0.0.1" in tls.sans
    assert tls.cipher and tls.version


def test_cert_expiring_within_cert_warn_days_is_a_warning(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.expiring(days=5.5), starttls=True)
    result = probe(make_target(ip, srv.port), env=env)  # cert_warn_days default 14
    assert result.status is Status.WARNING
    assert [w.kind for w in result.warnings] == [WarningKind.CERT_EXPIRING]
    assert "5 days" in result.warnings[0].message
    assert result.tls is not None and result.tls.days_left == 5


def test_cert_outside_cert_warn_days_is_ok(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.expiring(days=5.5), starttls=True)
    result = probe(make_target(ip, srv.port, cert_warn_days=3), env=env)
    assert result.status is Status.OK
    assert result.warnings == ()


def test_tls_verify_false_accepts_an_untrusted_cert_and_still_reports_it(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.untrusted(), starttls=True)
    result = probe(make_target(ip, srv.port, tls_verify=False, ca_bundle=None), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.tls is not None and not result.tls.verified
    assert result.tls.issuer is not None and "untrusted CA" in result.tls.issuer
    assert result.tls.days_left is not None and result.tls.days_left > 300


def test_tls_verify_false_with_an_expired_cert_is_a_warning_not_a_failure(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.expired(), starttls=True)
    result = probe(make_target(ip, srv.port, tls_verify=False), env=env)
    assert result.status is Status.WARNING
    assert [w.kind for w in result.warnings] == [WarningKind.CERT_EXPIRING]
    assert result.warnings[0].message.startswith("certificate expired 2 days ago (not after ")


def test_system_store_does_not_trust_the_test_ca(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # Without ca_bundle the system store is used: verification is on by default.
    srv = smtp_server(ip, cert=certs.valid(), starttls=True)
    result = probe(make_target(ip, srv.port, ca_bundle=None), env=env)
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.CERT_UNTRUSTED, Phase.TLS)


def test_ca_bundle_may_pin_the_server_certificate_itself(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # VERIFY_X509_PARTIAL_CHAIN (set on every Python version): a bundle holding only the
    # server's leaf certificate is enough, e.g. for a self-managed MX.
    cert = certs.untrusted()
    leaf_pem = cert.chain_pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    srv = smtp_server(ip, cert=cert, starttls=True)
    result = probe(make_target(ip, srv.port, ca_bundle=leaf_pem), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.tls is not None and result.tls.verified


def test_ssl_contexts_are_built_once_and_reused(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True)
    target = make_target(ip, srv.port)
    first = env.ssl_contexts.get(verify=True, ca_bundle=target.ca_bundle)
    for _ in range(3):
        assert probe(target, env=env).status is Status.OK
    assert env.ssl_contexts.get(verify=True, ca_bundle=target.ca_bundle) is first
    assert len(env.ssl_contexts) == 1


def test_contexts_of_targets_own_ca_bundles_are_bounded_and_rebuilt_when_dropped(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    import trustme

    # GIVEN a long-lived cache (a warm Lambda, `smtpwatch run`) that sees many bundles
    cache = ContextCache(max_bundles=3)
    system = cache.get(verify=True, ca_bundle=None)
    unverified = cache.get(verify=False, ca_bundle=None)
    for _ in range(5):
        cache.get(verify=True, ca_bundle=trustme.CA().cert_pem.bytes().decode())
    # THEN only the 3 newest bundle contexts are kept, the system-store ones stay
    assert len(cache) == 2 + 3
    assert cache.get(verify=True, ca_bundle=None) is system
    assert cache.get(verify=False, ca_bundle=None) is unverified
    # AND a target whose bundle's context was dropped still verifies (it is rebuilt)
    srv = smtp_server(ip, cert=certs.valid(), starttls=True)
    target = make_target(ip, srv.port)
    for _ in range(4):  # push it out: 3 other bundles after it
        cache.get(verify=True, ca_bundle=target.ca_bundle)
        for _ in range(3):
            cache.get(verify=True, ca_bundle=trustme.CA().cert_pem.bytes().decode())
    assert len(cache) == 5
    env.ssl_contexts = cache
    result = probe(target, env=env)
    assert result.status is Status.OK and result.tls is not None and result.tls.verified
    assert len(cache) == 5


def test_verification_flags_are_the_same_on_every_python() -> None:
    # Python 3.13 turns on VERIFY_X509_STRICT by default; smtpwatch decides itself.
    ctx = ContextCache().get(verify=True, ca_bundle=None)
    assert not ctx.verify_flags & ssl.VERIFY_X509_STRICT
    assert ctx.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname


def test_days_left_counts_whole_days_down(certs: Certificates) -> None:
    from smtpwatch.core.tls import CertFacts, tls_info

    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    facts = CertFacts("CN=x", "CN=ca", (), now, now + dt.timedelta(days=2, hours=23))
    assert tls_info(facts, now=now, version=None, cipher=None, verified=True).days_left == 2
    expired = CertFacts("CN=x", "CN=ca", (), now, now - dt.timedelta(hours=1))
    assert tls_info(expired, now=now, version=None, cipher=None, verified=True).days_left == -1


def test_a_chain_that_only_strict_x509_rejects_verifies_on_every_python(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server whose CA has no key usage and whose leaf has no key identifiers
    leaf, ca_pem = certs.legacy()
    srv = smtp_server(ip, cert=leaf, implicit_tls=True)
    # (which VERIFY_X509_STRICT — Python 3.13's default — refuses)
    strict = ssl.create_default_context(cadata=ca_pem)
    strict.verify_flags |= ssl.VERIFY_X509_STRICT
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection((ip, srv.port), timeout=5) as raw,
    ):
        strict.wrap_socket(raw, server_hostname=ip).close()
    # WHEN probed with that CA as ca_bundle
    result = probe(make_target(ip, srv.port, encryption="implicit", ca_bundle=ca_pem), env=env)
    # THEN it verifies, as it would for an OpenSSL-based MTA, on 3.11 and on 3.13 alike
    assert result.status is Status.OK, result.to_dict()
    assert result.tls is not None and result.tls.verified


def test_a_ca_bundle_that_cannot_be_loaded_is_a_config_error(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True)
    broken = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    result = probe(make_target(ip, srv.port, ca_bundle=broken), env=env)
    assert result.status is Status.CRITICAL
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.CONFIG, Phase.TLS)
    assert "ca_bundle" in result.error.message


def test_expiry_phrase_counts_whole_days_elapsed_since_not_after() -> None:
    from smtpwatch.core.result import expiry_phrase
    from smtpwatch.core.tls import CertFacts, tls_info

    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)

    def phrase(not_after: dt.datetime) -> str:
        facts = CertFacts("CN=x", "CN=ca", (), now - dt.timedelta(days=90), not_after)
        days_left = tls_info(facts, now=now, version=None, cipher=None, verified=True).days_left
        assert days_left is not None
        return expiry_phrase(days_left)

    # GIVEN certificates that expired 2 days + 1 s, 1 day + 1 s, 1 s ago, or expire soon
    # THEN the words say the whole days elapsed, never one more
    assert phrase(now - dt.timedelta(days=2, seconds=1)) == "expired 2 days ago"
    assert phrase(now - dt.timedelta(days=1, seconds=1)) == "expired 1 day ago"
    assert phrase(now - dt.timedelta(seconds=1)) == "expired within the last 24 hours"
    assert phrase(now + dt.timedelta(hours=23)) == "expires within 24 hours"
    assert phrase(now + dt.timedelta(days=9, hours=1)) == "expires in 9 days"
