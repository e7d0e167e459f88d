"""One overall deadline — DNS, every connect attempt and every read share
``timeout_s``. Each phase alone is tested elsewhere; these prove the time spent in one
phase is not given back to the next."""

from __future__ import annotations

import time
from collections.abc import Callable

from smtpwatch.core.deadline import Deadline
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.resolve import AddressResolver
from smtpwatch.core.result import ErrorKind, Phase
from smtpwatch.core.target import Target
from smtpwatch.testing.dns_server import DnsServer
from smtpwatch.testing.servers import HostileServer

MakeTarget = Callable[..., Target]
Hostile = Callable[[HostileServer], HostileServer]
NAME = "slow-dns.smtpwatch.test"


def test_time_spent_in_dns_is_taken_from_the_banner_wait(
    ip: str, hostile: Hostile, make_target: MakeTarget
) -> None:
    # GIVEN a nameserver that answers A at once but never AAAA (the probe then waits
    # for AAAA for a share of the deadline), and a listener that never greets
    srv = hostile(HostileServer.silent(ip))
    zone = {NAME: ["127.0.0.1"] if ip == "127.0.0.1" else ["::1"]}
    rdtype = "AAAA" if ip == "127.0.0.1" else "A"
    with DnsServer(zone, host=ip, silent_rdtypes=[rdtype]) as dns_server:
        env = ProbeEnvironment(
            resolver=AddressResolver(dns_server.resolver(timeout=0.5)),
            default_ehlo_name="probe.smtpwatch.test",
        )
        target = make_target(NAME, srv.port, dns_mode="non_cached", timeout_s=4)
        # WHEN probed with a 4 s deadline
        start = time.monotonic()
        result = probe(target, env=env)
        elapsed = time.monotonic() - start
    # THEN DNS used part of the 4 s, the banner wait got only the rest: timeout in
    # banner at the one deadline (a deadline restarted after DNS would end near 6 s)
    assert result.error is not None, result.to_dict()
    assert (result.error.kind, result.error.phase) == (ErrorKind.TIMEOUT, Phase.BANNER)
    dns_ms = result.phase(Phase.DNS).ms
    assert dns_ms is not None and dns_ms > 1000, result.to_dict()
    assert result.phase(Phase.DNS).ok
    assert elapsed < 5.0


def test_a_socket_cap_never_exceeds_the_time_left() -> None:
    # GIVEN a 10 s deadline on a fake clock with 50 ms left
    now = [500.0]
    deadline = Deadline(10, clock=lambda: now[0])
    now[0] = 509.95
    # WHEN a socket call capped at 2 s (the QUIT wait) asks for its timeout
    # THEN it gets the 50 ms left, not the cap; a cap below the time left still wins
    assert abs(deadline.socket_timeout(Phase.QUIT, cap=2.0) - 0.05) < 1e-9
    assert deadline.socket_timeout(Phase.QUIT, cap=0.01) == 0.01
    now[0] = 509.9995  # under a millisecond left: the 1 ms floor, never the cap
    assert deadline.socket_timeout(Phase.QUIT, cap=2.0) == 0.001


def test_a_server_that_never_answers_quit_ends_the_probe_within_its_deadline(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server that completes the dialogue but never answers QUIT, so the QUIT
    # wait (capped at 2 s) meets a deadline of 1 s that is nearly spent
    srv = hostile(HostileServer.scripted(ip, replies={"QUIT": lambda conn: conn.hold()}))
    target = make_target(ip, srv.port, encryption="none", timeout_s=1)
    # WHEN probed
    start = time.monotonic()
    result = probe(target, env=env)
    elapsed = time.monotonic() - start
    # THEN the probe returns within timeout_s + 0.2 s: the deadline bounds QUIT too,
    # and the unanswered QUIT is detail, not the verdict
    assert elapsed <= 1.2, elapsed
    assert result.total_ms <= 1200, result.total_ms
    assert result.phase(Phase.QUIT).reached and not result.phase(Phase.QUIT).ok
    assert result.error is None, result.to_dict()
