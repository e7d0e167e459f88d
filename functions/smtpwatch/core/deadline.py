"""One overall deadline shared by every step of a probe.

Each socket call takes its timeout from ``Deadline.socket_timeout()``, so DNS, every
connect attempt, the TLS handshake and every read share ``timeout_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from smtpwatch.core.errors import ProbeTimeoutError
from smtpwatch.core.kinds import Phase

__all__ = ["Deadline"]

# A socket timeout of 0 would switch the socket to non-blocking mode; the last few
# milliseconds are given as this floor instead and the deadline is checked afterwards.
_MIN_SOCKET_TIMEOUT_S = 0.001


class Deadline:
    """``timeout_s`` from construction, measured with ``clock`` (monotonic seconds)."""

    __slots__ = ("_clock", "_end", "timeout_s")

    def __init__(self, timeout_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = float(timeout_s)
        self._clock = clock
        self._end = clock() + self.timeout_s

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._end

    def check(self, phase: Phase) -> None:
        """Raise ``ProbeTimeoutError`` naming ``phase`` when no time is left."""
        if self.expired():
            raise ProbeTimeoutError(f"deadline of {self.timeout_s:g} s reached", phase=phase)

    def socket_timeout(self, phase: Phase, *, cap: float | None = None) -> float:
        """The timeout for the next socket call (at most ``cap``), or ``ProbeTimeoutError``."""
        self.check(phase)
        left = self.remaining()
        if cap is not None:
            left = min(left, cap)
        return max(left, _MIN_SOCKET_TIMEOUT_S)
