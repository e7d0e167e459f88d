"""Monitor-degraded gate on AWS: per-tick counters and the episode in the state table.

The rules are the ones ``service.gate`` states for both backends; this module stores
them in DynamoDB.

**Counting distinct targets per tick.** The dispatcher ADDs how many probes it invoked
to the item ``#tick#<bucket>`` (bucket: the minute a ``scheduled_at`` rounds up to —
computable from the probe event alone). On AWS a target's interval is at least a
minute, so that is one probe per target and tick. Each probe whose first result is a
failure of the target ADDs one to ``failures`` of the same item, once per target and
tick however often its event is delivered (a marker item ``#fail#<tick>#<target>``
guards the ADD: two extra writes, for failing checks only; a healthy probe writes
nothing here).

**Holding.** Before a *new* down alert goes out — after the re-check delay, when most
probes of the tick have reported — the check reads the counters of its tick and of the
tick before and applies ``service.gate.episode_verdict``: a tick past ``share`` of its
targets (and at least ``min_count`` failing) is degraded; the tick that begins an
episode sends ONE ``degraded`` alert (exactly one caller wins a conditional flag on
the tick's item); while the episode lasts, and in the tick after its last degraded
one, down alerts are held. A held alert is recorded in the item ``#episode`` (the tick
that began it, and per target when its alert was first held). The counters alone decide
whether to hold, so the gate never holds for ever even if nothing ends the episode; a
target held longer than the maximum (15 minutes, plus a short grace for the
housekeeping below to do it first) is no longer held and its check announces it.

**Housekeeping** (``settle_episode``, run by the dispatcher once a tick, after it has
dispatched): it judges the tick before (its probes are over by then). An open episode
whose judged tick had probes and is not degraded is over: one dispatcher wins the
conditional end, announces it with the targets it held, and sends each held down
alert still true (``service.gate.end_episode``). While it lasts, each down alert held
15 minutes goes out, marked held (exactly one dispatcher wins each, conditionally).
A degraded tick in which no check asked the gate (every failing target was already
announced) begins its episode here, so the degraded alert still goes out once.

A check that finishes before the failures pile up (no re-check) may still send its own
down alert at the start of an episode: the price of not delaying every alert to the end
of the tick. Any store error opens the gate (alerts flow as usual) rather than
silencing them. If every sink refused the degraded alert, the next failing check of
the same tick tries again; a later tick of the episode does not (it is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
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
from smtpwatch.core.schedule import format_ts, parse_ts, utc_now
from smtpwatch.ports import AlertSink, StateStore
from smtpwatch.service.gate import (
    Episode,
    GateVerdict,
    HeldDown,
    end_episode,
    episode_verdict,
    hold_expired,
    release_held,
)

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["HOLD_GRACE", "TickGate", "previous_bucket", "settle_episode", "tick_bucket"]

log = logging.getLogger("smtpwatch.gate")

# The housekeeping runs once a tick and releases a held alert at the maximum hold; the
# gate itself lets it through only this much later, so that the housekeeping's alert
# (which says since when it was held) is the one sent whenever it runs.
HOLD_GRACE = timedelta(minutes=2)


def tick_bucket(scheduled_at: str) -> str:
    """The minute ``scheduled_at`` rounds up to: the key of a tick's counters."""
    moment = parse_ts(scheduled_at)
    floor = moment.replace(second=0, microsecond=0)
    return format_ts(floor if floor == moment else floor + timedelta(minutes=1))


def previous_bucket(bucket: str) -> str:
    """The tick before ``bucket`` (one minute earlier: the dispatcher's tick rate)."""
    return format_ts(parse_ts(bucket) - timedelta(minutes=1))


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
    """The once-a-tick housekeeping of the dispatcher at ``tick`` (see the module
    docstring): end an episode, release held alerts past the maximum hold, or begin an
    episode no check began. ``targets`` looks a target up by id (None: gone)."""
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
        for target_id, held_since in sorted(episode.held.items()):
            if target_id in episode.released or not hold_expired(held_since, now):
                continue
            target = targets(target_id)
            if target is None or not bookkeeping.release_in_episode(
                episode.since, target_id, format_ts(now)
            ):
                continue
            release_held(
                target,
                states=states,
                sinks=sinks,
                now=now,
                episode_since=episode.since,
                held_since=held_since,
            )
        return
    if judged_degraded and not counts.degraded_sent:
        began_after = episode is not None and (episode.ended_at or "") > judged
        if (
            not began_after
            and bookkeeping.open_episode(judged)
            and bookkeeping.claim_degraded_alert(judged)
        ):
            _send_degraded(bookkeeping, sinks, judged, counts, now, [])


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
