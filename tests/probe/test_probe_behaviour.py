"""The probe as a whole: deadline, address fallback, warnings, QUIT, the result's shape,
and "never raises": only a bug gives ``unknown``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from smtpwatch.core.deadline import Deadline
from smtpwatch.core.errors import ProbeTimeoutError
from smtpwatch.core.probe import DEFAULT_EHLO_NAME, ProbeEnvironment, probe
from smtpwatch.core.result import PHASES, ErrorKind, Phase, ProbeResult, Status, WarningKind
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import (
    DEFAULT_HOSTNAME,
    BlackHole,
    Certificates,
    HostileServer,
    SmtpServer,
    closed_port,
)

MakeTarget = Callable[..., Target]
Smtp = Callable[..., SmtpServer]
Hostile = Callable[[HostileServer], HostileServer]


# ------------------------------------------------------------------ the deadline


def test_deadline_counts_down_and_names_the_phase_when_reached() -> None:
    now = [100.0]
    deadline = Deadline(3, clock=lambda: now[0])
    assert deadline.remaining() == 3
    now[0] = 102.5
    assert deadline.socket_timeout(Phase.EHLO) == pytest.approx(0.5)
    now[0] = 103.0
    with pytest.raises(ProbeTimeoutError) as err:
        deadline.check(Phase.EHLO)
    assert err.value.phase is Phase.EHLO
    assert isinstance(err.value, TimeoutError)


def test_black_holed_port_is_connect_timeout_at_the_deadline(
    ip: str, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    with BlackHole(ip) as hole:
        start = time.monotonic()
        result = probe(make_target(ip, hole.port, timeout_s=1.5), env=env)
        elapsed = time.monotonic() - start
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.CONNECT_TIMEOUT, Phase.CONNECT)
    assert elapsed < 1.5 + 1.0  # the deadline (timeout_s=1.5) + 1 s slack: the behaviour


# ------------------------------------------------------------------ address fallback


def _mapped(*ips: str) -> list[str]:
    return [f"{ip} {DEFAULT_HOSTNAME}" for ip in ips]


def test_refused_first_address_falls_back_to_the_next(
    smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN the name maps to 127.0.0.1 (nothing listening) and ::1 (a server), same port
    port = closed_port("127.0.0.1")
    smtp_server("::1", port=port)
    target = make_target(
        DEFAULT_HOSTNAME, port, encryption="none", dns_hosts=_mapped("127.0.0.1", "::1")
    )
    # WHEN probed
    result = probe(target, env=env)
    # THEN the second address served, and both attempts are listed in order
    assert result.status is Status.OK, result.to_dict()
    assert (result.address.ip, result.address.family) == ("::1", "ipv6")
    assert [(a.ip, a.ok, a.error) for a in result.address.attempts] == [
        ("127.0.0.1", False, "connect_refused"),
        ("::1", True, None),
    ]


def test_black_holed_first_address_gets_a_share_of_the_deadline_then_falls_back(
    smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    with BlackHole("127.0.0.1") as hole:
        smtp_server("::1", port=hole.port)
        target = make_target(
            DEFAULT_HOSTNAME,
            hole.port,
            encryption="none",
            timeout_s=4,
            dns_hosts=_mapped("127.0.0.1", "::1"),
        )
        result = probe(target, env=env)
    assert result.status is Status.OK, result.to_dict()
    assert [(a.ip, a.ok, a.error) for a in result.address.attempts] == [
        ("127.0.0.1", False, "connect_timeout"),
        ("::1", True, None),
    ]
    first = result.address.attempts[0].ms
    assert first is not None and first < 2500  # half of the 4 s, not all of it


def test_once_a_greeting_arrives_the_address_is_final(
    hostile: Hostile, smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    bad = hostile(HostileServer.greeting(b"554 5.3.2 busy\r\n", "127.0.0.1"))
    smtp_server("::1", port=bad.port)
    target = make_target(
        DEFAULT_HOSTNAME, bad.port, encryption="none", dns_hosts=_mapped("127.0.0.1", "::1")
    )
    result = probe(target, env=env)
    assert result.error is not None and result.error.kind is ErrorKind.BANNER
    assert [a.ip for a in result.address.attempts] == ["127.0.0.1"]


def test_all_addresses_failing_reports_the_last_failure(
    make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    port = closed_port("127.0.0.1")
    target = make_target(DEFAULT_HOSTNAME, port, dns_hosts=_mapped("127.0.0.1", "::1"))
    result = probe(target, env=env)
    assert result.error is not None and result.error.kind is ErrorKind.CONNECT_REFUSED
    assert result.error.message.startswith("all 2 addresses failed")
    assert result.address.ip is None and len(result.address.attempts) == 2


# ------------------------------------------------------------------ warnings and status


def test_slower_than_warn_ms_is_a_slow_warning(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.delayed(0.3, ip))
    result = probe(make_target(ip, srv.port, encryption="none", warn_ms=100), env=env)
    assert result.status is Status.WARNING, result.to_dict()
    assert [w.kind for w in result.warnings] == [WarningKind.SLOW]
    assert "warn_ms 100" in result.warnings[0].message
    assert result.total_ms > 100


def test_fast_enough_for_warn_ms_is_ok(
    ip: str, smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip)
    result = probe(make_target(ip, srv.port, encryption="none", warn_ms=60_000), env=env)
    assert result.status is Status.OK and result.warnings == ()
    assert result.status.exit_code == 0


def test_a_failed_quit_is_detail_not_a_failure(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = hostile(HostileServer.close_after("QUIT", ip))
    result = probe(make_target(ip, srv.port, encryption="none"), env=env)
    assert result.status is Status.OK, result.to_dict()
    quit_phase = result.phase(Phase.QUIT)
    assert quit_phase.reached and not quit_phase.ok and quit_phase.detail


class _BrokenResolver:
    def resolve(self, target: object, *, timeout: float) -> object:
        raise RuntimeError("a bug in a resolver")


def test_a_bug_gives_unknown_and_is_never_raised(make_target: MakeTarget) -> None:
    env = ProbeEnvironment(resolver=_BrokenResolver())  # type: ignore[arg-type]
    result = probe(make_target("mail.smtpwatch.test", 25), env=env)
    assert result.status is Status.UNKNOWN and result.status.exit_code == 3
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.INTERNAL, Phase.DNS)
    assert "RuntimeError" in result.error.message


# ------------------------------------------------------------------ EHLO name


def test_ehlo_name_of_the_target_is_sent(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True)
    probe(make_target(ip, srv.port, ehlo_name="monitor.example.net"), env=env)
    assert srv.ehlo_names == ["monitor.example.net", "monitor.example.net"]


def test_without_ehlo_name_the_environments_default_is_sent(
    ip: str, smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    srv = smtp_server(ip)
    probe(make_target(ip, srv.port, encryption="none"), env=env)
    assert srv.ehlo_names == [env.default_ehlo_name]


def test_default_ehlo_name_comes_from_the_environment_variables() -> None:
    assert ProbeEnvironment.from_environ({}).default_ehlo_name == DEFAULT_EHLO_NAME
    assert ProbeEnvironment.from_environ({"EHLO_NAME": "probe.aws"}).default_ehlo_name == (
        "probe.aws"
    )
    both = {"EHLO_NAME": "probe.aws", "SMTPWATCH_EHLO_NAME": "probe.local"}
    assert ProbeEnvironment.from_environ(both).default_ehlo_name == "probe.local"


# ------------------------------------------------------------------ the result


def test_result_shape_timestamps_and_round_trip(
    ip: str,
    smtp_server: Smtp,
    certs: Certificates,
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    srv = smtp_server(ip, cert=certs.valid(), starttls=True)
    result = probe(make_target(ip, srv.port), env=env)
    data = result.to_dict()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["started_at"])
    assert list(data["phases"]) == [p.value for p in PHASES]
    for name, phase in data["phases"].items():
        assert (phase["ms"] is not None) == phase["reached"], name
    assert not data["phases"]["auth"]["reached"]
    assert data["total_ms"] >= data["phases"]["tls"]["ms"]
    assert data["address"]["source"] == "literal" and data["port"] == srv.port
    assert ProbeResult.from_dict(data).to_dict() == data


def test_probe_is_reachable_from_the_package_root(
    ip: str, smtp_server: Smtp, make_target: MakeTarget
) -> None:
    from smtpwatch import probe as public_probe

    srv = smtp_server(ip)
    result = public_probe(make_target(ip, srv.port, encryption="none"))
    assert result.status is Status.OK
