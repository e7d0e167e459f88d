"""AUTH: order, when to move on and when to stop, the STARTTLS fallback, no
credentials over plain connections unless allowed, the spec's Simple entry."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, Status
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import Certificates, SmtpServer

MakeTarget = Callable[..., Target]
Smtp = Callable[..., SmtpServer]

USER = "monitor@smtpwatch.test"


@pytest.fixture
def users(password: str) -> dict[str, str]:
    return {USER: password}


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "LOGIN", "PLAIN"])
def test_each_mechanism_logs_in(
    ip: str,
    mechanism: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials=users)
    target = make_target(ip, srv.port, login=True, auth_methods=[mechanism])
    result = probe(target, password=password, env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.auth is not None
    assert (result.auth.mechanism, result.auth.tried, result.auth.over_tls) == (
        mechanism,
        (mechanism,),
        True,
    )
    assert srv.auth_attempts == [mechanism]


def test_methods_are_tried_in_the_targets_order(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials=users)
    target = make_target(ip, srv.port, login=True, auth_methods="PLAIN, LOGIN, CRAM-MD5")
    result = probe(target, password=password, env=env)
    assert result.auth is not None and result.auth.mechanism == "PLAIN"
    assert srv.auth_attempts == ["PLAIN"]


def test_methods_the_server_does_not_offer_are_skipped(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(
        ip, cert=certs.valid(), starttls=True, credentials=users, mechanisms=["LOGIN"]
    )
    result = probe(make_target(ip, srv.port, login=True), password=password, env=env)
    assert result.status is Status.OK
    assert result.auth is not None and result.auth.tried == ("LOGIN",)
    assert srv.auth_attempts == ["LOGIN"]


@pytest.mark.parametrize(
    "reply",
    [
        "504 5.5.4 Unrecognized authentication type",
        "534 5.7.9 Authentication mechanism is too weak",
        "538 5.7.11 Encryption required for requested authentication mechanism",
        "454 4.7.0 Temporary authentication failure",
    ],
)
def test_a_mechanism_the_server_cannot_use_moves_on_to_the_next(
    ip: str,
    reply: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(
        ip,
        cert=certs.valid(),
        starttls=True,
        credentials=users,
        auth_replies={"CRAM-MD5": reply},
    )
    result = probe(make_target(ip, srv.port, login=True), password=password, env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.auth is not None
    assert (result.auth.mechanism, result.auth.tried) == ("LOGIN", ("CRAM-MD5", "LOGIN"))


def test_a_clear_rejection_ends_the_login(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(
        ip,
        cert=certs.valid(),
        starttls=True,
        credentials=users,
        auth_replies={"CRAM-MD5": "535 5.7.8 Authentication credentials invalid"},
    )
    result = probe(make_target(ip, srv.port, login=True), password=password, env=env)
    assert result.error is not None
    assert (result.error.kind, result.error.smtp_code, result.error.enhanced_code) == (
        ErrorKind.AUTH_FAILED,
        535,
        "5.7.8",
    )
    assert srv.auth_attempts == ["CRAM-MD5"]


def test_every_mechanism_unusable_is_auth_failed_with_the_last_code(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    busy = "454 4.7.0 Temporary authentication failure"
    srv = smtp_server(
        ip,
        cert=certs.valid(),
        starttls=True,
        credentials=users,
        auth_replies={m: busy for m in ("CRAM-MD5", "LOGIN", "PLAIN")},
    )
    result = probe(make_target(ip, srv.port, login=True), password=password, env=env)
    assert result.error is not None
    assert (result.error.kind, result.error.phase, result.error.smtp_code) == (
        ErrorKind.AUTH_FAILED,
        Phase.AUTH,
        454,
    )
    assert srv.auth_attempts == ["CRAM-MD5", "LOGIN", "PLAIN"]


def test_no_allowed_mechanism_offered_is_auth_unsupported(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(
        ip, cert=certs.valid(), starttls=True, credentials=users, mechanisms=["PLAIN"]
    )
    target = make_target(ip, srv.port, login=True, auth_methods="CRAM-MD5")
    result = probe(target, password=password, env=env)
    assert result.error is not None and result.error.kind is ErrorKind.AUTH_UNSUPPORTED
    assert "PLAIN" in result.error.message
    assert srv.auth_attempts == []


def test_auth_over_implicit_tls(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), implicit_tls=True, credentials=users)
    target = make_target(ip, srv.port, encryption="implicit", login=True)
    result = probe(target, password=password, env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.auth is not None and result.auth.over_tls is True


# ------------------------------------------------------------ plain connections


def test_credentials_are_withheld_on_auto_without_starttls(
    ip: str,
    smtp_server: Smtp,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    # GIVEN a server offering AUTH on a plain connection and no STARTTLS
    srv = smtp_server(ip, credentials=users, auth_require_tls=False)
    # WHEN an auto target without allow_plaintext_auth logs in
    result = probe(
        make_target(ip, srv.port, encryption="auto", login=True), password=password, env=env
    )
    # THEN nothing was sent
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.AUTH_UNSUPPORTED, Phase.AUTH)
    assert result.error.message == "credentials withheld: no TLS"
    assert srv.auth_attempts == []


def test_plaintext_auth_when_allowed(
    ip: str,
    smtp_server: Smtp,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(ip, credentials=users, auth_require_tls=False)
    target = make_target(ip, srv.port, encryption="none", login=True, allow_plaintext_auth=True)
    result = probe(target, password=password, env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.auth is not None
    assert (result.auth.mechanism, result.auth.over_tls) == ("CRAM-MD5", False)


def test_starttls_fallback_when_auth_is_hidden_on_the_plain_connection(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    # GIVEN a server showing AUTH only after STARTTLS, probed without encryption
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials=users)
    target = make_target(ip, srv.port, encryption="none", login=True, allow_plaintext_auth=True)
    # WHEN the login runs
    result = probe(target, password=password, env=env)
    # THEN STARTTLS ran on the same connection, then EHLO, then the login
    assert result.status is Status.OK, result.to_dict()
    assert result.phase(Phase.STARTTLS).ok and result.phase(Phase.EHLO_TLS).ok
    assert result.auth is not None
    assert (result.auth.mechanism, result.auth.over_tls) == ("CRAM-MD5", True)
    assert srv.auth_attempts == ["CRAM-MD5"]


def test_starttls_fallback_after_every_method_failed_on_plain(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    need_tls = "538 5.7.11 Encryption required for requested authentication mechanism"
    srv = smtp_server(
        ip,
        cert=certs.valid(),
        starttls=True,
        credentials=users,
        auth_require_tls=False,
        plain_auth_replies={m: need_tls for m in ("CRAM-MD5", "LOGIN", "PLAIN")},
    )
    target = make_target(ip, srv.port, encryption="none", login=True, allow_plaintext_auth=True)
    result = probe(target, password=password, env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.auth is not None
    assert result.auth.tried == ("CRAM-MD5", "LOGIN", "PLAIN", "CRAM-MD5")
    assert (result.auth.mechanism, result.auth.over_tls) == ("CRAM-MD5", True)


# ------------------------------------------------------------ the spec's Simple


def test_simple_passes_when_the_server_offers_no_auth(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials=None)
    target = make_target(ip, srv.port, login=True, auth_methods="CRAM-MD5, SIMPLE")
    result = probe(target, password=password, env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.phase(Phase.AUTH).ok
    assert result.auth is not None and result.auth.mechanism == "SIMPLE"
    assert result.auth.tried == ()
    assert srv.auth_attempts == []


def test_simple_does_not_pass_when_auth_is_offered_without_an_allowed_mechanism(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    # GIVEN a server offering AUTH, but only mechanisms the target does not allow
    srv = smtp_server(
        ip, cert=certs.valid(), starttls=True, credentials=users, mechanisms=("LOGIN",)
    )
    target = make_target(ip, srv.port, login=True, auth_methods="CRAM-MD5, SIMPLE")
    # WHEN probed
    result = probe(target, password=password, env=env)
    # THEN the login is not waved through: SIMPLE is only for servers without AUTH
    assert result.status is Status.CRITICAL, result.to_dict()
    assert result.error is not None and result.error.kind is ErrorKind.AUTH_UNSUPPORTED
    assert result.error.phase is Phase.AUTH
    assert srv.auth_attempts == []


def test_simple_still_logs_in_when_the_server_offers_auth(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    users: dict[str, str],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials=users)
    target = make_target(ip, srv.port, login=True, auth_methods="CRAM-MD5, SIMPLE")
    result = probe(target, password=password, env=env)
    assert result.auth is not None and result.auth.mechanism == "CRAM-MD5"
