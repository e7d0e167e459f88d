"""An honest server's text that happens to share characters with the password must
not break the login: the masking of server text is for what is kept and shown, not
for what the AUTH mechanism computes its answer from."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import Status
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer

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
