"""The alert state machine: what a check's result does to a target's state, and which
alert (if any) it announces. Pure: no I/O, no clock; every input is an argument.

``decide`` follows the results to a confirmed status (up, warning, down) and reconciles
what operators were told with it; ``mark_sent`` records what a published alert told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smtpwatch.core.alerting.build import alert_id_for, stored_result, target_summary, threshold
from smtpwatch.core.alerting.timing import reminder_due, seconds_between
from smtpwatch.core.kinds import ErrorKind, Status
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["Decision", "counts_as_failure", "decide", "mark_sent", "needs_recheck"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The next state, the alert to deliver (already in ``state.pending_alert``), whether
    the state item must be written, and why (for logs and tests)."""

    state: TargetState
    alert: Alert | None
    write: bool
    reason: str


def counts_as_failure(result: ProbeResult) -> bool:
    """A failure of the *target*: ``critical``. ``unknown`` is the monitor's own crash."""
    return result.status is Status.CRITICAL


def needs_recheck(target: Target, state: TargetState, result: ProbeResult) -> bool:
    """True when ``result`` is the failure that would make the target ``down`` and the
    target asks for a re-check (``recheck_delay_s`` > 0). A ``config`` failure is not
    re-checked: it cannot pass a moment later."""
    if not counts_as_failure(result) or target.recheck_delay_s <= 0:
        return False
    if result.error is not None and result.error.kind is ErrorKind.CONFIG:
        return False
    if state.status is TargetStatus.DOWN:
        return False
    return state.consecutive_failures + 1 >= threshold(target)


def decide(
    target: Target,
    state: TargetState,
    result: ProbeResult,
    *,
    now: datetime,
    scheduled_at: str,
    in_maintenance: bool = False,
    hold_down: bool = False,
) -> Decision:
    """The state after ``result`` (the re-check's result if one ran) and the alert, if any.

    Total: every (state, result) pair gives a decision. ``now`` is the decision time
    (alert ``created_at``, reminder due-ness); ``scheduled_at`` identifies the run (alert
    ids, ``last_scheduled_at``).
    """
    checked_at = result.started_at or format_ts(now)
    seen = {
        "last_result": stored_result(result),
        "last_checked_at": checked_at,
        "last_scheduled_at": scheduled_at,
    }
    if result.status is Status.UNKNOWN:
        return Decision(state.evolve(**seen), None, False, "probe crashed: not a target failure")

    if counts_as_failure(result):
        # Frozen once down: a steady outage then costs no state write per check (the
        # results say how long it lasts).
        frozen = state.status is TargetStatus.DOWN
        failures = state.consecutive_failures + (0 if frozen else 1)
        failing_since = state.failing_since or checked_at
        if state.status is TargetStatus.DOWN or failures >= threshold(target):
            status = TargetStatus.DOWN
        elif state.status is TargetStatus.WARNING:
            status = TargetStatus.WARNING
        else:
            # Not confirmed yet: a new target with unconfirmed failures reads as up
            # (status shows the failure count and the last result).
            status = TargetStatus.UP
    else:
        failures = 0
        failing_since = None
        status = TargetStatus.WARNING if result.status is Status.WARNING else TargetStatus.UP

    last_change_at = state.last_change_at
    if status is not state.status:
        # A down episode began with its first failure, not when it was confirmed.
        last_change_at = failing_since if status is TargetStatus.DOWN else checked_at

    new = state.evolve(
        status=status,
        consecutive_failures=failures,
        failing_since=failing_since,
        last_change_at=last_change_at,
        **seen,
    )
    if in_maintenance:
        alert, reason = None, "maintenance: alerts held"
    else:
        new, alert, reason = _announce(target, state, new, result, now, scheduled_at, hold_down)
    return Decision(new, alert, _significant(new) != _significant(state), reason)


def mark_sent(state: TargetState, alert_id: str, *, sent_at: datetime) -> TargetState | None:
    """The state after the pending alert ``alert_id`` was published; None when it is no
    longer the pending one (another run already sent or replaced it)."""
    pending = state.pending_alert
    if not pending or pending.get("alert_id") != alert_id:
        return None
    told, kinds = _belief(state.alerted, state.warning_kinds)
    if pending.get("event") not in (AlertEvent.DEGRADED.value, AlertEvent.TEST.value):
        told, kinds = _effect(pending)
    return state.evolve(
        pending_alert=None,
        last_alert_at=format_ts(sent_at),
        last_alert_event=str(pending.get("event") or ""),
        # What operators now believe: the announcements decide() reconciles.
        alerted=told != "none",
        warning_kinds=kinds,
    )


# ---- internals -----------------------------------------------------------------------


Belief = tuple[str, tuple[str, ...]]  # ("none"|"down"|"warning", warning kinds)


def _belief(alerted: bool, warning_kinds: tuple[str, ...]) -> Belief:
    if not alerted:
        return ("none", ())
    return ("warning", tuple(warning_kinds)) if warning_kinds else ("down", ())


def _effect(alert: Mapping[str, Any]) -> Belief:
    """What operators believe once ``alert`` (an ``Alert.to_dict()``) has reached them."""
    event = alert.get("event")
    kinds = tuple(sorted(str(k) for k in (alert.get("details") or {}).get("warnings") or ()))
    if event in (AlertEvent.DOWN.value, AlertEvent.REMINDER.value):
        return ("down", ())
    if event == AlertEvent.WARNING.value or (
        event == AlertEvent.RECOVERED.value and alert.get("status") == "warning"
    ):
        return ("warning", kinds or ("warning",))
    return ("none", ())


def _announce(
    target: Target,
    old: TargetState,
    new: TargetState,
    result: ProbeResult,
    now: datetime,
    scheduled_at: str,
    hold_down: bool,
) -> tuple[TargetState, Alert | None, str]:
    """Reconcile what operators were told (``alerted``/``warning_kinds``: updated by
    ``mark_sent`` only) with the confirmed status (docs/design.md#alert-state-machine)."""
    if counts_as_failure(result) and new.status is not TargetStatus.DOWN:
        # Failing but not confirmed yet: nothing to announce either way.
        return new, None, f"failure {new.consecutive_failures} of {threshold(target)}"

    told = _belief(new.alerted, new.warning_kinds)
    if new.status is TargetStatus.DOWN:
        truth: Belief = ("down", ())
    elif new.status is TargetStatus.WARNING:
        truth = ("warning", _warning_kinds(result))
    else:
        truth = ("none", ())

    if new.pending_alert:
        if _effect(new.pending_alert) == truth:
            return new, None, "pending alert still tells the truth"
        # The unsent alert is out of date: drop it and tell what is true now (or
        # nothing, if operators never heard of the problem — recovery is only
        # announced after a sent alert).
        new = new.evolve(pending_alert=None)

    def make(event: AlertEvent, since: str | None, **details: Any) -> Alert:
        return Alert(
            alert_id=alert_id_for(target.target_id, event, scheduled_at),
            event=event,
            target_id=target.target_id,
            status=new.status.value,
            created_at=format_ts(now),
            target=target_summary(target),
            result=stored_result(result),
            since=since,
            details=details,
        )

    def record(alert: Alert) -> tuple[TargetState, Alert, str]:
        return new.evolve(pending_alert=alert.to_dict()), alert, alert.event.value

    if told == truth:
        if truth[0] == "down" and reminder_due(target, new, now):
            return record(
                make(
                    AlertEvent.REMINDER,
                    new.last_change_at,
                    failures=new.consecutive_failures,
                    down_for_s=seconds_between(new.last_change_at, now),
                )
            )
        return new, None, f"unchanged ({truth[0]})"

    if truth[0] == "down":
        if hold_down:
            return new, None, "monitor degraded: down alert held"
        return record(
            make(
                AlertEvent.DOWN,
                new.last_change_at,
                failures=new.consecutive_failures,
                threshold=threshold(target),
                # Confirmed earlier but held (maintenance window, monitor degraded).
                held=old.status is TargetStatus.DOWN,
            )
        )

    since = old.last_change_at
    if told[0] != "none" and (truth[0] == "none" or told[0] == "down"):
        # A told problem is over (or a told outage turned into a mere warning).
        if not target.notify_recovery:
            if truth[0] == "none":
                # Nothing to send: operators chose not to hear of recoveries.
                return new.evolve(alerted=False, warning_kinds=()), None, "recovered, quietly"
        else:
            extra = {"warnings": list(truth[1])} if truth[0] == "warning" else {}
            return record(
                make(
                    AlertEvent.RECOVERED,
                    since,
                    was=told[0],
                    down_for_s=seconds_between(since, now),
                    **extra,
                )
            )
    if truth[0] == "warning":
        return record(make(AlertEvent.WARNING, new.last_change_at, warnings=list(truth[1])))
    return new, None, "nothing to tell"


def _warning_kinds(result: ProbeResult) -> tuple[str, ...]:
    # Never empty for a warning: empty kinds mean "announced down" in the state.
    return tuple(sorted({w.kind.value for w in result.warnings})) or ("warning",)


def _significant(state: TargetState) -> tuple[Any, ...]:
    """Fields whose change is worth a state write: ``last_result``, ``last_checked_at``
    and ``last_scheduled_at`` ride along with such writes but never cause one."""
    return (
        state.status,
        state.consecutive_failures,
        state.failing_since,
        state.last_change_at,
        state.pending_alert,
        state.last_alert_at,
        state.last_alert_event,
        state.alerted,
        tuple(state.warning_kinds),
    )
