"""Monitor-degraded gate (DESIGN §4): the episode rule both backends share, and the
gate of one local sweep (``smtpwatch run``).

**Episodes** (``episode_verdict``). A tick is *degraded* when more than ``share`` of its
probes — and at least ``min_count`` of them — failed (``core.alerting.degraded``). An
episode begins with a degraded tick and ends with the first tick that is over without
being degraded. The tick that begins it sends ONE ``degraded`` alert; while it lasts
every new down alert is held (the targets stay down, unannounced) and no second
degraded alert is sent. A tick's verdict is known only when it is over, so the tick
after a degraded one holds too. Once the episode has ended, each held down alert that
is still true goes out with its target's next check (a target that recovered meanwhile
sends nothing: it was never announced). The end of an episode is not announced: what
follows is either silence or down alerts about real outages.

Locally the scheduler passes ``continues_episode`` (its previous minute was degraded) to
the minute's ``SweepGate``; on AWS ``adapters.tick_gate.TickGate`` reads the previous
tick's counters. Neither writes anything for a healthy probe.

Timing: checks of a sweep run concurrently and each asks the gate after its own
re-check (``recheck_delay_s``, default 10 s), by which time the other probes of the
sweep have mostly reported their first result; a check that finishes before the
failures pile up (no re-check, or a very early one) may still send its own down
alert at the start of an episode. That is the price of not delaying every alert until
the whole sweep is done.

Failures that say nothing about the monitor (``config``) are not counted.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from smtpwatch.core.alerting import (
    DEGRADED_MIN_COUNT,
    DEGRADED_SHARE,
    counts_as_failure,
    degraded,
    degraded_alert,
)
from smtpwatch.core.result import ErrorKind, ProbeResult
from smtpwatch.core.schedule import utc_now
from smtpwatch.core.state import Alert
from smtpwatch.ports import AlertSink

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["GateVerdict", "SweepGate", "episode_verdict"]

log = logging.getLogger("smtpwatch.gate")


@dataclass(frozen=True, slots=True)
class GateVerdict:
    hold: bool  # hold this new down alert
    announce: bool  # this tick begins an episode: it sends the one degraded alert


def episode_verdict(*, degraded_now: bool, degraded_before: bool) -> GateVerdict:
    """The episode rule for a new down alert of a tick: ``degraded_now`` — the tick is
    degraded (so far); ``degraded_before`` — the tick before it was."""
    if degraded_before:
        # The episode goes on; if this tick turns out clean it ends with it, but that is
        # known only when the tick is over.
        return GateVerdict(hold=True, announce=False)
    if degraded_now:
        return GateVerdict(hold=True, announce=True)
    return GateVerdict(hold=False, announce=False)


class SweepGate:
    """``AlertGate`` (``service.check``) for a sweep of ``total`` checks; thread-safe.

    ``continues_episode``: the sweep before this one was degraded (``episode_verdict``)."""

    def __init__(
        self,
        total: int,
        *,
        tick: str,
        sinks: Sequence[AlertSink] = (),
        share: float = DEGRADED_SHARE,
        min_count: int = DEGRADED_MIN_COUNT,
        now: Callable[[], datetime] = utc_now,
        continues_episode: bool = False,
    ) -> None:
        self.total = total
        self.continues_episode = continues_episode
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
            verdict = episode_verdict(
                degraded_now=self._degraded(), degraded_before=self.continues_episode
            )
            if not verdict.hold:
                return False
            self.held += 1
        if verdict.announce:
            self.finish()
        return True

    def finish(self) -> Alert | None:
        """Send the degraded alert if the sweep begins an episode and it was not sent
        yet (call at the end of a sweep, so that it goes out even if no check asked)."""
        with self._lock:
            if self._alert_sent or self.continues_episode or not self._degraded():
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
