"""Publishing alerts: send one to every sink, and save a published alert as sent.

``deliver`` is shared by checks and the monitor-degraded gate; ``flush_pending`` also
serves the dispatcher's sweep of stale pending alerts; ``save_with`` is the
conditional write, retried after a conflict, that every state change goes through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from smtpwatch.core.alerting import mark_sent
from smtpwatch.core.schedule import utc_now
from smtpwatch.core.state import Alert, TargetState
from smtpwatch.ports import AlertSink, StateStore

__all__ = ["SAVE_ATTEMPTS", "Flush", "deliver", "flush_pending", "save_with"]

log = logging.getLogger("smtpwatch.check")

SAVE_ATTEMPTS = 5  # conditional writes retried after a conflict (racing invocations)


@dataclass(frozen=True, slots=True)
class Flush:
    state: TargetState
    alert: Alert | None = None  # the pending alert found (None: there was none)
    delivered: bool = False
    state_writes: int = 0


def flush_pending(
    state: TargetState,
    sinks: Sequence[AlertSink],
    states: StateStore,
    *,
    now: datetime | None = None,
    attempts: int = SAVE_ATTEMPTS,
) -> Flush:
    """Publish ``state.pending_alert`` (left by a run that crashed or whose sinks failed)
    and save it as sent. Also for the dispatcher's sweep of stale pending alerts."""
    if not state.pending_alert:
        return Flush(state)
    try:
        alert = Alert.from_dict(state.pending_alert)
    except (KeyError, ValueError, TypeError):
        log.error("unreadable pending alert dropped", extra={"target_id": state.target_id})
        alert = None
    if alert is None:
        cleared, n = save_with(states, state, lambda s: s.evolve(pending_alert=None), attempts)
        return Flush(cleared, None, False, n)
    if not deliver(alert, sinks):
        return Flush(state, alert, False, 0)
    when = now or utc_now()
    sent, n = save_with(
        states, state, lambda s: mark_sent(s, alert.alert_id, sent_at=when), attempts
    )
    return Flush(sent, alert, True, n)


def deliver(alert: Alert, sinks: Sequence[AlertSink]) -> bool:
    """Send to every sink; True when all accepted it. A failed sink keeps the alert
    pending, so the next run sends it again to all of them (at-least-once)."""
    ok = True
    for sink in sinks:
        try:
            sink.send(alert)
        except Exception as exc:  # any sink trouble: keep the alert pending
            ok = False
            log.warning(
                "alert delivery failed: %s",
                type(exc).__name__,
                extra={"alert_id": alert.alert_id, "sink": type(sink).__name__},
            )
    return ok


def save_with(
    states: StateStore,
    state: TargetState,
    change: Callable[[TargetState], TargetState | None],
    attempts: int,
) -> tuple[TargetState, int]:
    """Apply ``change`` and save conditionally; on a conflict re-read and apply again.
    ``change`` returning None means there is nothing (left) to do. Returns the state
    now stored (or loaded) and the number of writes (0 or 1)."""
    current = state
    for _ in range(max(1, attempts)):
        changed = change(current)
        if changed is None:
            return current, 0
        new = changed.evolve(version=current.version + 1)
        if states.save_state(new):
            return new, 1
        current = states.get_state(state.target_id) or TargetState(state.target_id)
    return current, 0
