"""The monitor-degraded gate of one local window (``smtpwatch run``, ``run --once``):
``SweepGate`` counts the distinct targets checked and failed in the window and holds
new down alerts while the monitor is degraded (``service.gate`` has the episode rule).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from smtpwatch.core.alerting import (
    DEGRADED_MIN_COUNT,
    DEGRADED_SHARE,
    counts_as_failure,
    degraded,
    degraded_alert,
)
from smtpwatch.core.kinds import ErrorKind
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import utc_now
from smtpwatch.core.state import Alert
from smtpwatch.ports import AlertSink
from smtpwatch.service.gate import EpisodeBook, episode_verdict
from smtpwatch.service.publish import deliver

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["SweepGate"]


class SweepGate:
    """``AlertGate`` (``service.check``) for one window; thread-safe.

    Counts distinct targets: those announced with ``expect`` (dispatched into the
    window) and those observed. ``continues_episode``: the window before this one was
    degraded (``episode_verdict``). ``book``: the episode the held alerts are recorded
    in (the scheduler's; a sweep of its own if None)."""

    def __init__(
        self,
        total: int = 0,
        *,
        tick: str,
        sinks: Sequence[AlertSink] = (),
        share: float = DEGRADED_SHARE,
        min_count: int = DEGRADED_MIN_COUNT,
        now: Callable[[], datetime] = utc_now,
        continues_episode: bool = False,
        book: EpisodeBook | None = None,
    ) -> None:
        self._total_hint = total  # targets expected when their ids are not given
        self.continues_episode = continues_episode
        self.tick = tick
        self._sinks = tuple(sinks)
        self._share = share
        self._min_count = min_count
        self._now = now
        self._book = book if book is not None else EpisodeBook()
        self._lock = threading.Lock()
        self._targets: set[str] = set()
        self._failing: set[str] = set()
        self._kinds: Counter[str] = Counter()
        self._alert_sent = False
        self.alert: Alert | None = None  # the degraded alert, once sent
        self.held = 0  # down alerts held

    @property
    def total(self) -> int:
        """Distinct targets of the window."""
        with self._lock:
            return self._total()

    @property
    def failed(self) -> int:
        """Distinct targets of the window that failed."""
        with self._lock:
            return len(self._failing)

    @property
    def is_degraded(self) -> bool:
        with self._lock:
            return self._degraded()

    def expect(self, target_id: str) -> None:
        """``target_id`` is checked in this window (counted once however often)."""
        with self._lock:
            self._targets.add(target_id)

    def observe(self, target: Target, result: ProbeResult, *, scheduled_at: str) -> None:
        with self._lock:
            self._targets.add(target.target_id)
            if not counts_as_failure(result):
                return
            if result.error is not None and result.error.kind is ErrorKind.CONFIG:
                return
            if target.target_id in self._failing:
                return  # a target counts once per window, however often it failed
            self._failing.add(target.target_id)
            self._kinds[result.error.kind.value if result.error else "unknown"] += 1

    def hold_down(self, target: Target, *, scheduled_at: str) -> bool:
        with self._lock:
            verdict = episode_verdict(
                degraded_now=self._degraded(), degraded_before=self.continues_episode
            )
            if not verdict.hold:
                return False
            if not self._book.hold(target.target_id, self._now(), since=self.tick):
                return False  # held the maximum already: its alert goes out now
            self.held += 1
        if verdict.announce:
            self.finish()
        return True

    def finish(self) -> Alert | None:
        """Send the degraded alert if the window begins an episode and it was not sent
        yet (call when the window is over, so that it goes out even if no check asked)."""
        with self._lock:
            if self._alert_sent or self.continues_episode or not self._degraded():
                return self.alert
            opened = self._book.begin(self.tick)
            episode = self._book.episode
            if not opened and (episode is None or episode.since != self.tick):
                return self.alert  # an episode is already open: one alert per episode
            self._alert_sent = True  # claim it; released again if every sink failed
            alert = degraded_alert(
                tick=self.tick,
                failed=len(self._failing),
                total=self._total(),
                now=self._now(),
                sample=sorted(self._failing)[:10],
                kinds=dict(self._kinds),
            )
        if deliver(alert, self._sinks):
            self.alert = alert
        else:
            with self._lock:
                self._alert_sent = False
        return self.alert

    def _total(self) -> int:
        return max(self._total_hint, len(self._targets))

    def _degraded(self) -> bool:
        return degraded(
            len(self._failing), self._total(), share=self._share, min_count=self._min_count
        )
