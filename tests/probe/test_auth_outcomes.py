"""What a failed login tells the user: unknown mechanisms everywhere is
``auth_unsupported`` (not a wrong password), the messages name what the server offered
and what the target allows, a hang-up during AUTH is a failed login, a password smtplib
cannot send is a configuration error, and smtplib's own error text is cut."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import Certificates, HostileServer, SmtpServer

MakeTarget = Callable[..., Target]
Smtp = Callable[..., SmtpServer]
Hostile = Callable[[HostileServer], HostileServer]

USER = "monitor@smtpwatch.test"


def test_every_mechanism_unknown_to_the_server_is_auth_unsupported(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    # GIVEN a server that advertises every mechanism but answers each with 504
    unknown = "504 5.5.4 Unrecognized authentication type"
    srv = smtp_server(
        ip,
        cert=certs.valid(),
        starttls=True,
        credentials={USER: password},
        auth_replies={m: unknown for m in ("CRAM-MD5", "LOGIN", "PLAIN")},
    )
    # WHEN probed with a login
    result = probe(make_target(ip, srv.port, login=True), password=password, env=env)
    # THEN it is auth_unsupported (no password was judged), with the server's code
    assert result.error is not None, result.to_dict()
    assert (
        result.error.kind,
        result.error.phase,
        result.error.smtp_code,
        result.error.enhanced_code,
    ) == (ErrorKind.AUTH_UNSUPPORTED, Phase.AUTH, 504, "5.5.4")
    assert result.error.message == f"no mechanism usable: {unknown}"
    assert srv.auth_attempts == ["CRAM-MD5", "LOGIN", "PLAIN"]


def test_one_unknown_then_one_busy_mechanism_is_auth_failed(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    # GIVEN 504 for CRAM-MD5 and 454 (temporarily unavailable) for LOGIN
    srv = smtp_server(
        ip,
        cert=certs.valid(),
        starttls=True,
        credentials={USER: password},
        mechanisms=["CRAM-MD5", "LOGIN"],
        auth_replies={
            "CRAM-MD5": "504 5.5.4 Unrecognized authentication type",
            "LOGIN": "454 4.7.0 Temporary authentication failure",
        },
    )
    target = make_target(ip, srv.port, login=True, auth_methods="CRAM-MD5, LOGIN")
    result = probe(target, password=password, env=env)
    # THEN not every mechanism was unknown: a failed login, with the last code
    assert result.error is not None, result.to_dict()
    assert (result.error.kind, result.error.smtp_code, result.error.enhanced_code) == (
        ErrorKind.AUTH_FAILED,
        454,
        "4.7.0",
    )


def test_offered_and_allowed_mechanisms_are_named_when_none_match(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(
        ip,
        cert=certs.valid(),
        starttls=True,
        credentials={USER: password},
        mechanisms=["LOGIN", "PLAIN"],
    )
    target = make_target(ip, srv.port, login=True, auth_methods="SIMPLE, CRAM-MD5")
    result = probe(target, password=password, env=env)
    assert result.error is not None, result.to_dict()
    assert result.error.kind is ErrorKind.AUTH_UNSUPPORTED
    assert result.error.message == "server offers AUTH LOGIN PLAIN; allowed: CRAM-MD5"
    assert srv.auth_attempts == []


def test_auth_advertised_without_mechanisms_is_named_as_none(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment, password: str
) -> None:
    srv = hostile(
        HostileServer.scripted(ip, replies={"EHLO": b"250-bare.smtpwatch.test\r\n250 AUTH\r\n"})
    )
    target = make_target(ip, srv.port, login=True, encryption="none", allow_plaintext_auth=True)
    result = probe(target, password=password, env=env)
    assert result.error is not None, result.to_dict()
    assert result.error.kind is ErrorKind.AUTH_UNSUPPORTED
    assert result.error.message == "server offers AUTH (none); allowed: CRAM-MD5, LOGIN, PLAIN"


def test_no_auth_after_starttls_is_auth_unsupported_saying_so(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True, credentials=None)
    result = probe(make_target(ip, srv.port, login=True), password=password, env=env)
    assert result.error is not None, result.to_dict()
    assert (result.error.kind, result.error.phase) == (ErrorKind.AUTH_UNSUPPORTED, Phase.AUTH)
    assert result.error.message == "server offers no AUTH"


def test_a_hang_up_in_answer_to_auth_is_a_failed_login(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment, password: str
) -> None:
    # GIVEN a server that closes the connection when it receives AUTH
    srv = hostile(
        HostileServer.scripted(
            ip,
            replies={"EHLO": b"250-drop.smtpwatch.test\r\n250 AUTH PLAIN\r\n", "AUTH": None},
        )
    )
    target = make_target(ip, srv.port, login=True, encryption="none", allow_plaintext_auth=True)
    result = probe(target, password=password, env=env)
    # THEN the login failed in AUTH, and the message says how
    assert result.error is not None, result.to_dict()
    assert (result.error.kind, result.error.phase) == (ErrorKind.AUTH_FAILED, Phase.AUTH)
    assert result.error.message == "AUTH PLAIN: connection closed by the server"


def test_a_password_smtplib_cannot_send_is_a_configuration_error(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(
        HostileServer.scripted(
            ip, replies={"EHLO": b"250-ascii.smtpwatch.test\r\n250 AUTH PLAIN\r\n"}
        )
    )
    target = make_target(ip, srv.port, login=True, encryption="none", allow_plaintext_auth=True)
    result = probe(target, password="p\u00e4ssw\u00f6rd-\u00fcber-secret", env=env)
    assert result.error is not None, result.to_dict()
    assert (result.error.kind, result.error.phase) == (ErrorKind.CONFIG, Phase.AUTH)
    assert result.error.message == (
        "AUTH PLAIN: the username or password has non-ASCII characters, which smtplib cannot send"
    )


def test_smtplibs_error_text_is_cut_to_200_characters(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment, password: str
) -> None:
    # GIVEN a server that answers AUTH and every line after it with another long
    # 334 challenge (smtplib gives up after five, quoting the last one)
    challenge = b"334 " + b"QUJD" * 100 + b"\r\n"

    def endless_challenges(conn: Any) -> None:
        while conn.send(challenge) and conn.readline() is not None:
            pass

    srv = hostile(
        HostileServer.scripted(
            ip,
            replies={
                "EHLO": b"250-loop.smtpwatch.test\r\n250 AUTH LOGIN\r\n",
                "AUTH": endless_challenges,
            },
        )
    )
    target = make_target(ip, srv.port, login=True, encryption="none", allow_plaintext_auth=True)
    result = probe(target, password=password, env=env)
    # THEN a protocol error whose smtplib text is cut at 200 characters
    assert result.error is not None, result.to_dict()
    assert (result.error.kind, result.error.phase) == (ErrorKind.PROTOCOL, Phase.AUTH)
    prefix = "AUTH LOGIN: "
    assert result.error.message.startswith(prefix)
    assert len(result.error.message) == len(prefix) + 200, result.error.message
