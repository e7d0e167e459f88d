"""Monitor-degraded gate on AWS: per-tick counters and the episode in the state table.

``TickGate`` is a check's ``AlertGate``: a failing first result counts once per target
and tick, and a new down alert is held by the rules of ``service.gate``.
``settle_episode`` is the dispatcher's once-a-tick housekeeping: it ends an episode,
sends held alerts past the maximum hold, or begins an episode no check began.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from smtpwatch.adapters.dynamodb import DynamoBookkeeping, EpisodeRecord, TickCounts
from smtpwatch.core.alerting import (
    DEGRADED_MIN_COUNT,
    DEGRADED_SHARE,
    counts_as_failure,
    degraded,
    degraded_alert,
)
from smtpwatch.core.result import ErrorKind, ProbeResult
from smtpwatch.core.schedule import format_ts, utc_now
from smtpwatch.ports import AlertSink, StateStore
from smtpwatch.service.gate import (
    HOLD_GRACE,
    Episode,
    GateVerdict,
    HeldDown,
    end_episode,
    episode_verdict,
    hold_expired,
    previous_bucket,
    release_all_held,
    tick_bucket,
)

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["TickGate", "settle_episode"]

log = logging.getLogger("smtpwatch.gate")


class TickGate:
    """``service.check.AlertGate`` backed by the state table's tick counters."""

    def __init__(
        self,
        states: DynamoBookkeeping,
        sinks: Sequence[AlertSink],
        *,
        share: float = DEGRADED_SHARE,
        min_count: int = DEGRADED_MIN_COUNT,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._states = states
        self._sinks = sinks
        self._share = share
        self._min_count = min_count
        self._now = now

    def observe(self, target: Target, result: ProbeResult, *, scheduled_at: str) -> None:
        if not counts_as_failure(result):
            return
        if result.error is not None and result.error.kind is ErrorKind.CONFIG:
            return  # says nothing about the monitor's network
        self._states.count_tick_failure(tick_bucket(scheduled_at), target.target_id)

    def hold_down(self, target: Target, *, scheduled_at: str) -> bool:
        bucket = tick_bucket(scheduled_at)
        counts = self._states.get_tick_counts(bucket)
        before = self._states.get_tick_counts(previous_bucket(bucket))
        verdict = episode_verdict(
            degraded_now=_degraded(counts, self._share, self._min_count),
            degraded_before=_degraded(before, self._share, self._min_count),
        )
        if not verdict.hold:
            return False
        if not self._still_held(target.target_id, bucket, verdict):
            return False
        if not verdict.announce:
            return True
        if not counts.degraded_sent and self._states.claim_degraded_alert(bucket):
            _send_degraded(self._states, self._sinks, bucket, counts, self._now(), [target])
        return True

    def _still_held(self, target_id: str, bucket: str, verdict: GateVerdict) -> bool:
        """Record the hold in the episode; False when this target has been held the
        maximum, was released, or its episode was already ended by the housekeeping."""
        episode = self._states.get_episode()
        if verdict.announce:
            stale = episode is not None and episode.since < previous_bucket(bucket)
            if episode is None or not episode.open or stale:
                self._states.open_episode(bucket)
                episode = self._states.get_episode()
        elif episode is None or (not episode.open and (episode.ended_at or "") <= bucket):
            # No record of the episode the counters say goes on (its start was never
            # recorded, or an earlier one ended before this tick): record it now.
            self._states.open_episode(previous_bucket(bucket))
            episode = self._states.get_episode()
        if episode is None:
            return True  # the counters decide
        if not episode.open:
            return False  # ended at a later tick: its held alerts are going out
        now = self._now()
        since = self._states.hold_in_episode(episode.since, target_id, format_ts(now))
        if target_id in episode.released:
            return False
        return since is None or not hold_expired(since, now - HOLD_GRACE)


def settle_episode(
    bookkeeping: DynamoBookkeeping,
    states: StateStore,
    sinks: Sequence[AlertSink],
    *,
    targets: Callable[[str], Target | None],
    tick: datetime,
    now: datetime,
    share: float = DEGRADED_SHARE,
    min_count: int = DEGRADED_MIN_COUNT,
) -> None:
    """The once-a-tick housekeeping of the dispatcher at ``tick``: it judges the tick
    before (its probes are over by then) and ends an episode, releases held alerts past
    the maximum hold, or begins an episode no check began. ``targets`` looks a target
    up by id (None: gone)."""
    current = tick_bucket(format_ts(tick))
    judged = previous_bucket(current)
    counts = bookkeeping.get_tick_counts(judged)
    judged_degraded = _degraded(counts, share, min_count)
    episode = bookkeeping.get_episode()
    if episode is not None and episode.open:
        if judged > episode.since and counts.dispatched > 0 and not judged_degraded:
            if bookkeeping.end_episode(episode.since, current):
                known = {tid: t for tid in episode.held if (t := targets(tid)) is not None}
                end_episode(
                    _as_episode(episode), targets=known, states=states, sinks=sinks, now=now
                )
            return
        due = _claim_due(bookkeeping, episode, targets, now)
        release_all_held(due, states, sinks, now=now, episode_since=episode.since)
        return
    if judged_degraded and not counts.degraded_sent:
        began_after = episode is not None and (episode.ended_at or "") > judged
        if (
            not began_after
            and bookkeeping.open_episode(judged)
            and bookkeeping.claim_degraded_alert(judged)
        ):
            _send_degraded(bookkeeping, sinks, judged, counts, now, [])


def _claim_due(
    bookkeeping: DynamoBookkeeping,
    episode: EpisodeRecord,
    targets: Callable[[str], Target | None],
    now: datetime,
) -> Iterator[tuple[Target, str]]:
    """The held alerts past the maximum hold whose release this dispatcher wins, each
    claimed (conditionally) only after the one before was sent."""
    for target_id, held_since in sorted(episode.held.items()):
        if target_id in episode.released or not hold_expired(held_since, now):
            continue
        target = targets(target_id)
        if target is None or not bookkeeping.release_in_episode(
            episode.since, target_id, format_ts(now)
        ):
            continue
        yield target, held_since


def _as_episode(record: EpisodeRecord) -> Episode:
    return Episode(
        record.since,
        {
            tid: HeldDown(since, released=tid in record.released)
            for tid, since in record.held.items()
        },
    )


def _send_degraded(
    states: DynamoBookkeeping,
    sinks: Sequence[AlertSink],
    bucket: str,
    counts: TickCounts,
    now: datetime,
    sample: Sequence[Target],
) -> None:
    alert = degraded_alert(
        tick=bucket,
        failed=counts.failures,
        total=counts.dispatched,
        now=now,
        sample=[t.target_id for t in sample],
    )
    try:
        for sink in sinks:
            sink.send(alert)
    except Exception:
        # Let the next failing check of this tick try again.
        states.release_degraded_alert(bucket)
        log.exception("degraded alert not delivered")


def _degraded(counts: TickCounts, share: float, min_count: int) -> bool:
    return degraded(counts.failures, counts.dispatched, share=share, min_count=min_count)
