"""The probe tells its environment's ``phase_hook`` of each phase as it starts and as it
ends, with the phase's error (what the Lambda handler turns into X-Ray subsegments).

Real aiosmtpd servers on 127.0.0.1; the hook only records what it is told.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smtpwatch.core.errors import AuthFailedError, ProbeError
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, Status
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer, closed_port

MakeTarget = Callable[..., Target]
Smtp = Callable[..., SmtpServer]

USER = "monitor@smtpwatch.test"


def _recording(env: ProbeEnvironment) -> list[tuple[Any, ...]]:
    """Every start and end the probe reports, in order."""
    seen: list[tuple[Any, ...]] = []

    def hook(phase: str) -> Callable[[BaseException | None], None]:
        seen.append(("start", phase))

        def end(error: BaseException | None) -> None:
            seen.append(("end", phase, error))

        return end

    env.phase_hook = hook
    return seen


def test_each_phase_of_a_passing_dialogue_starts_and_ends_in_order_without_error(
    smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment, certs: Certificates
) -> None:
    srv = smtp_server("127.0.0.1", cert=certs.valid(), starttls=True, credentials={USER: "pw"})
    target = make_target(
        DEFAULT_HOSTNAME,
        srv.port,
        dns_hosts=[f"127.0.0.1 {DEFAULT_HOSTNAME}"],
        login=True,
    )
    seen = _recording(env)
    result = probe(target, password="pw", env=env)
    assert result.status is Status.OK, result.to_dict()
    phases = [p.value for p in Phase if result.phase(p).reached]
    assert phases == [
        "dns",
        "connect",
        "banner",
        "ehlo",
        "starttls",
        "tls",
        "ehlo_tls",
        "auth",
        "quit",
    ]
    # One start and one end per phase, never overlapping: each phase is one subsegment.
    expected: list[tuple[Any, ...]] = []
    for phase in phases:
        expected += [("start", phase), ("end", phase, None)]
    assert seen == expected


def test_a_refused_connect_ends_its_phase_with_the_error_the_result_reports(
    make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    seen = _recording(env)
    result = probe(make_target("127.0.0.1", closed_port()), env=env)
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.CONNECT_REFUSED, Phase.CONNECT)
    (connect_end,) = [e for e in seen if e[:2] == ("end", "connect")]
    error = connect_end[2]
    # The hook sees the probe's failure class, not the socket's ConnectionRefusedError.
    assert isinstance(error, ProbeError) and error.kind is ErrorKind.CONNECT_REFUSED
    assert not [e for e in seen if e[1] in ("banner", "ehlo", "quit")]


def test_a_rejected_login_ends_the_auth_phase_with_the_auth_failure(
    smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment, certs: Certificates
) -> None:
    srv = smtp_server("127.0.0.1", cert=certs.valid(), starttls=True, credentials={USER: "right"})
    target = make_target("127.0.0.1", srv.port, login=True)
    seen = _recording(env)
    result = probe(target, password="wrong", env=env)
    assert result.error is not None and result.error.kind is ErrorKind.AUTH_FAILED
    ends = {e[1]: e[2] for e in seen if e[0] == "end"}
    assert isinstance(ends["auth"], AuthFailedError)
    assert ends["tls"] is None and ends["ehlo_tls"] is None
