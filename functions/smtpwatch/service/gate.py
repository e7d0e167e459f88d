"""The monitor-degraded gate's rules, shared by both backends: the tick a check counts
in, the episode rule, a local episode's memory (``EpisodeBook``), and the housekeeping
that sends held down alerts (``release_held``) and announces an episode's end.

docs/design.md#monitor-degraded has the rules. ``service.sweep_gate`` is the local
window's gate; ``adapters.tick_gate`` keeps AWS's counters and episode in the state table.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from smtpwatch.core.alerting import DEGRADED_MAX_HOLD_S, degraded_end_alert, held_down_alert
from smtpwatch.core.schedule import format_ts, parse_ts
from smtpwatch.core.state import Alert, TargetStatus
from smtpwatch.ports import AlertSink, StateStore
from smtpwatch.service.publish import deliver, flush_pending

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = [
    "HOLD_GRACE",
    "MAX_HOLD",
    "Episode",
    "EpisodeBook",
    "GateVerdict",
    "HeldDown",
    "end_episode",
    "episode_verdict",
    "hold_expired",
    "previous_bucket",
    "release_all_held",
    "release_held",
    "tick_bucket",
]

log = logging.getLogger("smtpwatch.gate")

MAX_HOLD = timedelta(seconds=DEGRADED_MAX_HOLD_S)
# Past the maximum hold, the backends' once-a-tick housekeeping sends a held down alert
# (saying since when it was held); a gate or a check lets it through itself only this
# much later, when no housekeeping did, so the housekeeping's alert is the one sent.
HOLD_GRACE = timedelta(minutes=2)


def tick_bucket(scheduled_at: str) -> str:
    """The minute ``scheduled_at`` rounds up to: the key of a tick's counters."""
    moment = parse_ts(scheduled_at)
    floor = moment.replace(second=0, microsecond=0)
    return format_ts(floor if floor == moment else floor + timedelta(minutes=1))


def previous_bucket(bucket: str) -> str:
    """The tick before ``bucket`` (one minute earlier: the dispatcher's tick rate)."""
    return format_ts(parse_ts(bucket) - timedelta(minutes=1))


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


def release_all_held(
    held: Iterable[tuple[Target, str]],
    states: StateStore,
    sinks: Sequence[AlertSink],
    *,
    now: datetime,
    episode_since: str,
) -> None:
    """``release_held`` for each ``(target, held since)`` in order (``held`` may be lazy:
    each is taken after the one before was sent)."""
    for target, held_since in held:
        release_held(
            target,
            states=states,
            sinks=sinks,
            now=now,
            episode_since=episode_since,
            held_since=held_since,
        )


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
    release_all_held(
        ((t, h.since) for t, h in follow), states, sinks, now=now, episode_since=episode.since
    )
    return alert


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
    and marked sent (``flush_pending``), so a check of the same target racing with this
    either sees the pending alert or wins the write and decides itself. Returns the
    alert when every sink accepted it."""
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
