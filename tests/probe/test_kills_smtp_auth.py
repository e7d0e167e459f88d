"""AUTH's own verdicts, whoever calls it: every error ``try_mechanisms`` raises names the
AUTH phase (the probe also fills a missing phase in; these do not rely on that), a
reply with a code and no text is quoted without a dangling space, and a server that
offers no AUTH at all is said so by ``no_login_error``; ``login_round`` keeps the STARTTLS
fallback for a plain connection that offers STARTTLS, and only there.

Each test drives the probe's own ``SmtpClient`` against a real loopback server.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from smtpwatch.core.deadline import Deadline
from smtpwatch.core.errors import (
    AuthFailedError,
    AuthUnsupportedError,
    ProbeConfigError,
    ProtocolError,
)
from smtpwatch.core.kinds import Phase
from smtpwatch.core.server_text import ServerTextGuard
from smtpwatch.core.smtp_auth import (
    AuthRound,
    login_round,
    no_login_error,
    offered_mechanisms,
    try_mechanisms,
)
from smtpwatch.core.smtp_client import SmtpClient
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import HostileServer, SmtpServer

Smtp = Callable[..., SmtpServer]
Hostile = Callable[[HostileServer], HostileServer]

USER = "monitor@smtpwatch.test"


@contextmanager
def _greeted(ip: str, port: int) -> Iterator[SmtpClient]:
    """The probe's client on a fresh connection, after the greeting and EHLO."""
    client = SmtpClient(local_hostname="probe.smtpwatch.test", deadline=Deadline(10))
    client.attach(socket.create_connection((ip, port), timeout=10), ip)
    try:
        assert client.getreply()[0] == 220
        client.phase = Phase.EHLO
        assert client.ehlo()[0] == 250
        client.phase = Phase.AUTH
        yield client
    finally:
        client.close()


def _try(client: SmtpClient, methods: tuple[str, ...], password: str) -> AuthRound:
    offered = offered_mechanisms(client)
    assert offered is not None
    return try_mechanisms(
        client,
        methods,
        offered,
        username=USER,
        password=password,
        guard=ServerTextGuard([password], username=USER),
        tried=[],
    )


def _auth_server(ip: str, smtp_server: Smtp, password: str, **options: object) -> SmtpServer:
    """aiosmtpd offering AUTH on a plain connection (no TLS needed for these verdicts)."""
    return smtp_server(ip, credentials={USER: password}, auth_require_tls=False, **options)


def test_a_wrong_password_is_a_failed_login_in_the_auth_phase(
    ip: str, smtp_server: Smtp, password: str
) -> None:
    # GIVEN a real server that knows another password
    srv = _auth_server(ip, smtp_server, "another-password", mechanisms=["PLAIN"])
    # WHEN AUTH PLAIN is tried with ours
    with _greeted(ip, srv.port) as client, pytest.raises(AuthFailedError) as info:
        _try(client, ("PLAIN",), password)
    # THEN the rejection names the AUTH phase and the server's codes
    err = info.value
    assert (err.phase, err.smtp_code, err.enhanced_code) == (Phase.AUTH, 535, "5.7.8")
    assert err.message == "AUTH PLAIN rejected: 535 5.7.8 Authentication credentials invalid"


def test_a_rejection_with_a_bare_code_is_quoted_by_its_code_alone(
    ip: str, smtp_server: Smtp, password: str
) -> None:
    # GIVEN a server that answers AUTH PLAIN with "535" and no text at all
    srv = _auth_server(ip, smtp_server, password, auth_replies={"PLAIN": "535"})
    with _greeted(ip, srv.port) as client, pytest.raises(AuthFailedError) as info:
        _try(client, ("PLAIN",), password)
    # THEN the message ends with the code: no dangling space, no invented text
    assert info.value.message == "AUTH PLAIN rejected: 535"
    assert (info.value.phase, info.value.smtp_code, info.value.enhanced_code) == (
        Phase.AUTH,
        535,
        None,
    )


def test_every_mechanism_unknown_with_a_bare_504_is_named_by_its_code_alone(
    ip: str, smtp_server: Smtp, password: str
) -> None:
    # GIVEN a server that answers each mechanism with a bare "504"
    srv = _auth_server(
        ip,
        smtp_server,
        password,
        mechanisms=["LOGIN", "PLAIN"],
        auth_replies={"LOGIN": "504", "PLAIN": "504"},
    )
    with _greeted(ip, srv.port) as client:
        offered = offered_mechanisms(client)
        # WHEN both are tried, and the outcome worded
        last = _try(client, ("LOGIN", "PLAIN"), password)
    error = no_login_error(last, offered, ("SIMPLE", "LOGIN", "PLAIN"))
    # THEN nothing logged in, both were sent, and the verdict is "unsupported", by code
    assert last.mechanism is None
    assert srv.auth_attempts == ["LOGIN", "PLAIN"]
    assert isinstance(error, AuthUnsupportedError)
    assert (error.message, error.smtp_code) == ("no mechanism usable: 504", 504)


def test_a_hang_up_in_answer_to_auth_is_a_failed_login_in_the_auth_phase(
    ip: str, hostile: Hostile, password: str
) -> None:
    # GIVEN a server that closes the connection when it receives AUTH
    srv = hostile(
        HostileServer.scripted(
            ip,
            replies={"EHLO": b"250-drop.smtpwatch.test\r\n250 AUTH PLAIN\r\n", "AUTH": None},
        )
    )
    with _greeted(ip, srv.port) as client, pytest.raises(AuthFailedError) as info:
        _try(client, ("PLAIN",), password)
    assert (info.value.phase, info.value.message) == (
        Phase.AUTH,
        "AUTH PLAIN: connection closed by the server",
    )


def test_a_challenge_that_is_not_base64_is_a_protocol_error_in_the_auth_phase(
    ip: str, hostile: Hostile, password: str
) -> None:
    # GIVEN a server whose CRAM-MD5 challenge is a single character, no base64
    srv = hostile(
        HostileServer.scripted(
            ip,
            replies={
                "EHLO": b"250-garble.smtpwatch.test\r\n250 AUTH CRAM-MD5\r\n",
                "AUTH": b"334 x\r\n",
            },
        )
    )
    with _greeted(ip, srv.port) as client, pytest.raises(ProtocolError) as info:
        _try(client, ("CRAM-MD5",), password)
    assert info.value.phase is Phase.AUTH
    assert info.value.message.startswith("AUTH CRAM-MD5: ")
    assert password not in info.value.message


def test_a_password_smtplib_cannot_send_is_a_config_error_in_the_auth_phase(
    ip: str, smtp_server: Smtp
) -> None:
    secret = "p\u00e4ssw\u00f6rd-\u00fcber-secret"
    srv = _auth_server(ip, smtp_server, secret, mechanisms=["PLAIN"])
    with _greeted(ip, srv.port) as client, pytest.raises(ProbeConfigError) as info:
        _try(client, ("PLAIN",), secret)
    # THEN nothing was sent, and the error names the AUTH phase (and none of the password)
    assert srv.auth_attempts == []
    assert info.value.phase is Phase.AUTH
    assert info.value.message == (
        "AUTH PLAIN: the username or password has non-ASCII characters, which smtplib cannot send"
    )


def test_a_server_that_offers_no_auth_is_told_so() -> None:
    # GIVEN a round that tried nothing on a server whose EHLO had no AUTH line
    error = no_login_error(AuthRound(), None, ("SIMPLE", "LOGIN"))
    # THEN the verdict is unsupported, saying the server offers no AUTH, with no codes
    assert isinstance(error, AuthUnsupportedError)
    assert (error.message, error.smtp_code, error.enhanced_code) == (
        "server offers no AUTH",
        None,
        None,
    )


def _plain_login_round(ip: str, port: int, password: str) -> AuthRound | None:
    """``login_round`` on a fresh plain connection, for a target allowing LOGIN and PLAIN."""
    target = Target(
        target_id="t1",
        host=ip,
        port=port,
        username=USER,
        password_ref="env:SMTPWATCH_TEST_PASSWORD",
        auth_methods=("LOGIN", "PLAIN"),
    )
    guard = ServerTextGuard([password], username=USER)
    with _greeted(ip, port) as client:
        return login_round(client, target, password, guard=guard, tls_active=False, tried=[])


def test_no_auth_and_no_starttls_on_a_plain_connection_is_unsupported_at_once(
    ip: str, hostile: Hostile, password: str
) -> None:
    # GIVEN a plain connection to a server whose EHLO offers neither AUTH nor STARTTLS
    ehlo = b"250-bare.smtpwatch.test\r\n250 8BITMIME\r\n"
    srv = hostile(HostileServer.scripted(ip, replies={"EHLO": ehlo}))
    # WHEN a login round runs, THEN no fallback is promised: nothing can be used here
    with pytest.raises(AuthUnsupportedError) as info:
        _plain_login_round(ip, srv.port, password)
    assert info.value.message == "server offers no AUTH"


def test_no_auth_but_starttls_on_a_plain_connection_is_the_fallback(
    ip: str, hostile: Hostile, password: str
) -> None:
    # GIVEN a plain connection to a server offering STARTTLS but no AUTH (yet)
    ehlo = b"250-bare.smtpwatch.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
    srv = hostile(HostileServer.scripted(ip, replies={"EHLO": ehlo}))
    # WHEN a login round runs, THEN it is an empty round: AUTH may appear after STARTTLS
    last = _plain_login_round(ip, srv.port, password)
    assert last is not None
    assert (last.mechanism, last.tried) == (None, [])
