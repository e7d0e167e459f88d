"""The password never appears in a result, its repr, its JSON, an error message, a log
line or anything printed — also when a server quotes the client's AUTH line back."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

import pytest

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import Certificates, HostileServer, SmtpServer

MakeTarget = Callable[..., Target]
USER = "monitor@smtpwatch.test"


def _forms(password: str) -> list[str]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return [password, b64(password), b64(f"\0{USER}\0{password}")]


def _assert_no_secret(password: str, result: ProbeResult, *texts: str) -> None:
    outputs = [repr(result), str(result), json.dumps(result.to_dict()), *texts]
    if result.error is not None:
        outputs += [result.error.message, repr(result.error)]
    for form in _forms(password):
        for out in outputs:
            assert form not in out


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.mark.parametrize("right_password", [True, False], ids=["login-ok", "login-failed"])
def test_password_appears_in_no_output(
    ip: str,
    right_password: bool,
    smtp_server: Callable[..., SmtpServer],
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
    everything_logged: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = smtp_server(
        ip,
        cert=certs.valid(),
        starttls=True,
        credentials={USER: password if right_password else "something else"},
    )
    for methods in ("CRAM-MD5", "LOGIN", "PLAIN"):
        result = probe(
            make_target(ip, srv.port, login=True, auth_methods=methods), password=password, env=env
        )
        assert result.ok is right_password
        captured = capsys.readouterr()
        _assert_no_secret(password, result, everything_logged.text, captured.out, captured.err)


def test_a_server_quoting_the_auth_line_back_does_not_leak_it(
    ip: str,
    hostile: Callable[[HostileServer], HostileServer],
    make_target: MakeTarget,
    env: ProbeEnvironment,
    password: str,
    everything_logged: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a server that answers AUTH PLAIN with a 535 quoting the client's line
    srv = hostile(HostileServer.echo_auth(ip))
    target = make_target(
        ip,
        srv.port,
        encryption="none",
        login=True,
        allow_plaintext_auth=True,
        auth_methods="PLAIN",
    )
    # WHEN the probe logs in
    result = probe(target, password=password, env=env)
    # THEN the failure is reported with the server's words, minus the credentials
    assert result.status is Status.CRITICAL
    assert result.error is not None and result.error.kind is ErrorKind.AUTH_FAILED
    assert "rejected: AUTH PLAIN ***" in result.error.message
    _assert_no_secret(password, result, everything_logged.text)


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "LOGIN", "PLAIN"])
def test_a_non_ascii_password_is_a_config_error_that_reveals_none_of_it(
    mechanism: str,
    smtp_server: Callable[..., SmtpServer],
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    secret = "pässwörd-ü"
    srv = smtp_server("127.0.0.1", cert=certs.valid(), starttls=True, credentials={USER: secret})
    target = make_target("127.0.0.1", srv.port, login=True, auth_methods=mechanism)
    result = probe(target, password=secret, env=env)
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.CONFIG, Phase.AUTH)
    assert "non-ASCII" in result.error.message
    for leaked in ("ä", "ö", "ü", "position", secret):
        assert leaked not in json.dumps(result.to_dict(), ensure_ascii=False)
