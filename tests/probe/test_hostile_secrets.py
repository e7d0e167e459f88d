"""Hostile servers against the one choke point for server text, on 127.0.0.1 and ::1.

Each server echoes, reshapes or remembers the password and says it back somewhere: in
the reply to AUTH after long filler, in the next connection's greeting, as an EHLO
keyword after the STARTTLS fallback, in whitespace the probe would fold, in a reply
smtplib quotes as a bytes repr, in certificate names. Each test asserts the failure
class and phase a user relies on, and that no run of 8 characters of the password
(any case, escaped, base64) is readable in the result (``secret_runs.leaked_runs``,
written apart from the masking code). The bounds on what a server may send are here
too: per reply, per dialogue, and the EHLO flood inside the deadline.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import pytest

import smtpwatch.core.smtp_client as smtp_client
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.target import Target
from smtpwatch.testing.secret_runs import leaked_runs
from smtpwatch.testing.servers import (
    Certificates,
    CredentialEchoServer,
    HostileServer,
    SmtpServer,
    smtp_reply,
)

MakeTarget = Callable[..., Target]
Hostile = Callable[[HostileServer], HostileServer]
USER = "monitor@smtpwatch.test"
# 64 characters: the length whose first part survived the old cut-then-redact order.
LONG = "Zq8#Tr0ub4dor&3-secret-Kx7!mW2$pL9@vN4%hB6^jC1*fD5(gE3)aS0+uY8-w"
assert len(LONG) == 64


def assert_no_secret(result: ProbeResult, *secrets: str) -> None:
    doc = result.to_dict()
    outputs = [
        json.dumps(doc),
        json.dumps(doc, ensure_ascii=False),
        repr(result),
        str(result),
    ]
    for secret in secrets:
        for out in outputs:
            assert not leaked_runs(out, secret), (leaked_runs(out, secret), out[:2000])


def assert_failure(result: ProbeResult, kind: ErrorKind, phase: Phase) -> None:
    assert result.status is Status.CRITICAL, result.to_dict()
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (kind, phase), result.error


def plain_login(make_target: MakeTarget, ip: str, port: int, **fields: object) -> Target:
    fields.setdefault("auth_methods", "PLAIN")
    return make_target(ip, port, encryption="none", login=True, allow_plaintext_auth=True, **fields)


# ------------------------------------------------------------------ finding 1


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_a_535_with_filler_then_the_password_is_auth_failed_with_the_password_masked(
    ip: str, mechanism: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server that rejects AUTH with 535, 240 characters of filler, then the
    # password (decoded from PLAIN/LOGIN; CRAM-MD5 sends none, so this one knows it)
    srv = hostile(
        CredentialEchoServer(
            ip,
            known=[LONG] if mechanism == "CRAM-MD5" else [],
            auth=lambda _m, pws, _t: f"535 5.7.8 {'x' * 240}{pws[-1]}\r\n".encode(),
        )
    )
    # WHEN the probe logs in with that mechanism
    result = probe(
        plain_login(make_target, ip, srv.port, auth_methods=mechanism), password=LONG, env=env
    )
    # THEN it is a failed login in auth, with the server's code, and no part of the
    # password in the message or anywhere else in the result
    assert_failure(result, ErrorKind.AUTH_FAILED, Phase.AUTH)
    assert result.error is not None and result.error.smtp_code == 535
    assert "***" in result.error.message
    assert_no_secret(result, LONG)
    if mechanism != "CRAM-MD5":
        assert srv.learned == [LONG]  # the server really had it to echo


@pytest.mark.parametrize(
    "shape",
    ["upper", "lower", "base64-plain-blob", "split-over-lines", "split-by-question-marks"],
)
def test_a_reshaped_password_in_the_auth_reply_is_masked(
    ip: str, shape: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    def reply(_m: str, pws: list[str], _t: bool) -> bytes:
        pw = pws[-1]
        if shape == "upper":
            return smtp_reply(535, f"5.7.8 bad {pw.upper()}")
        if shape == "lower":
            return smtp_reply(535, f"5.7.8 bad {pw.lower()}")
        if shape == "base64-plain-blob":
            blob = base64.b64encode(f"\0{USER}\0{pw}".encode()).decode()
            return smtp_reply(535, f"5.7.8 you sent {blob}")
        if shape == "split-over-lines":
            return smtp_reply(535, f"5.7.8 {pw[:30]}", pw[30:])
        return smtp_reply(535, "5.7.8 " + "?".join(pw[i : i + 5] for i in range(0, len(pw), 5)))

    srv = hostile(CredentialEchoServer(ip, auth=reply))
    result = probe(plain_login(make_target, ip, srv.port), password=LONG, env=env)
    assert_failure(result, ErrorKind.AUTH_FAILED, Phase.AUTH)
    assert_no_secret(result, LONG)


# ------------------------------------------------------------------ finding 2


def test_a_greeting_that_remembers_the_password_is_masked_on_the_next_probe(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment, password: str
) -> None:
    # GIVEN a server that puts the last password it was sent into its greeting
    srv = hostile(
        CredentialEchoServer(
            ip,
            greeting=lambda pws: (
                f"220 mail ESMTP last-login={pws[-1]}\r\n" if pws else "220 mail ESMTP\r\n"
            ).encode(),
        )
    )
    target = plain_login(make_target, ip, srv.port)
    first = probe(target, password=password, env=env)
    assert_failure(first, ErrorKind.AUTH_FAILED, Phase.AUTH)
    # WHEN the target is probed again (the re-check, the next check)
    again = probe(target, password=password, env=env)
    # THEN the greeting is kept, with the password masked before it was cut
    assert_failure(again, ErrorKind.AUTH_FAILED, Phase.AUTH)
    assert again.server is not None and again.server.banner == "mail ESMTP last-login=***"
    assert_no_secret(again, password)


def test_a_greeting_with_an_old_and_a_new_password_masks_both_when_told_of_the_old(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server that greets with every password it has seen
    old, new = "old-Secret-4711-rotated", "new-Secret-0815-current"
    srv = hostile(
        CredentialEchoServer(
            ip,
            greeting=lambda pws: f"220 mail ESMTP seen={','.join(pws)}\r\n".encode(),
        )
    )
    target = plain_login(make_target, ip, srv.port)
    probe(target, password=old, env=env)
    probe(target, password=new, env=env)
    # WHEN the probe after a rotation runs with the new password, told of the old one
    result = probe(target, password=new, mask=(old,), env=env)
    # THEN neither is readable
    assert_failure(result, ErrorKind.AUTH_FAILED, Phase.AUTH)
    assert result.server is not None and result.server.banner is not None
    assert result.server.banner.startswith("mail ESMTP seen=***")
    assert_no_secret(result, old, new)


# ------------------------------------------------------------------ finding 3


@pytest.mark.parametrize("secret", ["K7QX2M9PLR4TZ8WBV3", "Tr0ub4dor-3-secret"])
def test_the_password_as_an_ehlo_keyword_after_the_starttls_fallback_is_masked(
    ip: str,
    secret: str,
    hostile: Hostile,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    # GIVEN a server that answers AUTH on the plain link with 504 (the probe then takes
    # the STARTTLS fallback) and lists the password it learned as an EHLO keyword
    def ehlo(pws: list[str], tls: bool) -> bytes:
        if not tls:
            return smtp_reply(250, "echo.smtpwatch.test", "STARTTLS", "AUTH PLAIN")
        return smtp_reply(250, "echo.smtpwatch.test", *pws, "AUTH PLAIN")

    def auth(_m: str, _pws: list[str], tls: bool) -> bytes:
        return b"535 5.7.8 no\r\n" if tls else b"504 5.5.4 not on a plain link\r\n"

    srv = hostile(CredentialEchoServer(ip, cert=certs.valid(), ehlo=ehlo, auth=auth))
    result = probe(plain_login(make_target, ip, srv.port), password=secret, env=env)
    # THEN the login failed over TLS, and the keyword list shows no password
    assert_failure(result, ErrorKind.AUTH_FAILED, Phase.AUTH)
    assert result.auth is not None and result.auth.over_tls is True
    assert set(srv.learned) == {secret}  # sent on the plain link, then over TLS
    assert result.server is not None and "***" in result.server.extensions
    assert_no_secret(result, secret)


# ------------------------------------------------------------------ finding 4


def test_a_password_with_whitespace_echoed_raw_is_masked_before_whitespace_is_folded(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    secret = "two  spaces\there and\tmore  of them"
    srv = hostile(
        CredentialEchoServer(
            ip, auth=lambda _m, pws, _t: f"535 5.7.8 you said {pws[-1]}\r\n".encode()
        )
    )
    result = probe(plain_login(make_target, ip, srv.port), password=secret, env=env)
    assert_failure(result, ErrorKind.AUTH_FAILED, Phase.AUTH)
    assert srv.learned == [secret]
    assert result.error is not None and result.error.message.endswith("you said ***")
    assert_no_secret(result, secret)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_password_quoted_back_in_endless_challenges_never_shows_in_the_bytes_repr(
    ip: str, mechanism: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server that answers every AUTH step with 334 and the password (with a
    # backslash and a tab: a bytes repr doubles the one and spells out the other),
    # padded so that smtplib can base64-decode it and goes on until it gives up
    secret = "Back\\slash\tTab-Pa55word-xyz"

    def challenge(_m: str, pws: list[str], _t: bool) -> bytes:
        text = pws[-1] if pws else secret
        alphabet = sum(ch.isalnum() or ch in "+/" for ch in text)
        return f"334 {text}{'A' * (-alphabet % 4)}\r\n".encode()

    srv = hostile(CredentialEchoServer(ip, known=[secret], auth=challenge))
    result = probe(
        plain_login(make_target, ip, srv.port, auth_methods=mechanism), password=secret, env=env
    )
    # THEN the garbled exchange is a protocol failure in auth (smtplib's "infinite
    # loop ... Last response: (334, b'...')" on the raw text; the masked challenge may
    # no longer decode), without the secret
    assert_failure(result, ErrorKind.PROTOCOL, Phase.AUTH)
    assert_no_secret(result, secret)


# ------------------------------------------------------------------ certificate fields


def test_the_password_in_certificate_names_is_masked(
    ip: str,
    smtp_server: Callable[..., SmtpServer],
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    # GIVEN a certificate naming only a host spelled with the password
    secret = "k3y-rotat10n-s3cret-77"
    cert = certs.issue(f"{secret}.smtpwatch.test", f"mx.{secret.upper()}.example")
    srv = smtp_server(ip, cert=cert, starttls=True, credentials={USER: secret})
    result = probe(make_target(ip, srv.port, login=True), password=secret, env=env)
    # THEN the name mismatch is reported with the names, minus the password
    assert_failure(result, ErrorKind.CERT_HOSTNAME, Phase.TLS)
    assert result.tls is not None and len(result.tls.sans) == 2
    assert all("***" in san for san in result.tls.sans)
    assert_no_secret(result, secret)


# ------------------------------------------------------------------ bounds (any target)


def test_998_distinct_8kb_ehlo_keywords_are_protocol_in_ehlo_within_the_deadline(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server answering EHLO with 998 distinct keywords of 8 KB each (8 MB)
    keywords = [f"K{i:04d}" + "x" * 8000 for i in range(998)]
    flood = smtp_reply(250, "flood.smtpwatch.test", *keywords)
    srv = hostile(HostileServer.scripted(ip, replies={"EHLO": flood}))
    target = make_target(ip, srv.port, encryption="none", timeout_s=1)
    # WHEN probed with a one-second deadline
    start = time.monotonic()
    result = probe(target, env=env)
    took = time.monotonic() - start
    # THEN the reply is refused as oversize while it is read, within the deadline
    assert_failure(result, ErrorKind.PROTOCOL, Phase.EHLO)
    assert result.error is not None and f"{smtp_client.MAX_REPLY_BYTES}" in result.error.message
    assert took <= target.timeout_s + 0.2
    assert len(json.dumps(result.to_dict())) <= 16 * 1024


def test_a_reply_over_the_size_cap_in_short_lines_is_protocol_in_banner(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # 500 short lines: under the line-count and line-length limits, over the size cap
    greeting = smtp_reply(220, *(f"{i:03d} " + "g" * 40 for i in range(500)))
    assert len(greeting) > smtp_client.MAX_REPLY_BYTES
    srv = hostile(HostileServer.greeting(greeting, ip))
    result = probe(make_target(ip, srv.port, encryption="none"), env=env)
    assert_failure(result, ErrorKind.PROTOCOL, Phase.BANNER)


def test_a_dialogue_over_the_total_cap_is_protocol_in_the_phase_it_crossed_it(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN replies each just under the per-reply cap: greeting, EHLO, then 334
    # challenges to AUTH LOGIN until the dialogue passes its total cap
    big = ["b" * 100] * ((smtp_client.MAX_REPLY_BYTES - 2000) // 106)
    greeting = smtp_reply(220, "big.smtpwatch.test", *big)
    ehlo = smtp_reply(250, "big.smtpwatch.test", "AUTH LOGIN", *big)
    challenge = smtp_reply(334, *(["QUFB" * 25] * len(big)))
    assert 3 * len(challenge) < smtp_client.MAX_DIALOGUE_BYTES < 6 * len(challenge)
    srv = hostile(
        CredentialEchoServer(
            ip, greeting=lambda _p: greeting, ehlo=lambda _p, _t: ehlo,
            auth=lambda _m, _p, _t: challenge,
        )
    )  # fmt: skip
    result = probe(
        plain_login(make_target, ip, srv.port, auth_methods="LOGIN"), password=LONG, env=env
    )
    assert_failure(result, ErrorKind.PROTOCOL, Phase.AUTH)
    assert result.error is not None and f"{smtp_client.MAX_DIALOGUE_BYTES}" in result.error.message


def test_control_characters_in_ehlo_keywords_and_greeting_never_reach_the_result(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server without any secret involved, whose text carries terminal escapes,
    # NUL, a bidi override and C1 controls
    nasty = "\x1b[31mRED\x1b]0;title\x07\x00\u202eevil\x85\x9b2J"
    srv = hostile(
        HostileServer.scripted(
            ip,
            greeting=f"220 hi {nasty}\r\n".encode(),
            replies={"EHLO": smtp_reply(250, "hi", f"X-{nasty}", "8BITMIME")},
        )
    )
    result = probe(make_target(ip, srv.port, encryption="none"), env=env)
    assert result.status is Status.OK, result.to_dict()
    assert result.server is not None and result.server.banner is not None
    shown = [result.server.banner, *result.server.extensions]
    assert all(text.isprintable() for text in shown), shown
    assert "8BITMIME" in result.server.extensions


# ------------------------------------------------------------------ more hostile shapes


def test_the_password_in_a_line_that_is_no_smtp_reply_is_masked_before_the_snippet(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server that answers AUTH with a bare line starting with the password
    srv = hostile(
        CredentialEchoServer(ip, auth=lambda _m, pws, _t: f"{pws[-1]} is wrong\r\n".encode())
    )
    result = probe(plain_login(make_target, ip, srv.port), password=LONG, env=env)
    # THEN a garbled reply is a protocol failure in auth; the message quotes the
    # start of the line, masked before it was cut to a snippet
    assert_failure(result, ErrorKind.PROTOCOL, Phase.AUTH)
    assert result.error is not None and "not an SMTP reply: '***" in result.error.message
    assert_no_secret(result, LONG)


def test_the_password_in_a_rejected_quit_is_masked_in_the_quit_detail(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server that accepts the login, then answers QUIT with 554, a screenful
    # of filler and the password (QUIT is detail: the probe still passes)
    srv = hostile(
        CredentialEchoServer(
            ip,
            auth=lambda _m, _p, _t: b"235 2.7.0 ok\r\n",
            quit=lambda pws: f"554 5.0.0 {'q' * 250} bye {pws[-1]}\r\n".encode(),
        )
    )
    result = probe(plain_login(make_target, ip, srv.port), password=LONG, env=env)
    assert result.status is Status.OK, result.to_dict()
    quit_phase = result.phase(Phase.QUIT)
    assert not quit_phase.ok and quit_phase.detail is not None
    assert quit_phase.detail.startswith("554 5.0.0 qqq")
    assert_no_secret(result, LONG)


@pytest.mark.parametrize("password", [LONG, "Tr0ub4dor&3x"])
def test_the_auth_login_password_line_echoed_in_a_535_is_masked(
    ip: str, password: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server that rejects AUTH LOGIN quoting back the line the client sent for
    # the password: base64 of the password, as smtplib sends it (no padding removed)
    line = base64.b64encode(password.encode()).decode()
    srv = hostile(
        CredentialEchoServer(ip, auth=lambda _m, _pws, _t: smtp_reply(535, f"5.7.8 bad {line}"))
    )
    # WHEN the probe logs in with LOGIN
    result = probe(
        plain_login(make_target, ip, srv.port, auth_methods="LOGIN"), password=password, env=env
    )
    # THEN it is a failed login in auth with the server's code, the line is masked in the
    # message, and neither it nor the password is anywhere in the result
    assert_failure(result, ErrorKind.AUTH_FAILED, Phase.AUTH)
    assert result.error is not None and result.error.smtp_code == 535
    assert srv.learned == [password]  # the server really had the line to echo
    assert "***" in result.error.message
    doc = json.dumps(result.to_dict())
    assert line.rstrip("=") not in doc and line.rstrip("=") not in result.error.message
    assert_no_secret(result, password)
