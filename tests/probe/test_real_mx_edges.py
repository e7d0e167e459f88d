"""What real MX hosts do that the happy path does not: multi-line greetings, 421,
old-style ``AUTH=`` advertisements, a connection dropped at STARTTLS or at AUTH, and a
server quoting the AUTH line back in a later reply. Each runs on 127.0.0.1 and ::1."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import Certificates, HostileServer, SmtpServer, _Conn, _Script

MakeTarget = Callable[..., Target]
Hostile = Callable[[HostileServer], HostileServer]
USER = "monitor@smtpwatch.test"


def _secret_forms(password: str) -> list[str]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return [password, b64(password), b64(f"\0{USER}\0{password}")]


def _failure(result: ProbeResult) -> tuple[object, ...]:
    err = result.error
    assert err is not None, result.to_dict()
    return (result.status, err.kind, err.phase, err.smtp_code, err.enhanced_code)


# ------------------------------------------------------------------ greetings


def test_multi_line_220_greeting_is_accepted_whole(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a greeting spread over "220-" continuation lines (Exchange, Postfix banners)
    greeting = b"220-mx.smtpwatch.test ESMTP\r\n220-no UCE\r\n220 ready\r\n"
    srv = hostile(HostileServer.greeting(greeting, ip))
    # WHEN probed
    result = probe(make_target(ip, srv.port, encryption="none"), env=env)
    # THEN the whole banner is read as one reply and the dialogue goes on
    assert result.status is Status.OK, result.to_dict()
    assert result.server.banner == "mx.smtpwatch.test ESMTP no UCE ready"
    assert result.phase(Phase.EHLO).ok and result.phase(Phase.QUIT).ok


def test_421_greeting_is_banner_failure_with_its_codes(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.greeting(b"421 4.3.2 Service not available\r\n", ip))
    result = probe(make_target(ip, srv.port), env=env)
    assert _failure(result) == (Status.CRITICAL, ErrorKind.BANNER, Phase.BANNER, 421, "4.3.2")
    assert not result.phase(Phase.EHLO).reached


def test_connection_closed_before_the_greeting_is_banner_failure(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.greeting(None, ip))  # type: ignore[arg-type]
    result = probe(make_target(ip, srv.port), env=env)
    assert _failure(result) == (Status.CRITICAL, ErrorKind.BANNER, Phase.BANNER, None, None)
    assert "closed" in result.error.message  # type: ignore[union-attr]


# ------------------------------------------------------------------ STARTTLS


def test_starttls_advertised_but_connection_dropped_is_starttls_failure(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.close_after("STARTTLS", ip))
    for encryption in ("explicit", "auto"):  # auto never falls back to plain either
        result = probe(make_target(ip, srv.port, encryption=encryption), env=env)
        assert _failure(result) == (
            Status.CRITICAL,
            ErrorKind.STARTTLS,
            Phase.STARTTLS,
            None,
            None,
        ), encryption
        assert not result.phase(Phase.TLS).reached
        assert result.warnings == ()


# ------------------------------------------------------------------ AUTH


def _login_then_quit_reply(ip: str, quit_reply: Callable[[bytes], bytes]) -> HostileServer:
    """Offers old-style ``AUTH=PLAIN`` only, accepts any AUTH PLAIN, and answers QUIT
    with ``quit_reply(the AUTH line)``."""

    def accept(conn: _Conn) -> None:
        auth_line = conn.last_line
        conn.send(b"235 2.7.0 Authentication successful\r\n")
        HostileServer._dialogue(conn, _Script(replies={"QUIT": quit_reply(auth_line)}))

    ehlo = b"250-old.smtpwatch.test\r\n250-AUTH=PLAIN\r\n250 8BITMIME\r\n"
    return HostileServer.scripted(ip, replies={"EHLO": ehlo, "AUTH": accept})


def test_old_style_auth_equals_advertisement_is_used(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment, password: str
) -> None:
    # GIVEN a server advertising only "250-AUTH=PLAIN" (pre-RFC 2554 syntax)
    srv = hostile(_login_then_quit_reply(ip, lambda line: b"221 2.0.0 bye\r\n"))
    target = make_target(ip, srv.port, encryption="none", login=True, allow_plaintext_auth=True)
    # WHEN the login runs
    result = probe(target, password=password, env=env)
    # THEN PLAIN was recognised as offered and used
    assert result.status is Status.OK, result.to_dict()
    assert result.auth is not None
    assert (result.auth.mechanism, result.auth.tried) == ("PLAIN", ("PLAIN",))
    # and the extension is reported by its keyword, as with "AUTH PLAIN"
    assert result.server.extensions == ("AUTH", "8BITMIME")


def test_a_server_quoting_the_auth_line_in_its_quit_reply_does_not_leak_it(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment, password: str
) -> None:
    # GIVEN a server that logs the client in, then answers QUIT with the AUTH line
    srv = hostile(_login_then_quit_reply(ip, lambda line: b"500 you said " + line + b"\r\n"))
    target = make_target(ip, srv.port, encryption="none", login=True, allow_plaintext_auth=True)
    # WHEN probed
    result = probe(target, password=password, env=env)
    # THEN QUIT's reply is kept as detail, with the credentials redacted everywhere
    assert result.status is Status.OK, result.to_dict()
    detail = result.phase(Phase.QUIT).detail
    assert detail is not None and detail.startswith("500 you said AUTH PLAIN")
    outputs = [repr(result), str(result), json.dumps(result.to_dict()), detail]
    for form in _secret_forms(password):
        for out in outputs:
            assert form not in out


def test_a_long_rejection_quoting_the_password_line_leaks_no_part_of_it(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment, password: str
) -> None:
    # GIVEN a server that answers the AUTH LOGIN password line with a 535 whose text
    # quotes that line after ~290 characters, where one-line messages are cut
    def login(conn: _Conn) -> None:
        conn.send(b"334 UGFzc3dvcmQ6\r\n")
        secret_line = conn.readline() or b""
        conn.send(b"535 5.7.8 " + b"x" * 287 + b" " + secret_line + b"\r\n")
        HostileServer._dialogue(conn, _Script())

    ehlo = b"250-echo.smtpwatch.test\r\n250 AUTH LOGIN\r\n"
    srv = hostile(HostileServer.scripted(ip, replies={"EHLO": ehlo, "AUTH": login}))
    target = make_target(ip, srv.port, encryption="none", login=True, allow_plaintext_auth=True)
    # WHEN the login fails
    result = probe(target, password=password, env=env)
    # THEN it is auth_failed, and not even a prefix of the password line is shown
    assert _failure(result) == (Status.CRITICAL, ErrorKind.AUTH_FAILED, Phase.AUTH, 535, "5.7.8")
    outputs = [repr(result), json.dumps(result.to_dict()), result.error.message]  # type: ignore[union-attr]
    for form in _secret_forms(password):
        for out in outputs:
            assert form[:8] not in out


def test_connection_closed_at_auth_fails_the_login_like_any_phase(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment, password: str
) -> None:
    # GIVEN a server that hangs up on the AUTH command (as some do after a bad login)
    ehlo = b"250-drop.smtpwatch.test\r\n250 AUTH PLAIN LOGIN\r\n"
    srv = hostile(HostileServer.scripted(ip, replies={"EHLO": ehlo, "AUTH": None}))
    target = make_target(ip, srv.port, encryption="none", login=True, allow_plaintext_auth=True)
    # WHEN the login runs
    result = probe(target, password=password, env=env)
    # THEN the failure is the phase's own class, auth_failed in auth (not "protocol",
    # which is garbled, oversize or endless replies), after exactly one attempt
    assert _failure(result) == (Status.CRITICAL, ErrorKind.AUTH_FAILED, Phase.AUTH, None, None)
    assert "closed" in result.error.message  # type: ignore[union-attr]
    assert result.auth is not None and result.auth.tried == ("LOGIN",)
    assert srv.connections == 1


def test_wrong_password_on_plain_ends_the_login_without_the_starttls_fallback(
    ip: str,
    smtp_server: Callable[..., SmtpServer],
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    # GIVEN a server offering AUTH on the plain connection and STARTTLS
    srv = smtp_server(
        ip, cert=certs.valid(), starttls=True, credentials={"x": "y"}, auth_require_tls=False
    )
    target = make_target(ip, srv.port, encryption="none", login=True, allow_plaintext_auth=True)
    # WHEN the password is wrong (535 on plain)
    result = probe(target, password=password, env=env)
    # THEN that one rejection is the verdict: no STARTTLS, no second round
    assert _failure(result) == (Status.CRITICAL, ErrorKind.AUTH_FAILED, Phase.AUTH, 535, "5.7.8")
    assert srv.auth_attempts == ["CRAM-MD5"]
    assert not result.phase(Phase.STARTTLS).reached
    assert result.auth is not None and result.auth.over_tls is False


def test_auto_after_a_refused_starttls_sends_nothing_more_in_plain(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment, password: str
) -> None:
    # GIVEN a server advertising STARTTLS and AUTH, answering STARTTLS 454
    srv = hostile(HostileServer.starttls_454(ip))
    # WHEN an auto target that may even log in without TLS is probed
    target = make_target(ip, srv.port, encryption="auto", login=True, allow_plaintext_auth=True)
    result = probe(target, password=password, env=env)
    # THEN the failed STARTTLS is the verdict: no downgrade, no warning, no login
    assert _failure(result) == (Status.CRITICAL, ErrorKind.STARTTLS, Phase.STARTTLS, 454, "4.7.0")
    assert result.warnings == ()
    for later in (Phase.TLS, Phase.EHLO_TLS, Phase.AUTH, Phase.QUIT):
        assert not result.phase(later).reached, later
    assert result.auth is not None and result.auth.tried == ()


def test_a_server_that_never_answers_quit_does_not_make_the_probe_slow(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server that completes the dialogue but never answers QUIT
    srv = hostile(HostileServer.scripted(ip, replies={"QUIT": lambda conn: conn.hold()}))
    # WHEN probed with a warn_ms far above the dialogue's own time
    target = make_target(ip, srv.port, encryption="none", warn_ms=1500)
    result = probe(target, env=env)
    # THEN the unanswered QUIT is detail: no slow warning, the verdict stays ok
    assert result.phase(Phase.QUIT).reached and not result.phase(Phase.QUIT).ok
    assert result.status is Status.OK, result.to_dict()
    assert result.warnings == ()


def test_every_mechanism_answered_504_is_auth_unsupported_with_the_code(
    ip: str,
    smtp_server: Callable[..., SmtpServer],
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
) -> None:
    # GIVEN a server that advertises mechanisms but knows none of them when asked
    unknown = "504 5.5.4 Unrecognized authentication type"
    srv = smtp_server(
        ip,
        cert=certs.valid(),
        starttls=True,
        credentials={USER: password},
        auth_replies={m: unknown for m in ("CRAM-MD5", "LOGIN", "PLAIN")},
    )
    # WHEN the login runs
    result = probe(make_target(ip, srv.port, login=True), password=password, env=env)
    # THEN each was tried once, in order, and the verdict is "cannot log in this way"
    assert _failure(result) == (
        Status.CRITICAL,
        ErrorKind.AUTH_UNSUPPORTED,
        Phase.AUTH,
        504,
        "5.5.4",
    )
    assert srv.auth_attempts == ["CRAM-MD5", "LOGIN", "PLAIN"]


def test_a_tls_handshake_dripped_byte_by_byte_ends_at_the_deadline(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server that answers STARTTLS 220, then sends a TLS record header and its
    # body one byte every 0.3 s (every read is short; the handshake never completes)
    record = b"\x16\x03\x03\x40\x00" + b"\x02" * 200

    def drip_tls(conn: _Conn) -> None:
        if conn.send(b"220 2.0.0 go ahead\r\n"):
            for i in range(len(record)):
                if not conn.alive() or not conn.send(record[i : i + 1]):
                    return
                conn.stop.wait(0.3)

    ehlo = b"250-drip.smtpwatch.test\r\n250 STARTTLS\r\n"
    srv = hostile(HostileServer.scripted(ip, replies={"EHLO": ehlo, "STARTTLS": drip_tls}))
    # WHEN probed with a 2 s deadline
    start = time.monotonic()
    result = probe(make_target(ip, srv.port, timeout_s=2), env=env)
    elapsed = time.monotonic() - start
    # THEN the handshake is cut at the one deadline: timeout in tls
    assert _failure(result) == (Status.CRITICAL, ErrorKind.TIMEOUT, Phase.TLS, None, None)
    assert elapsed < 2 + 1.0  # the deadline (timeout_s=2) + 1 s slack: the behaviour
