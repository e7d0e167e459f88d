"""A check's limits on one probe (``probe(target, limits=...)``): the critical time, the
critical certificate days and the expected greeting, against real loopback servers, and
what an alert says about the two new failure classes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from smtpwatch.core import alert_text
from smtpwatch.core.alerting import decide
from smtpwatch.core.errors import CertExpiringError, SlowError, TlsError
from smtpwatch.core.kinds import ErrorKind, Phase, Status, WarningKind
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.probe.check_limits import CheckLimits, banner_mismatch
from smtpwatch.core.state import TargetState
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, HostileServer, SmtpServer

StartServer = Callable[..., SmtpServer]
StartHostile = Callable[[HostileServer], HostileServer]


MakeTarget = Callable[..., Target]


def tls_target(make_target: MakeTarget, port: int) -> Target:
    return make_target(
        DEFAULT_HOSTNAME, port, dns_hosts=[f"127.0.0.1 {DEFAULT_HOSTNAME}"], encryption="explicit"
    )


def test_the_new_error_classes_are_a_timing_failure_and_a_tls_failure() -> None:
    assert SlowError("x").error_kind is ErrorKind.SLOW
    assert CertExpiringError("x").error_kind is ErrorKind.CERT_EXPIRING
    assert issubclass(CertExpiringError, TlsError)
    # The same words name the warning and the error a threshold makes of it.
    assert ErrorKind.SLOW.value == WarningKind.SLOW.value
    assert ErrorKind.CERT_EXPIRING.value == WarningKind.CERT_EXPIRING.value


def test_without_limits_an_expiring_certificate_stays_a_warning(
    smtp_server: StartServer, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    server = smtp_server(cert=certs.expiring(2.5), starttls=True)
    result = probe(tls_target(make_target, server.port), env=env)
    assert result.status is Status.WARNING and result.error is None
    assert [w.kind for w in result.warnings] == [WarningKind.CERT_EXPIRING]


def test_critical_days_make_the_expiring_certificate_an_error_in_tls(
    smtp_server: StartServer, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    server = smtp_server(cert=certs.expiring(2.5), starttls=True)
    result = probe(
        tls_target(make_target, server.port), env=env, limits=CheckLimits(cert_crit_days=2)
    )
    assert result.status is Status.CRITICAL
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.CERT_EXPIRING, Phase.TLS)
    assert result.warnings == ()


def test_a_certificate_above_the_critical_days_is_only_the_warning(
    smtp_server: StartServer, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    server = smtp_server(cert=certs.expiring(2.5), starttls=True)
    result = probe(
        tls_target(make_target, server.port), env=env, limits=CheckLimits(cert_crit_days=1)
    )
    assert result.status is Status.WARNING
    assert [w.kind for w in result.warnings] == [WarningKind.CERT_EXPIRING]


def test_a_slow_server_over_the_critical_time_is_a_slow_error(
    hostile: StartHostile, env: ProbeEnvironment
) -> None:
    server = hostile(HostileServer.delayed(0.5))
    target = Target(target_id="slow", host="127.0.0.1", port=server.port, encryption="none")
    result = probe(target, env=env, limits=CheckLimits(crit_ms=100))
    assert result.error is not None and result.error.kind is ErrorKind.SLOW
    assert result.error.phase is None
    assert result.phases[-1].phase is Phase.QUIT


def test_a_greeting_without_the_expected_text_warns_and_the_dialogue_goes_on(
    smtp_server: StartServer, env: ProbeEnvironment
) -> None:
    server = smtp_server()
    target = Target(target_id="mx", host="127.0.0.1", port=server.port, encryption="none")
    result = probe(target, env=env, limits=CheckLimits(expect_banner="Exim"))
    assert result.status is Status.WARNING
    assert [(w.kind, w.message) for w in result.warnings] == [
        (WarningKind.BANNER_MISMATCH, "greeting does not contain 'Exim'")
    ]
    assert all(p.ok for p in result.phases if p.reached)


def test_an_alert_for_the_new_kinds_names_them_and_the_next_step(
    smtp_server: StartServer, certs: Certificates, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    server = smtp_server(cert=certs.expiring(1.5), starttls=True)
    target = tls_target(make_target, server.port)
    result = probe(target, env=env, limits=CheckLimits(cert_crit_days=3))
    now = datetime.now(UTC)
    decision = decide(target, TargetState(target.target_id), result, now=now, scheduled_at="s")
    assert decision.alert is not None
    text = alert_text.text(decision.alert)
    assert "tls cert_expiring" in text.splitlines()[0]
    assert "Next step: Renew the certificate before it expires" in text


def test_the_mismatch_warning_quotes_at_most_80_characters_of_the_expected_text() -> None:
    limits = CheckLimits(expect_banner="x" * 200)
    warning = banner_mismatch(limits, 220, b"mx1.example.test ESMTP")
    assert warning is not None
    assert warning.message == f"greeting does not contain {'x' * 79 + '…'!r}"
    assert banner_mismatch(CheckLimits(expect_banner="220 mx1"), 220, b"mx1 ESMTP") is None
    assert banner_mismatch(None, 220, b"anything") is None
