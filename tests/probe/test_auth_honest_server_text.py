"""An honest server's text that happens to share characters with the password must
not break the login: the masking of server text is for what is kept and shown, not
for what the AUTH mechanism computes its answer from."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, Status
from smtpwatch.core.target import Target
from smtpwatch.testing.secret_runs import leaked_runs
from smtpwatch.testing.servers import (
    DEFAULT_HOSTNAME,
    Certificates,
    CredentialEchoServer,
    HostileServer,
    SmtpServer,
)

MakeTarget = Callable[..., Target]

USER = "monitor@smtpwatch.test"


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "LOGIN", "PLAIN"])
def test_a_password_holding_the_servers_host_name_still_logs_in(
    ip: str,
    mechanism: str,
    smtp_server: Callable[..., SmtpServer],
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    # GIVEN an honest server whose name (in its greeting and in its CRAM-MD5
    # challenge "<id.time@name>") shares more than 8 characters with the password
    secret = f"{DEFAULT_HOSTNAME.split('.', 1)[1]}-Monitor1"
    srv = smtp_server(
        ip,
        cert=certs.valid(),
        starttls=True,
        credentials={USER: secret},
        hostname=DEFAULT_HOSTNAME,
    )
    target = make_target(ip, srv.port, login=True, auth_methods=[mechanism])
    # WHEN probed with the right password
    result = probe(target, password=secret, env=env)
    # THEN the login succeeds with that mechanism (the challenge reached the
    # mechanism as the server sent it), and the password is still kept out
    assert result.status is Status.OK, result.to_dict()
    assert result.auth is not None and result.auth.mechanism == mechanism
    assert srv.auth_attempts == [mechanism]
    assert secret.lower() not in str(result.to_dict()).lower()


# A challenge now reaches smtplib as the server sent it: what smtplib makes of a hostile
# one (its "infinite loop ... Last response: (334, b'...')" error) must still be masked.
@pytest.mark.parametrize("shape", ["plain", "base64", "repr-escaped"])
def test_a_password_in_cram_md5_challenges_never_reaches_the_result(
    ip: str,
    shape: str,
    hostile: Callable[[HostileServer], HostileServer],
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    # GIVEN a server that knows the password and challenges CRAM-MD5 with it, again and
    # again, until the client gives up
    secret = "Cr4m-Ch4llenge\tSecret-91"

    def challenge(_m: str, pws: list[str], _t: bool) -> bytes:
        text = f"<{pws[-1]}@echo.smtpwatch.test>"
        if shape == "base64":
            text = base64.b64encode(text.encode()).decode()
        elif shape == "repr-escaped":
            text = "".join(f"\\x{b:02x}" for b in text.encode())
        # padded so that smtplib's lenient base64 decoding accepts it and goes on
        alphabet = sum(ch.isascii() and (ch.isalnum() or ch in "+/") for ch in text)
        return f"334 {text}{'A' * (-alphabet % 4)}\r\n".encode()

    srv = hostile(CredentialEchoServer(ip, known=[secret], auth=challenge))
    target = make_target(
        ip,
        srv.port,
        encryption="none",
        login=True,
        allow_plaintext_auth=True,
        auth_methods="CRAM-MD5",
    )
    result = probe(target, password=secret, env=env)
    # THEN a garbled exchange in auth, and no run of the password anywhere
    assert result.status is Status.CRITICAL, result.to_dict()
    assert result.error is not None and result.error.phase is Phase.AUTH
    assert result.error.kind is ErrorKind.PROTOCOL
    assert "infinite loop" in result.error.message
    for out in (json.dumps(result.to_dict()), json.dumps(result.to_dict(), ensure_ascii=False)):
        assert not leaked_runs(out, secret), out
