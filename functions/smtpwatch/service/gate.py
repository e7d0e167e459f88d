"""Monitor-degraded gate for one local sweep (``smtpwatch run``).

The scheduler knows how many checks a sweep (its tick) runs; each check reports its
first result (``observe``) and asks before a new down alert (``hold_down``). When more
than ``share`` of the sweep's checks — and at least ``min_count`` — have failed, the
gate sends ONE ``degraded`` alert and holds the down alerts (the targets stay down,
unannounced, and are announced by their next check that is not held).

Timing: checks of a sweep run concurrently and each asks the gate after its own
re-check (``recheck_delay_s``, default 10 s), by which time the other probes of the
sweep have mostly reported their first result; a check that finishes before the
failures pile up (no re-check, or a very early one) may still send its own down
alert. That is the price of not delaying every alert until the whole sweep is done.

Failures that say nothing about the monitor (``config``) are not counted.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from smtpwatch.core.alerting import (
    DEGRADED_MIN_COUNT,
    DEGRADED_SHARE,
    counts_as_failure,
    degraded,
    degraded_alert,
)
from smtpwatch.core.result import ErrorKind, ProbeResult
from smtpwatch.core.state import Alert
from smtpwatch.ports import AlertSink

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["SweepGate"]

log = logging.getLogger("smtpwatch.gate")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SweepGate:
    """``AlertGate`` (``service.check``) for a sweep of ``total`` checks; thread-safe."""

    def __init__(
        self,
        total: int,
        *,
        tick: str,
        sinks: Sequence[AlertSink] = (),
        share: float = DEGRADED_SHARE,
        min_count: int = DEGRADED_MIN_COUNT,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.total = total
        self.tick = tick
        self._sinks = tuple(sinks)
        self._share = share
        self._min_count = min_count
        self._now = now
        self._lock = threading.Lock()
        self.failed = 0
        self.seen = 0
        self._kinds: Counter[str] = Counter()
        self._sample: list[str] = []
        self._alert_sent = False
        self.alert: Alert | None = None  # the degraded alert, once sent
        self.held = 0  # down alerts held

    @property
    def is_degraded(self) -> bool:
        with self._lock:
            return self._degraded()

    def observe(self, target: Target, result: ProbeResult, *, scheduled_at: str) -> None:
        with self._lock:
            self.seen += 1
            if not counts_as_failure(result):
                return
            if result.error is not None and result.error.kind is ErrorKind.CONFIG:
                return
            self.failed += 1
            self._kinds[result.error.kind.value if result.error else "unknown"] += 1
            if len(self._sample) < 10:
                self._sample.append(target.target_id)

    def hold_down(self, target: Target, *, scheduled_at: str) -> bool:
        with self._lock:
            if not self._degraded():
                return False
            self.held += 1
        self.finish()
        return True

    def finish(self) -> Alert | None:
        """Send the degraded alert if the sweep is degraded and it was not sent yet
        (call at the end of a sweep, so that it goes out even if no check asked)."""
        with self._lock:
            if self._alert_sent or not self._degraded():
                return self.alert
            self._alert_sent = True  # claim it; released again if every sink failed
            alert = degraded_alert(
                tick=self.tick,
                failed=self.failed,
                total=self.total,
                now=self._now(),
                sample=self._sample,
                kinds=dict(self._kinds),
            )
        from smtpwatch.service.check import deliver

        if deliver(alert, self._sinks):
            self.alert = alert
        else:
            with self._lock:
                self._alert_sent = False
        return self.alert

    def _degraded(self) -> bool:
        return degraded(self.failed, self.total, share=self._share, min_count=self._min_count)
