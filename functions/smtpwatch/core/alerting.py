"""The alert state machine (docs/design.md#alert-state-machine): one pure module for
the probe Lambda and the local scheduler. No I/O, no clock: every input is an argument.

One check of one target goes through it like this (``service.check.run_check``)::

    result = probe(...)
    if needs_recheck(target, state, result):    # the failure would cross the threshold
        sleep(target.recheck_delay_s); result = probe(...)   # the re-check counts
    decision = decide(target, state, result, now=..., scheduled_at=..., in_maintenance=...)
    if decision.write: save decision.state      # with decision.alert recorded as pending
    if decision.alert: publish, then save mark_sent(...)

Two layers:

1. The *confirmed status* follows the results: a passing result (``ok``/``warning``)
   makes the target ``up``/``warning`` and resets the failure count; a ``critical``
   result counts a failure, and ``failures_before_alert`` consecutive ones make it
   ``down``. ``unknown`` (the probe itself crashed) changes nothing but
   ``last_result``/``last_checked_at``: it is not a failure of the target.
2. *Announcements* reconcile what operators have been told with the confirmed status.
   ``alerted``/``warning_kinds`` record what the *sent* alerts said (``mark_sent``
   updates them): nothing outstanding, ``down``, or a warning of these kinds. Outside
   maintenance, a difference produces at most one alert per check: ``down`` (not yet
   told), ``warning`` (entering a warning or its kinds changed; days counting down
   change nothing), ``recovered`` (a told problem is over, if ``notify_recovery``),
   ``reminder`` (still down, every ``remind_every_s``). Inside a maintenance window the
   status still follows the results but nothing is announced, so a target still down
   when the window ends is announced by the first check after it — and one that
   recovered inside the window without ever being announced stays silent.
   ``hold_down`` (the monitor-degraded gate) holds back a *new* down alert the same way.

Delivery is at-least-once: the alert chosen by ``decide`` is already stored in
``state.pending_alert``; the caller saves that state, publishes, and saves
``mark_sent``. An alert still pending at the next check is published first. If it is
still unsent when a later check decides, it is kept while it still tells the truth,
and otherwise dropped for what is true now — so a recovery before the down alert ever
went out announces nothing (recovery is only announced after a *sent* alert), and a
relapse before an unsent recovery went out leaves operators rightly believing "down".

Cost (why ``Decision.write`` exists): a healthy, unchanged check writes no state at all —
at most its result item (on AWS only once per ``PassingResultSeconds``;
``service.check``). ``decide`` sets ``write`` only when a field that matters changes
(status, failure count, pending alert, announcements); ``last_result``,
``last_checked_at`` and ``last_scheduled_at`` ride along with such writes but never cause
one. Readers (``status``) take the first two from the newest stored result instead:
``with_latest_result``.

``alert_id`` is a hash of (target_id, event, scheduled_at): the same run makes the same
id, so a receiver can drop duplicates of an at-least-once delivery.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from smtpwatch.core.result import ErrorKind, ProbeResult, Status, shorten
from smtpwatch.core.schedule import format_ts, parse_ts
from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus

__all__ = [
    "DEGRADED_HELD_LIST_MAX",
    "DEGRADED_MAX_HOLD_S",
    "DEGRADED_MIN_COUNT",
    "DEGRADED_SHARE",
    "MONITOR_TARGET_ID",
    "AlertTarget",
    "Decision",
    "alert_id_for",
    "counts_as_failure",
    "decide",
    "degraded",
    "degraded_alert",
    "degraded_end_alert",
    "held_down_alert",
    "make_test_alert",
    "mark_sent",
    "needs_recheck",
    "stored_result",
    "target_summary",
    "with_latest_result",
]

# Monitor degraded: more than this share of the distinct targets checked in one window
# (a tick, a minute) failed...
DEGRADED_SHARE = 0.5
# ...and at least this many targets, so that a few real outages among few targets are
# outages, not a fault of the monitor.
DEGRADED_MIN_COUNT = 5
# A down alert held by a monitor-degraded episode goes out after this long at the latest
# (marked held), even while the episode lasts: a long "monitor fault" may be real outages.
DEGRADED_MAX_HOLD_S = 900
# The end-of-episode alert lists at most this many held targets (and says how many).
DEGRADED_HELD_LIST_MAX = 50
# target_id of alerts about the monitor itself; "#" cannot start a real target id.
MONITOR_TARGET_ID = "#monitor"


class AlertTarget(Protocol):
    """What the state machine reads of a ``core.target.Target``."""

    @property
    def target_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def effective_port(self) -> int: ...
    @property
    def encryption(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def failures_before_alert(self) -> int: ...
    @property
    def recheck_delay_s(self) -> int: ...
    @property
    def notify_recovery(self) -> bool: ...
    @property
    def remind_every_s(self) -> int: ...
    @property
    def interval_s(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The next state, the alert to deliver (already in ``state.pending_alert``), whether
    the state item must be written, and why (for logs and tests)."""

    state: TargetState
    alert: Alert | None
    write: bool
    reason: str


# A result copied into the state item and into alerts is bounded: a hostile server can
# fill a result with up to 1,000 EHLO lines of 8 KB or a certificate with huge names,
# and a state item holds 400 KB, an SNS message (six copies of the document) 256 KB.
# Real results stay whole: no list of theirs comes near 16 entries but SANs, and no
# text near 512 characters (the banner is already cut there).
STORED_LIST_MAX = 16
STORED_TEXT_MAX = 512


def stored_result(result: ProbeResult) -> dict[str, Any]:
    """``result.to_dict()`` with every list cut to ``STORED_LIST_MAX`` entries and every
    text to ``STORED_TEXT_MAX`` characters: what state items and alerts carry."""
    bounded: dict[str, Any] = _bounded(result.to_dict())
    return bounded


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) <= STORED_TEXT_MAX:
            return value
        return value[: STORED_TEXT_MAX - 3] + "..."
    if isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            # a list of texts ends in "… and N more" when cut, as the result's own do
            return [_bounded(v) for v in shorten(value, STORED_LIST_MAX)]
        return [_bounded(v) for v in value[:STORED_LIST_MAX]]
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    return value


def counts_as_failure(result: ProbeResult) -> bool:
    """A failure of the *target*: ``critical``. ``unknown`` is the monitor's own crash."""
    return result.status is Status.CRITICAL


def needs_recheck(target: AlertTarget, state: TargetState, result: ProbeResult) -> bool:
    """True when ``result`` is the failure that would make the target ``down`` and the
    target asks for a re-check (``recheck_delay_s`` > 0). A ``config`` failure is not
    re-checked: it cannot pass a moment later."""
    if not counts_as_failure(result) or target.recheck_delay_s <= 0:
        return False
    if result.error is not None and result.error.kind is ErrorKind.CONFIG:
        return False
    if state.status is TargetStatus.DOWN:
        return False
    return state.consecutive_failures + 1 >= _threshold(target)


def decide(
    target: AlertTarget,
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
        if state.status is TargetStatus.DOWN or failures >= _threshold(target):
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


def with_latest_result(state: TargetState, latest: ProbeResult | None) -> TargetState:
    """``state`` with ``last_result``/``last_checked_at`` taken from the newest stored
    result when that is newer: a healthy check writes at most its result item, so the
    state item's copies are those of the last check that changed something."""
    if latest is None:
        return state
    newest = _ts_or_none(latest.started_at)
    current = _ts_or_none(state.last_checked_at)
    if newest is None or (current is not None and newest <= current):
        return state
    return state.evolve(last_result=latest.to_dict(), last_checked_at=latest.started_at)


def degraded(
    failed: int, total: int, *, share: float = DEGRADED_SHARE, min_count: int = DEGRADED_MIN_COUNT
) -> bool:
    """Monitor degraded: more than ``share`` of the ``total`` distinct targets checked in
    a window failed, and at least ``min_count`` of them. Then one ``degraded`` alert
    replaces the flood of down alerts (the fault is likely on the monitor's side: its
    network, DNS, a NAT)."""
    return total > 0 and failed >= max(1, min_count) and failed > share * total


def degraded_alert(
    *,
    tick: str,
    failed: int,
    total: int,
    now: datetime,
    sample: Sequence[str] = (),
    kinds: Mapping[str, int] | None = None,
) -> Alert:
    """The one alert that begins a monitor-degraded episode (``tick``: its window);
    ``failed``/``total`` count distinct targets."""
    return Alert(
        alert_id=alert_id_for(MONITOR_TARGET_ID, AlertEvent.DEGRADED, tick),
        event=AlertEvent.DEGRADED,
        target_id=MONITOR_TARGET_ID,
        status="degraded",
        created_at=format_ts(now),
        target={"target_id": MONITOR_TARGET_ID, "name": "smtpwatch monitor", "tags": {}},
        result=None,
        since=tick,
        details={
            "failed": failed,
            "total": total,
            "sample": list(sample)[:10],
            "kinds": dict(kinds or {}),
            "counted": "targets",
        },
    )


def degraded_end_alert(*, since: str, now: datetime, held: Sequence[Mapping[str, Any]]) -> Alert:
    """The end of a monitor-degraded episode that began with the window ``since``:
    ``held`` lists the targets whose down alert it held (``target_id``, ``name``,
    ``held_since``, ``still_down``: its held down alert follows; ``announced``: it
    already went out after the maximum hold). The start alert cannot know them yet."""
    listed = [dict(h) for h in held[:DEGRADED_HELD_LIST_MAX]]
    return Alert(
        alert_id=alert_id_for(MONITOR_TARGET_ID, AlertEvent.DEGRADED, f"end\x00{since}"),
        event=AlertEvent.DEGRADED,
        target_id=MONITOR_TARGET_ID,
        status="ended",
        created_at=format_ts(now),
        target={"target_id": MONITOR_TARGET_ID, "name": "smtpwatch monitor", "tags": {}},
        result=None,
        since=since,
        details={
            "episode": "ended",
            "ended_at": format_ts(now),
            "held_count": len(held),
            "held": listed,
            "still_down": sum(1 for h in held if h.get("still_down")),
        },
    )


def held_down_alert(
    target: AlertTarget,
    state: TargetState,
    *,
    now: datetime,
    episode_since: str,
    held_since: str,
) -> Alert:
    """The down alert a monitor-degraded episode held, for a target still down and never
    announced: sent at the episode's end or after ``DEGRADED_MAX_HOLD_S``. Its id is the
    one the held check would have used, so a receiver's dedupe sees one alert."""
    return Alert(
        alert_id=alert_id_for(
            target.target_id, AlertEvent.DOWN, state.last_scheduled_at or held_since
        ),
        event=AlertEvent.DOWN,
        target_id=target.target_id,
        status=TargetStatus.DOWN.value,
        created_at=format_ts(now),
        target=target_summary(target),
        result=state.last_result,
        since=state.last_change_at,
        details={
            "failures": state.consecutive_failures,
            "threshold": _threshold(target),
            "held": True,
            "held_by": "monitor_degraded",
            "episode_since": episode_since,
            "held_since": held_since,
        },
    )


def make_test_alert(*, now: datetime, target_id: str = MONITOR_TARGET_ID) -> Alert:
    """``smtpwatch alerts test``: proves the sinks deliver."""
    stamp = format_ts(now)
    return Alert(
        alert_id=alert_id_for(target_id, AlertEvent.TEST, stamp),
        event=AlertEvent.TEST,
        target_id=target_id,
        status="test",
        created_at=stamp,
        target={"target_id": target_id, "name": "smtpwatch test alert", "tags": {}},
        since=stamp,
    )


def alert_id_for(target_id: str, event: AlertEvent | str, key: str) -> str:
    text = f"{target_id}\x00{AlertEvent(event).value}\x00{key}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def target_summary(target: AlertTarget) -> dict[str, Any]:
    """The ``target`` part of alerts: identifies it, never holds a secret."""
    return {
        "target_id": target.target_id,
        "name": target.name or target.host,
        "host": target.host,
        "port": target.effective_port,
        "encryption": target.encryption,
        "tags": dict(target.tags),
    }


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
    target: AlertTarget,
    old: TargetState,
    new: TargetState,
    result: ProbeResult,
    now: datetime,
    scheduled_at: str,
    hold_down: bool,
) -> tuple[TargetState, Alert | None, str]:
    """Reconcile what operators were told (``alerted``/``warning_kinds``: updated by
    ``mark_sent`` only) with the confirmed status; see the module docstring."""
    if counts_as_failure(result) and new.status is not TargetStatus.DOWN:
        # Failing but not confirmed yet: nothing to announce either way.
        return new, None, f"failure {new.consecutive_failures} of {_threshold(target)}"

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
        if truth[0] == "down" and _reminder_due(target, new, now):
            return record(
                make(
                    AlertEvent.REMINDER,
                    new.last_change_at,
                    failures=new.consecutive_failures,
                    down_for_s=_seconds_between(new.last_change_at, now),
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
                threshold=_threshold(target),
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
                    down_for_s=_seconds_between(since, now),
                    **extra,
                )
            )
    if truth[0] == "warning":
        return record(make(AlertEvent.WARNING, new.last_change_at, warnings=list(truth[1])))
    return new, None, "nothing to tell"


def _reminder_due(target: AlertTarget, state: TargetState, now: datetime) -> bool:
    every = int(target.remind_every_s or 0)
    if every <= 0 or state.pending_alert is not None or not state.last_alert_at:
        return False
    elapsed = _seconds_between(state.last_alert_at, now)
    if elapsed is None:
        return True  # unreadable timestamp: better one reminder too many than none
    # Checks run on slots, alerts go out a little after (probe, re-check): without some
    # slack a reminder would slip a whole interval every time; with more than half an
    # interval of it, it would come one interval early.
    slack = min(60.0, every / 10, max(0, int(target.interval_s or 0)) / 2)
    return elapsed >= every - slack


def _warning_kinds(result: ProbeResult) -> tuple[str, ...]:
    # Never empty for a warning: empty kinds mean "announced down" in the state.
    return tuple(sorted({w.kind.value for w in result.warnings})) or ("warning",)


def _threshold(target: AlertTarget) -> int:
    return max(1, int(target.failures_before_alert or 1))


def _significant(state: TargetState) -> tuple[Any, ...]:
    """Fields whose change is worth a state write (see the module docstring)."""
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


def _ts_or_none(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_ts(text)
    except ValueError:
        return None


def _seconds_between(start: str | None, end: datetime) -> int | None:
    begin = _ts_or_none(start)
    if begin is None:
        return None
    return int((parse_ts(format_ts(end)) - begin).total_seconds())
