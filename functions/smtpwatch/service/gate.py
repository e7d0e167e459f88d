"""Monitor-degraded gate: the rules both backends share, and the gate of one local
window (``smtpwatch run``, ``run --once``).

**Counting.** A window is one minute of slots (a dispatcher tick on AWS). It counts
*distinct targets*: how many were checked in it and how many of those failed — never
checks, so a target checked every 10 s counts once per minute, and a target that failed
twice counts once. A target that failed and then passed in the same window counts as
failing: the gate looks for a fault of the monitor's own network, and a failure that
cleared a few seconds later is exactly what a flapping link looks like. ``config``
failures (a missing password) say nothing about the network and are not counted. A
window is *degraded* when more than ``share`` of its targets failed and at least
``min_count`` of them did (``core.alerting.degraded``: 50 % and 5 targets by default).

**Episodes** (``episode_verdict``). An episode begins with a degraded window and ends
with the first window that has checks and is over without being degraded. The window
that begins it sends ONE ``degraded`` alert; while it lasts every new down alert is held
(the target is down, unannounced) and no second degraded alert is sent. A window's
verdict is known only when it is over, so the window after a degraded one holds too.

**Held down alerts** go out, marked held (since when, and since when the episode ran),
at the episode's end or once they have been held ``DEGRADED_MAX_HOLD_S`` (15 minutes),
whichever comes first, if they are still true: the target is still down and was never
announced (a target that recovered meanwhile sends nothing). They are sent by the
backend's once-a-tick housekeeping (``release_held``, ``end_episode``), not by the
target's next check, so a target checked once an hour is not held for an hour. If
the housekeeping does not run, the gate itself stops holding a target after the
maximum hold and its next check announces it. **The end of an episode** is announced
with the list of the targets it held (the start alert cannot know them yet), just
before their held down alerts.

Locally the scheduler keeps the episode in memory (``EpisodeBook``): after a restart
the held targets are simply down and unannounced, and their next check announces them.
On AWS ``adapters.tick_gate`` keeps the counters and the episode in the state table.

Timing: checks of a window run concurrently and each asks the gate after its own
re-check (``recheck_delay_s``, default 10 s), by which time the window's other probes
have mostly reported; a check that finishes before the failures pile up (no re-check)
may still send its own down alert at the start of an episode. That is the price of
not delaying every alert until the whole window is done.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from smtpwatch.core.alerting import (
    DEGRADED_MAX_HOLD_S,
    DEGRADED_MIN_COUNT,
    DEGRADED_SHARE,
    counts_as_failure,
    degraded,
    degraded_alert,
    degraded_end_alert,
    held_down_alert,
)
from smtpwatch.core.result import ErrorKind, ProbeResult
from smtpwatch.core.schedule import format_ts, parse_ts, utc_now
from smtpwatch.core.state import Alert, TargetStatus
from smtpwatch.ports import AlertSink, StateStore

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = [
    "Episode",
    "EpisodeBook",
    "GateVerdict",
    "HeldDown",
    "SweepGate",
    "end_episode",
    "episode_verdict",
    "hold_expired",
    "release_held",
]

log = logging.getLogger("smtpwatch.gate")

MAX_HOLD = timedelta(seconds=DEGRADED_MAX_HOLD_S)


@dataclass(frozen=True, slots=True)
class GateVerdict:
    hold: bool  # hold this new down alert
    announce: bool  # this window begins an episode: it sends the one degraded alert


def episode_verdict(*, degraded_now: bool, degraded_before: bool) -> GateVerdict:
    """The episode rule for a new down alert of a window: ``degraded_now`` — the window
    is degraded (so far); ``degraded_before`` — the window before it was."""
    if degraded_before:
        # The episode goes on; if this window turns out clean it ends with it, but that
        # is known only when the window is over.
        return GateVerdict(hold=True, announce=False)
    if degraded_now:
        return GateVerdict(hold=True, announce=True)
    return GateVerdict(hold=False, announce=False)


def hold_expired(held_since: str, now: datetime) -> bool:
    """A down alert held since ``held_since`` has been held the maximum (15 minutes)."""
    try:
        return now - parse_ts(held_since) >= MAX_HOLD
    except ValueError:
        return True  # unreadable: let it go rather than hold it for ever


@dataclass(slots=True)
class HeldDown:
    since: str  # when the target's down alert was first held
    released: bool = False  # the maximum hold passed: handed to ``release_held``


@dataclass(slots=True)
class Episode:
    since: str  # the window that began it
    held: dict[str, HeldDown] = field(default_factory=dict)

    def due(self, now: datetime) -> list[tuple[str, HeldDown]]:
        """Held down alerts past the maximum hold, not released yet."""
        return [
            (tid, h)
            for tid, h in self.held.items()
            if not h.released and hold_expired(h.since, now)
        ]


class EpisodeBook:
    """The local scheduler's current episode and the targets it holds (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.episode: Episode | None = None

    def begin(self, since: str) -> bool:
        """Open an episode beginning with the window ``since``; False if one is open."""
        with self._lock:
            if self.episode is not None:
                return False
            self.episode = Episode(since)
            return True

    def hold(self, target_id: str, now: datetime, *, since: str) -> bool:
        """Record ``target_id``'s held down alert (opening an episode with the window
        ``since`` if none is open); False once its hold has reached the maximum or it
        was released: then it is not held again."""
        with self._lock:
            if self.episode is None:
                self.episode = Episode(since)
            held = self.episode.held.setdefault(target_id, HeldDown(format_ts(now)))
            return not held.released and not hold_expired(held.since, now)

    def due(self, now: datetime) -> list[tuple[str, HeldDown]]:
        """Held down alerts whose maximum hold has passed; marked released."""
        with self._lock:
            if self.episode is None:
                return []
            due = self.episode.due(now)
            for _, held in due:
                held.released = True
            return due

    def end(self, window: str) -> Episode | None:
        """The window ``window`` is over and not degraded: close the episode (if it began
        before that window) and return it."""
        with self._lock:
            episode = self.episode
            if episode is None or window <= episode.since:
                return None
            self.episode = None
            return episode


def release_held(
    target: Target,
    *,
    states: StateStore,
    sinks: Sequence[AlertSink],
    now: datetime,
    episode_since: str,
    held_since: str,
) -> Alert | None:
    """Send ``target``'s held down alert if it is still true: the target is down, was
    never announced and has no alert pending. Recorded as pending first, then published
    and marked sent (``service.check.flush_pending``), so a check of the same target
    racing with this either sees the pending alert or wins the write and decides
    itself. Returns the alert when every sink accepted it."""
    from smtpwatch.service.publish import flush_pending

    state = states.get_state(target.target_id)
    if (
        state is None
        or state.status is not TargetStatus.DOWN
        or state.alerted
        or state.pending_alert
    ):
        return None
    alert = held_down_alert(
        target, state, now=now, episode_since=episode_since, held_since=held_since
    )
    pending = state.evolve(pending_alert=alert.to_dict(), version=state.version + 1)
    if not states.save_state(pending):
        return None  # a check of this target wrote first: it decides what to tell
    flushed = flush_pending(pending, sinks, states, now=now)
    return alert if flushed.delivered else None


def end_episode(
    episode: Episode,
    *,
    targets: Mapping[str, Target],
    states: StateStore,
    sinks: Sequence[AlertSink],
    now: datetime,
) -> Alert:
    """An episode is over: announce its end with the targets it held, then send each
    held down alert that is still true (``release_held``)."""
    from smtpwatch.service.publish import deliver

    listed: list[dict[str, object]] = []
    follow: list[tuple[Target, HeldDown]] = []
    for target_id, held in sorted(episode.held.items(), key=lambda kv: (kv[1].since, kv[0])):
        state = states.get_state(target_id)
        target = targets.get(target_id)
        down = state is not None and state.status is TargetStatus.DOWN
        announced = state is not None and (state.alerted or bool(state.pending_alert))
        still_down = down and not announced and target is not None
        listed.append(
            {
                "target_id": target_id,
                "name": (target.name or target.host) if target is not None else target_id,
                "held_since": held.since,
                "still_down": still_down,
                "announced": down and announced,
            }
        )
        if still_down and target is not None:
            follow.append((target, held))
    alert = degraded_end_alert(since=episode.since, now=now, held=listed)
    if not deliver(alert, sinks):
        log.warning("end of the monitor-degraded episode not delivered to every sink")
    for target, held in follow:
        release_held(
            target,
            states=states,
            sinks=sinks,
            now=now,
            episode_since=episode.since,
            held_since=held.since,
        )
    return alert


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
        from smtpwatch.service.publish import deliver

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
