"""Monitor-degraded gate on AWS (DESIGN §4): per-tick counters in the state table.

The dispatcher ADDs how many probes it invoked to the item ``#tick#<bucket>`` (bucket:
the minute a ``scheduled_at`` rounds up to — computable from the probe event alone).
Each probe whose first result is a failure of the target ADDs one to ``failures`` of the
same item, once per target and tick however often its event is delivered (a marker item
guards the ADD: two extra writes, for failing checks only; a healthy probe writes
nothing here). Before a *new* down alert goes out — after the re-check delay, when most
probes of the tick have reported — the check reads the counters of its tick and of the
tick before, and applies the episode rule both backends share (``service.gate``): a tick
past ``share`` of its dispatched probes (and at least ``min_count`` failures) is
degraded; the tick that begins an episode sends ONE ``degraded`` alert (exactly one
caller wins a conditional flag on the tick's item); while the episode lasts, and in the
tick after its last degraded one, down alerts are held (the target stays down,
unannounced, and its first check after the episode announces it if still down).

No episode item is needed: "the tick before was degraded" is read from that tick's own
counters (kept an hour). A check that finishes before the failures pile up (no
re-check) may still send its own down alert at the start of an episode: the price of
not delaying every alert to the end of the tick. Any store error opens the gate (alerts
flow as usual) rather than silencing them. If every sink refused the degraded alert,
the next failing check of the same tick tries again; a later tick of the episode does
not (it is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from smtpwatch.adapters.dynamodb import DynamoStateStore, TickCounts
from smtpwatch.core.alerting import (
    DEGRADED_MIN_COUNT,
    DEGRADED_SHARE,
    counts_as_failure,
    degraded,
    degraded_alert,
)
from smtpwatch.core.result import ErrorKind, ProbeResult
from smtpwatch.core.schedule import format_ts, parse_ts, utc_now
from smtpwatch.ports import AlertSink
from smtpwatch.service.gate import episode_verdict

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["TickGate", "previous_bucket", "tick_bucket"]

log = logging.getLogger("smtpwatch.gate")


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
        states: DynamoStateStore,
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
            degraded_now=self._degraded(counts), degraded_before=self._degraded(before)
        )
        if not verdict.hold:
            return False
        if not verdict.announce:
            return True
        if not counts.degraded_sent and self._states.claim_degraded_alert(bucket):
            alert = degraded_alert(
                tick=bucket,
                failed=counts.failures,
                total=counts.dispatched,
                now=self._now(),
                sample=[target.target_id],
            )
            try:
                for sink in self._sinks:
                    sink.send(alert)
            except Exception:
                # Let the next failing check of this tick try again.
                self._states.release_degraded_alert(bucket)
                log.exception("degraded alert not delivered")
        return True

    def _degraded(self, counts: TickCounts) -> bool:
        return degraded(
            counts.failures, counts.dispatched, share=self._share, min_count=self._min_count
        )
