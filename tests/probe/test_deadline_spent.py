"""A deadline spent to the last instant: the next phase is not started, and the timeout
names the phase that could not run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smtpwatch.core.deadline import Deadline
from smtpwatch.core.errors import ProbeTimeoutError
from smtpwatch.core.kinds import ErrorKind, Phase
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.resolve import Resolution, ResolvedAddress
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import HostileServer

MakeTarget = Callable[..., Target]
Hostile = Callable[[HostileServer], HostileServer]


class _SlowResolver:
    """Answers with the server's address after using up exactly the whole deadline
    (on a fake clock: the test does not wait)."""

    def __init__(self, ip: str, now: list[float], seconds: float) -> None:
        self.ip, self.now, self.seconds = ip, now, seconds

    def resolve(self, target: object, *, timeout: float) -> Resolution:
        self.now[0] += self.seconds
        family = "ipv6" if ":" in self.ip else "ipv4"
        return Resolution((ResolvedAddress(self.ip, family),), "dns")


def test_a_deadline_spent_exactly_in_dns_times_out_in_connect_without_connecting(
    ip: str, hostile: Hostile, make_target: MakeTarget
) -> None:
    # GIVEN a server that is up, and DNS that takes exactly the whole 5 s deadline
    srv = hostile(HostileServer.silent(ip))
    now = [1000.0]
    env = ProbeEnvironment(
        resolver=_SlowResolver(ip, now, 5.0),
        default_ehlo_name="probe.smtpwatch.test",
        clock=lambda: now[0],
    )
    target = make_target("mx.smtpwatch.test", srv.port, timeout_s=5)
    # WHEN probed
    result = probe(target, env=env)
    # THEN DNS succeeded, and the probe stopped at the connect phase with a timeout
    # that names it: no time is left at all, so no connection is attempted
    assert result.phase(Phase.DNS).ok
    assert result.error is not None, result.to_dict()
    assert (result.error.kind, result.error.phase) == (ErrorKind.TIMEOUT, Phase.CONNECT)
    assert result.error.message == "deadline of 5 s reached"
    assert not result.phase(Phase.BANNER).reached


def test_a_socket_call_after_the_deadline_raises_a_timeout_naming_its_phase() -> None:
    # GIVEN a 2 s deadline on a fake clock that has reached its end exactly
    now = [50.0]
    deadline = Deadline(2, clock=lambda: now[0])
    now[0] = 52.0
    # WHEN the next socket call (a second connection's TLS handshake) asks for its timeout
    with pytest.raises(ProbeTimeoutError) as info:
        deadline.socket_timeout(Phase.TLS, cap=1.0)
    # THEN it is refused with a timeout in that phase
    assert info.value.phase is Phase.TLS
    assert deadline.expired() and deadline.remaining() == 0.0
