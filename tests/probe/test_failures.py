"""Every failure class (``error.kind``), reproduced by a real server on 127.0.0.1 and ::1.

Each test names the server's misbehaviour and asserts what the operator sees: the
failure class (``error.kind``), the phase, the SMTP codes and the one-line message.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import (
    DEFAULT_HOSTNAME,
    Certificates,
    HostileServer,
    SmtpServer,
    closed_port,
)

MakeTarget = Callable[..., Target]
Hostile = Callable[[HostileServer], HostileServer]
Smtp = Callable[..., SmtpServer]


def assert_failure(result: ProbeResult, kind: ErrorKind, phase: Phase) -> None:
    assert result.status is Status.CRITICAL, result.to_dict()
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (kind, phase), result.error
    assert "\n" not in result.error.message
    assert result.phase(phase).reached and not result.phase(phase).ok


# ---------------------------------------------------------------- before the dialogue


def test_login_without_password_is_config_error_and_touches_no_server(
    ip: str, smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment, certs: Certificates
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials={"u": "p"})
    result = probe(make_target(ip, srv.port, login=True), password=None, env=env)
    assert result.status is Status.CRITICAL
    assert result.error is not None and result.error.kind is ErrorKind.CONFIG
    assert "password" in result.error.message
    assert not result.phase(Phase.CONNECT).reached


def test_name_mapped_only_to_the_other_family_is_dns_failure(
    ip: str, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN dns_hosts maps the name to an address of one family only
    family = "ipv6" if ip == "127.0.0.1" else "ipv4"
    target = make_target(
        DEFAULT_HOSTNAME, 2525, dns_hosts=[f"{ip} {DEFAULT_HOSTNAME}"], ip_family=family
    )
    # WHEN probed with ip_family asking for the other one
    result = probe(target, env=env)
    # THEN DNS fails, nothing is connected
    assert_failure(result, ErrorKind.DNS, Phase.DNS)
    assert not result.phase(Phase.CONNECT).reached


def test_silent_nameserver_until_the_deadline_is_timeout_in_dns(
    ip: str, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN an external nameserver on loopback that never answers
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM) as ns:
        ns.bind((ip, 0))
        server = f"[{ip}]:{ns.getsockname()[1]}" if ":" in ip else f"{ip}:{ns.getsockname()[1]}"
        target = make_target(
            "mail.smtpwatch.test", 25, dns_mode="external", nameservers=[server], timeout_s=1
        )
        # WHEN probed with a 1 s deadline
        start = time.monotonic()
        result = probe(target, env=env)
        elapsed = time.monotonic() - start
    # THEN DNS used up the deadline: timeout, in dns
    assert_failure(result, ErrorKind.TIMEOUT, Phase.DNS)
    assert elapsed < target.timeout_s + 1.0  # the deadline (1 s) + 1 s slack: the behaviour


def test_refused_port_is_connect_refused(
    ip: str, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    port = closed_port(ip)
    result = probe(make_target(ip, port), env=env)
    assert_failure(result, ErrorKind.CONNECT_REFUSED, Phase.CONNECT)
    assert str(port) in result.error.message  # type: ignore[union-attr]
    assert [(a.ip, a.ok, a.error) for a in result.address.attempts] == [
        (ip, False, "connect_refused")
    ]


def test_address_without_route_is_unreachable(
    ip: str, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # Multicast destinations: the kernel answers ENETUNREACH before sending anything.
    address = "224.0.0.1" if ip == "127.0.0.1" else "ff02::1"
    result = probe(make_target(address, 25, encryption="none"), env=env)
    assert_failure(result, ErrorKind.UNREACHABLE, Phase.CONNECT)
    assert "unreachable" in result.error.message  # type: ignore[union-attr]


# ---------------------------------------------------------------- greeting and EHLO


def test_silent_listener_is_timeout_in_banner(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.silent(ip))
    start = time.monotonic()
    result = probe(make_target(ip, srv.port, timeout_s=2), env=env)
    elapsed = time.monotonic() - start
    assert_failure(result, ErrorKind.TIMEOUT, Phase.BANNER)
    assert result.phase(Phase.CONNECT).ok
    assert elapsed < 3.0  # the deadline is the behaviour


def test_554_greeting_is_banner_failure_with_codes(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.greeting(b"554 5.3.2 no service here\r\n", ip))
    result = probe(make_target(ip, srv.port), env=env)
    assert_failure(result, ErrorKind.BANNER, Phase.BANNER)
    assert result.error is not None
    assert (result.error.smtp_code, result.error.enhanced_code) == (554, "5.3.2")
    assert "no service here" in result.error.message
    assert result.server.banner == "5.3.2 no service here"


def test_rejected_ehlo_is_ehlo_failure(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.ehlo_rejected(ip))
    result = probe(make_target(ip, srv.port), env=env)
    assert_failure(result, ErrorKind.EHLO, Phase.EHLO)
    assert result.error is not None
    assert (result.error.smtp_code, result.error.enhanced_code) == (550, "5.7.1")


def test_connection_closed_mid_dialogue_fails_the_phase_it_happened_in(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.close_after("EHLO", ip))
    result = probe(make_target(ip, srv.port), env=env)
    assert_failure(result, ErrorKind.EHLO, Phase.EHLO)
    assert "closed" in result.error.message  # type: ignore[union-attr]


# ---------------------------------------------------------------- STARTTLS and TLS


def test_explicit_without_starttls_advertised_is_starttls_unsupported(
    ip: str, smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip)  # no certificate: STARTTLS not offered
    result = probe(make_target(ip, srv.port, encryption="explicit"), env=env)
    assert_failure(result, ErrorKind.STARTTLS_UNSUPPORTED, Phase.STARTTLS)
    assert result.phase(Phase.EHLO).ok


def test_starttls_answered_454_is_starttls_failure_with_code(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.starttls_454(ip))
    result = probe(make_target(ip, srv.port), env=env)
    assert_failure(result, ErrorKind.STARTTLS, Phase.STARTTLS)
    assert result.error is not None
    assert (result.error.smtp_code, result.error.enhanced_code) == (454, "4.7.0")
    assert not result.phase(Phase.TLS).reached


def test_ehlo_rejected_after_starttls_is_ehlo_failure_in_ehlo_tls(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, reject_ehlo_after_tls=True)
    result = probe(make_target(ip, srv.port), env=env)
    assert_failure(result, ErrorKind.EHLO, Phase.EHLO_TLS)
    assert result.error is not None and result.error.smtp_code == 550
    assert result.tls is not None and result.tls.verified


def test_garbage_after_starttls_220_is_tls_handshake_failure(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.tls_garbage(ip))
    result = probe(make_target(ip, srv.port), env=env)
    assert_failure(result, ErrorKind.TLS_HANDSHAKE, Phase.TLS)
    assert result.phase(Phase.STARTTLS).ok


def test_garbage_on_an_implicit_tls_port_is_tls_handshake_failure(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.garbage(ip))
    result = probe(make_target(ip, srv.port, encryption="implicit"), env=env)
    assert_failure(result, ErrorKind.TLS_HANDSHAKE, Phase.TLS)
    assert not result.phase(Phase.BANNER).reached


def test_expired_cert_is_cert_expired_with_days_left(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.expired(), starttls=True)
    result = probe(make_target(ip, srv.port), env=env)
    assert_failure(result, ErrorKind.CERT_EXPIRED, Phase.TLS)
    # The facts are there although verification failed (read unverified).
    assert result.tls is not None and not result.tls.verified
    assert result.tls.days_left is not None and result.tls.days_left < 0
    assert result.tls.not_after is not None and result.tls.not_after.endswith("Z")
    assert result.tls.version and result.tls.cipher and result.tls.issuer
    # expired 2 days (and the seconds since the certificate was made) ago: days_left is
    # the floor, -3; the message counts whole days elapsed, 2
    assert result.tls.days_left == -3
    assert result.error is not None
    assert result.error.message.startswith("certificate expired 2 days ago (not after ")


def test_wrong_hostname_cert_is_cert_hostname(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.wrong_hostname(), starttls=True)
    target = make_target(DEFAULT_HOSTNAME, srv.port, dns_hosts=[f"{ip} {DEFAULT_HOSTNAME}"])
    result = probe(target, env=env)
    assert_failure(result, ErrorKind.CERT_HOSTNAME, Phase.TLS)
    assert result.tls is not None and result.tls.sans == ("DNS:wrong.smtpwatch.test",)
    assert result.tls.days_left is not None and result.tls.days_left > 300
    assert DEFAULT_HOSTNAME in result.error.message  # type: ignore[union-attr]


def test_expired_and_wrong_hostname_cert_is_cert_expired(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.expired_wrong_hostname(), starttls=True)
    target = make_target(DEFAULT_HOSTNAME, srv.port, dns_hosts=[f"{ip} {DEFAULT_HOSTNAME}"])
    result = probe(target, env=env)
    assert_failure(result, ErrorKind.CERT_EXPIRED, Phase.TLS)
    assert result.tls is not None and result.tls.days_left is not None
    assert result.tls.days_left < 0


def test_untrusted_ca_is_cert_untrusted(
    ip: str, smtp_server: Smtp, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip, cert=certs.untrusted(), implicit_tls=True)
    result = probe(make_target(ip, srv.port, encryption="implicit"), env=env)
    assert_failure(result, ErrorKind.CERT_UNTRUSTED, Phase.TLS)
    assert result.tls is not None
    assert result.tls.issuer is not None and "untrusted CA" in result.tls.issuer
    assert result.tls.verify_error


# ---------------------------------------------------------------- AUTH


def test_auth_not_advertised_is_auth_unsupported(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials=None)
    result = probe(make_target(ip, srv.port, login=True), password=password, env=env)
    assert_failure(result, ErrorKind.AUTH_UNSUPPORTED, Phase.AUTH)
    assert srv.auth_attempts == []


def test_wrong_password_is_auth_failed_after_exactly_one_attempt(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials={"x": "y"})
    result = probe(make_target(ip, srv.port, login=True), password=password, env=env)
    assert_failure(result, ErrorKind.AUTH_FAILED, Phase.AUTH)
    assert result.error is not None
    assert (result.error.smtp_code, result.error.enhanced_code) == (535, "5.7.8")
    assert srv.auth_attempts == ["CRAM-MD5"]  # one wrong password = one failed login
    assert result.auth is not None and result.auth.tried == ("CRAM-MD5",)


# ---------------------------------------------------------------- protocol and time


def test_drip_feed_is_timeout_within_the_deadline(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server sending its greeting one byte per second (each recv is short)
    srv = hostile(HostileServer.drip_feed(ip))
    start = time.monotonic()
    # WHEN probed with a 3 s deadline
    result = probe(make_target(ip, srv.port, timeout_s=3), env=env)
    # THEN the probe ends at the deadline, not when the server is done
    elapsed = time.monotonic() - start
    assert_failure(result, ErrorKind.TIMEOUT, Phase.BANNER)
    assert elapsed < 3 + 1.0  # the deadline (timeout_s=3) + 1 s slack: the behaviour


def test_endless_continuation_lines_are_protocol_failure(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.endless_continuation(ip))
    result = probe(make_target(ip, srv.port), env=env)
    assert_failure(result, ErrorKind.PROTOCOL, Phase.EHLO)
    assert "lines" in result.error.message  # type: ignore[union-attr]


def test_100kb_line_is_protocol_failure(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.long_line(ip, size=100_000))
    result = probe(make_target(ip, srv.port), env=env)
    assert_failure(result, ErrorKind.PROTOCOL, Phase.BANNER)
    assert "longer than" in result.error.message  # type: ignore[union-attr]


def test_non_smtp_garbage_is_protocol_failure(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.garbage(ip))
    result = probe(make_target(ip, srv.port), env=env)
    assert_failure(result, ErrorKind.PROTOCOL, Phase.BANNER)
    assert "not an SMTP reply" in result.error.message  # type: ignore[union-attr]
