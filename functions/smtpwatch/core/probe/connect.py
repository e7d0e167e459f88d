"""Connecting: each resolved address in turn, each attempt recorded for the result.

Only a failed connect moves on to the next address; each attempt but the last gets an
equal share of the time left, so one black-holed address cannot use up the deadline.
"""

from __future__ import annotations

import errno
import socket

from smtpwatch.core.errors import (
    ConnectRefusedError,
    ConnectTimeoutError,
    ProbeError,
    ProbeTimeoutError,
    UnreachableError,
)
from smtpwatch.core.result import AddressAttempt

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from collections.abc import Callable

    from smtpwatch.core.deadline import Deadline
    from smtpwatch.core.resolve import ResolvedAddress

__all__ = ["connect_error", "connect_first", "family_label", "open_socket"]

# The errnos that mean "no route there", as opposed to any other failure to connect.
_UNREACHABLE_ERRNOS = frozenset(
    {
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EADDRNOTAVAIL,
        errno.EAFNOSUPPORT,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
    }
)


def family_label(ip: str) -> str:
    """``ipv6`` or ``ipv4``, as the result names an address family."""
    return "ipv6" if ":" in ip else "ipv4"


def open_socket(ip: str) -> socket.socket:
    """An unconnected TCP socket of ``ip``'s family."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return socket.socket(family, socket.SOCK_STREAM)


def connect_first(
    addresses: tuple[ResolvedAddress, ...],
    port: int,
    *,
    deadline: Deadline,
    clock: Callable[[], float],
    attempts: list[AddressAttempt],
    port25_blocked: bool = False,
) -> tuple[socket.socket, ResolvedAddress]:
    """The socket connected to the first of ``addresses`` that accepts, and that address.

    Every attempt is appended to ``attempts`` as it ends, so the result lists them
    even when this raises the last attempt's ``ProbeError``."""
    last: ProbeError | None = None
    for index, address in enumerate(addresses):
        if deadline.expired():
            break
        budget = deadline.remaining() / (len(addresses) - index)
        start = clock()
        sock: socket.socket | None = None
        try:
            sock = open_socket(address.ip)
            sock.settimeout(max(budget, 0.001))
            sock.connect((address.ip, port))
        except OSError as err:
            if sock is not None:
                sock.close()
            last = connect_error(err, address.ip, port, budget, port25_blocked=port25_blocked)
            attempts.append(_attempt(address, (clock() - start) * 1000.0, error=last.kind))
            continue
        attempts.append(_attempt(address, (clock() - start) * 1000.0))
        return sock, address
    if last is None:
        raise ProbeTimeoutError(f"deadline of {deadline.timeout_s:g} s reached")
    if len(attempts) > 1:
        last.message = f"all {len(attempts)} addresses failed; last: {last.message}"
    raise last


def _attempt(address: ResolvedAddress, ms: float, error: str | None = None) -> AddressAttempt:
    """One attempt for the result: ok unless it has an ``error`` kind."""
    family = address.family or family_label(address.ip)
    return AddressAttempt(address.ip, family, ok=error is None, ms=ms, error=error)


def connect_error(
    err: OSError, ip: str, port: int, budget: float, *, port25_blocked: bool = False
) -> ProbeError:
    """The failure class of one failed connect to ``ip``:``port`` (given ``budget`` s)."""
    where = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    if isinstance(err, ConnectionRefusedError):
        return ConnectRefusedError(f"connection refused by {where}")
    if isinstance(err, TimeoutError):
        message = f"no connection to {where} within {budget:.3g} s"
        if port == 25 and port25_blocked:
            message += " (AWS blocks outbound port 25 from Lambda functions outside a VPC)"
        return ConnectTimeoutError(message)
    if err.errno in _UNREACHABLE_ERRNOS:
        return UnreachableError(f"{where} unreachable: {err.strerror}")
    return UnreachableError(f"cannot connect to {where}: {err.strerror or type(err).__name__}")
