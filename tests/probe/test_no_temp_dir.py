"""A machine where no temporary file can be made (a read-only root, no writable /tmp)
must not turn a healthy server into a failure: certificate facts are a bonus."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import Status
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import Certificates, SmtpServer

MakeTarget = Callable[..., Target]
Smtp = Callable[..., SmtpServer]


@pytest.mark.parametrize("encryption", ["explicit", "implicit"])
def test_an_unverified_probe_of_a_healthy_server_is_ok_where_no_temp_file_can_be_made(
    encryption: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    # GIVEN a healthy TLS server, probed with tls_verify off (self-signed on purpose)
    srv = smtp_server(
        "127.0.0.1",
        cert=certs.valid(),
        starttls=encryption == "explicit",
        implicit_tls=encryption == "implicit",
    )
    # AND no temporary file can be made on this machine
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(OSError):
        tempfile.mkstemp()
    # WHEN probed
    result = probe(
        make_target("127.0.0.1", srv.port, encryption=encryption, tls_verify=False), env=env
    )
    # THEN ok: no false DOWN because the certificate's facts could not be decoded
    assert result.status is Status.OK, result.to_dict()
    assert result.error is None
    assert result.tls is not None and not result.tls.verified
