"""The local scheduler's monitor-degraded windows: checks grouped per minute of
``scheduled_at`` (like one dispatcher tick on AWS), one ``SweepGate`` each, and the
episode they share, with its once-a-tick housekeeping (held alerts, the episode's end).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import format_ts
from smtpwatch.ports import AlertSink, StateStore
from smtpwatch.service.gate import EpisodeBook, end_episode, release_all_held
from smtpwatch.service.sweep_gate import SweepGate

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["MinuteWindows", "Window"]


@dataclass
class Window:
    """The checks of one minute of ``scheduled_at``: one monitor-degraded gate.

    The gate's ``continues_episode``: the minute began while the monitor was degraded.
    Then every new down alert is held (targets already down skip the re-check and would
    decide before the minute's other failures are counted) and no second degraded alert
    is sent (``service.gate.episode_verdict``, the rule the AWS gate shares); the gate
    still counts, so the minute's end says whether the episode goes on.
    """

    gate: SweepGate
    outstanding: int = 0

    def observe(self, target: Target, result: ProbeResult, *, scheduled_at: str) -> None:
        self.gate.observe(target, result, scheduled_at=scheduled_at)

    def hold_down(self, target: Target, *, scheduled_at: str) -> bool:
        return self.gate.hold_down(target, scheduled_at=scheduled_at)


class MinuteWindows:
    """The open minutes and the monitor-degraded episode, if one is open. ``lock`` is the
    scheduler's: a window's count of checks changes together with its in-flight set."""

    def __init__(
        self,
        *,
        sinks: Sequence[AlertSink],
        states: StateStore,
        targets: Callable[[], Mapping[str, Target]],
        now: Callable[[], datetime],
        lock: threading.Lock,
    ) -> None:
        self._sinks = sinks
        self._states = states
        self._targets = targets  # the valid targets by id, as last loaded
        self._now = now
        self._lock = lock
        self._windows: dict[str, Window] = {}
        self._last_degraded = False
        self._episodes = EpisodeBook()

    def join(self, scheduled_at: str, target_id: str) -> Window:
        """The window of ``scheduled_at``, counting one more check of ``target_id``."""
        key = scheduled_at[:16]  # "YYYY-MM-DDTHH:MM": the minute, like a dispatcher tick
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                episode = self._last_degraded or any(
                    w.gate.is_degraded for w in self._windows.values()
                )
                gate = SweepGate(
                    0,
                    tick=key + ":00Z",
                    sinks=self._sinks,
                    now=self._now,
                    continues_episode=episode,
                    book=self._episodes,
                )
                window = self._windows[key] = Window(gate)
            window.gate.expect(target_id)  # a target counts once per minute
            window.outstanding += 1
            return window

    def check_finished(self, scheduled_at: str) -> None:
        """One check of the window of ``scheduled_at`` is over. Call with the lock held."""
        window = self._windows.get(scheduled_at[:16])
        if window is not None:
            window.outstanding -= 1

    def close(self, now: datetime) -> None:
        """Finish each minute whose checks are all done: send its degraded alert if it
        was degraded and no check asked already; track whether the episode goes on."""
        current = format_ts(now)[:16]
        with self._lock:
            done = [(k, w) for k, w in self._windows.items() if k < current and w.outstanding == 0]
            for key, _ in done:
                del self._windows[key]
        for _, window in sorted(done, key=lambda kw: kw[0]):
            gate = window.gate
            gate.finish()
            self._last_degraded = gate.is_degraded
            if not self._last_degraded and gate.total > 0:
                ended = self._episodes.end(gate.tick)
                if ended is not None:
                    end_episode(
                        ended,
                        targets=self._targets(),
                        states=self._states,
                        sinks=self._sinks,
                        now=self._now(),
                    )

    def release_held(self, now: datetime) -> None:
        """Send the down alerts an open episode has held for the maximum (15 minutes)."""
        episode = self._episodes.episode
        due = self._episodes.due(now)
        if episode is None or not due:
            return
        known = self._targets()
        # a target removed meanwhile has nothing to announce
        held = ((known[tid], h.since) for tid, h in due if tid in known)
        release_all_held(held, self._states, self._sinks, now=now, episode_since=episode.since)
