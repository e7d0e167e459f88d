"""One check of one target (``run_check``), shared by the probe Lambda and the local
scheduler: skip a redelivered or stale dispatch, probe (``service.probing``), re-check a
failure that would make the target down, then ``apply_result``: store the result,
publish an alert an earlier run left pending, decide (``core.alerting``, maintenance
windows, the monitor-degraded gate), save the state conditionally, publish the new alert
(``service.publish``). A slot's verdict of several locations takes only
``apply_result``. Store errors propagate; nothing else raises."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from smtpwatch.core.alerting import Decision, decide, mark_sent, needs_recheck
from smtpwatch.core.kinds import Status
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import parse_ts, sample_slot, utc_now
from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus
from smtpwatch.ports import AlertSink, ResultStore, SecretResolver, StateStore
from smtpwatch.service.gate import HOLD_GRACE, MAX_HOLD
from smtpwatch.service.probing import (
    ProbeFn,
    SecretMaskingProbe,
    probe_once,
    probe_with_secret,
)
from smtpwatch.service.publish import SAVE_ATTEMPTS, deliver, flush_pending, save_with

if TYPE_CHECKING:
    from smtpwatch.core.probe import ProbeEnvironment
    from smtpwatch.core.target import Target

__all__ = [
    "AlertGate",
    "CheckDeps",
    "CheckOutcome",
    "Probed",
    "apply_result",
    "default_probe_fn",
    "probe_and_recheck",
    "run_check",
    "skip_reason",
]

log = logging.getLogger("smtpwatch.check")

_PASSING = (Status.OK.value, Status.WARNING.value)


class AlertGate(Protocol):
    """Monitor-degraded gate: one ``degraded`` alert instead of a flood of down alerts."""

    def observe(self, target: Target, result: ProbeResult, *, scheduled_at: str) -> None:
        """Every check's first result (before any re-check)."""
        ...

    def hold_down(self, target: Target, *, scheduled_at: str) -> bool:
        """True: too many probes of this tick failed; hold this new down alert."""
        ...


def default_probe_fn(env: ProbeEnvironment | None = None) -> ProbeFn:
    """``smtpwatch.probe`` with ``env`` (None: the process-wide environment)."""
    return SecretMaskingProbe(env)


@dataclass
class CheckDeps:
    """Everything a check touches; the Lambda and the local scheduler fill it."""

    states: StateStore
    results: ResultStore
    sinks: Sequence[AlertSink] = ()
    secrets: SecretResolver | None = None
    probe_fn: ProbeFn | None = None  # None: smtpwatch.probe, process-wide environment
    now: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep
    gate: AlertGate | None = None
    # in_maintenance(target, now); None: core.maintenance.in_maintenance
    maintenance: Callable[[Target, datetime], bool] | None = None
    save_attempts: int = SAVE_ATTEMPTS
    # 0: store every result. N > 0: a passing result that changes nothing is stored
    # only for the first slot of each N-second period (``_kept_whatever_happens``).
    passing_result_every_s: int = 0


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    target_id: str
    scheduled_at: str
    state: TargetState  # as stored after this check (or as loaded, when skipped)
    result: ProbeResult | None = None  # the result that counted (None when skipped)
    alert: Alert | None = None  # the alert this check decided on
    delivered: bool = False  # ...and every sink accepted it
    flushed: Alert | None = None  # an earlier run's pending alert sent by this check
    skipped: str | None = None  # "redelivered" | "stale" | "disabled"
    rechecked: bool = False
    first_result: ProbeResult | None = None  # before the re-check / secret refresh
    reason: str = ""
    result_written: bool = False
    state_writes: int = 0

    @property
    def writes(self) -> int:
        """Store writes of this check (cost: none for most healthy checks on AWS)."""
        return int(self.result_written) + self.state_writes


def run_check(target: Target, *, scheduled_at: str, deps: CheckDeps) -> CheckOutcome:
    """One check of ``target`` for the dispatch ``scheduled_at``; never raises for a
    failure of the target, its secret, the probe or a sink (store errors propagate:
    the invocation fails and is retried, and the dedupe keeps that harmless)."""
    state = deps.states.get_state(target.target_id) or TargetState(target.target_id)
    skipped = _skipped(target, state, scheduled_at)
    if skipped is not None:
        return skipped

    gate = deps.gate
    probed = probe_and_recheck(
        target,
        state,
        deps,
        observe=None
        if gate is None
        else lambda first: _safely(gate.observe, target, first, scheduled_at=scheduled_at),
    )
    return _store_decide_publish(
        target,
        state,
        probed.result,
        scheduled_at,
        deps,
        first=probed.first,
        rechecked=probed.rechecked,
    )


@dataclass(frozen=True, slots=True)
class Probed:
    result: ProbeResult  # the result that counts (the re-check's, if one ran and proved)
    first: ProbeResult  # before any re-check
    rechecked: bool


def probe_and_recheck(
    target: Target,
    state: TargetState,
    deps: CheckDeps,
    *,
    observe: Callable[[ProbeResult], None] | None = None,
) -> Probed:
    """Probe ``target`` (its secret resolved, refreshed once on an auth failure), hand the
    first result to ``observe``, and re-check a failure that would make ``state``'s
    target down (``needs_recheck``) after ``recheck_delay_s``. Never raises for the
    target, its secret or the probe."""
    probe_fn = deps.probe_fn or default_probe_fn()
    password, old, result = probe_with_secret(target, deps.secrets, probe_fn, deps.now)
    first = result
    if observe is not None:
        observe(result)

    rechecked = False
    if needs_recheck(target, state, result):
        deps.sleep(float(target.recheck_delay_s))
        if target.login and target.token_ref:  # the token source is read again
            again = probe_with_secret(target, deps.secrets, probe_fn, deps.now)[2]
        else:
            again = probe_once(target, password, probe_fn, deps.now, old)
        rechecked = True
        if again.status is not Status.UNKNOWN:  # a crashed re-check proves nothing
            result = again
    return Probed(result, first, rechecked)


def apply_result(
    target: Target, result: ProbeResult, *, scheduled_at: str, deps: CheckDeps
) -> CheckOutcome:
    """The part of a check after the probe, for a result found elsewhere (a slot's
    verdict of several locations): skip a redelivered or stale slot (or a disabled
    target), let the gate observe ``result``, store it under ``scheduled_at``, publish a
    pending alert, decide, save conditionally, publish. No re-check: ``result`` is final.
    Same errors as ``run_check``."""
    state = deps.states.get_state(target.target_id) or TargetState(target.target_id)
    skipped = _skipped(target, state, scheduled_at)
    if skipped is not None:
        return skipped
    if deps.gate is not None:
        _safely(deps.gate.observe, target, result, scheduled_at=scheduled_at)
    return _store_decide_publish(
        target, state, result, scheduled_at, deps, first=result, rechecked=False
    )


def _store_decide_publish(
    target: Target,
    state: TargetState,
    result: ProbeResult,
    scheduled_at: str,
    deps: CheckDeps,
    *,
    first: ProbeResult,
    rechecked: bool,
) -> CheckOutcome:
    tid = target.target_id
    stored = _kept_whatever_happens(target, state, result, scheduled_at, deps)
    if stored and not deps.results.add_result(result, scheduled_at=scheduled_at):
        log.info("result exists: redelivered", extra={"target_id": tid})
        return CheckOutcome(
            tid, scheduled_at, state, result=result, skipped="redelivered", reason="redelivered"
        )

    flush = flush_pending(state, deps.sinks, deps.states, now=deps.now())
    state = flush.state
    writes = flush.state_writes

    decision, state, saved = _decide_and_save(target, state, result, scheduled_at, deps)
    writes += saved
    if saved and not stored:
        # A passing check that changed something (recovery, a reset failure count, new
        # warning kinds): history must show it. The state write above was the dedupe.
        stored = deps.results.add_result(result, scheduled_at=scheduled_at)
    delivered = False
    if decision.alert is not None and saved:
        delivered = deliver(decision.alert, deps.sinks)
        if delivered:
            state, n = _save_sent(deps.states, state, decision.alert.alert_id, deps)
            writes += n
    return CheckOutcome(
        tid,
        scheduled_at,
        state,
        result=result,
        alert=decision.alert if saved else None,
        delivered=delivered,
        flushed=flush.alert if flush.delivered else None,
        rechecked=rechecked,
        first_result=first,
        reason=decision.reason if saved or not decision.write else "state write conflict",
        result_written=stored,
        state_writes=writes,
    )


# ---- internals -----------------------------------------------------------------------


def skip_reason(target: Target, state: TargetState, scheduled_at: str) -> str | None:
    """Why a check (or a slot's vote) for ``scheduled_at`` does nothing: "redelivered" or
    "stale" (``state`` already took this slot or a newer one), "disabled"; else None."""
    return _redelivery(state, scheduled_at) or (None if target.enabled else "disabled")


def _skipped(target: Target, state: TargetState, scheduled_at: str) -> CheckOutcome | None:
    """The outcome of a check that does nothing (``skip_reason``); None when it goes on."""
    tid = target.target_id
    skip = _redelivery(state, scheduled_at)
    if skip:
        log.info("check skipped: %s", skip, extra={"target_id": tid, "scheduled_at": scheduled_at})
        return CheckOutcome(tid, scheduled_at, state, skipped=skip, reason=skip)
    if not target.enabled:
        return CheckOutcome(tid, scheduled_at, state, skipped="disabled", reason="disabled")
    return None


def _kept_whatever_happens(
    target: Target, state: TargetState, result: ProbeResult, scheduled_at: str, deps: CheckDeps
) -> bool:
    """Is this result stored before the decision, whatever it decides? Every one when
    ``passing_result_every_s`` is 0; else every ``critical``/``unknown`` result, every
    one of a check that finds a pending alert, and of the passing ones only the one
    whose slot opens each period (a passing result that changes the state is stored
    after the decision). A verdict with a location not passing is kept too."""
    every = deps.passing_result_every_s
    if every <= 0 or result.status in (Status.CRITICAL, Status.UNKNOWN):
        return True
    if any(vote.status not in _PASSING for vote in result.locations):
        return True  # a verdict with a failing, crashed or silent location: history shows it
    if state.pending_alert:
        # The flush publishes before any state write of this check, so only the
        # result key can stop a second delivery of this event from publishing it again
        # (a concurrent copy, or one whose eventually consistent read still shows it).
        return True
    try:
        return sample_slot(parse_ts(scheduled_at), target.interval_s, every)
    except ValueError:  # an odd scheduled_at: keep the result rather than lose it
        return True


def _redelivery(state: TargetState, scheduled_at: str) -> str | None:
    last = state.last_scheduled_at
    if not last:
        return None
    if last == scheduled_at:
        return "redelivered"
    try:
        if parse_ts(scheduled_at) <= parse_ts(last):
            return "stale"  # a newer dispatch already changed the state
    except ValueError:
        return None
    return None


def _decide_and_save(
    target: Target, state: TargetState, result: ProbeResult, scheduled_at: str, deps: CheckDeps
) -> tuple[Decision, TargetState, int]:
    """Decide and save; on a version conflict re-read and decide again. Returns the
    decision, the state now stored (or loaded) and the number of writes (0 or 1)."""
    maintenance = deps.maintenance or _default_maintenance
    hold: bool | None = None  # ask the gate at most once per check
    decision = Decision(state, None, False, "not decided")
    for _ in range(max(1, deps.save_attempts)):
        now = deps.now()
        in_maint = _safely_bool(maintenance, target, now)
        decision = decide(
            target, state, result, now=now, scheduled_at=scheduled_at, in_maintenance=in_maint
        )
        if decision.alert is not None and decision.alert.event is AlertEvent.DOWN:
            if hold is None:
                hold = (
                    deps.gate is not None
                    and not _held_too_long(state, now)
                    and _safely_bool(deps.gate.hold_down, target, scheduled_at=scheduled_at)
                )
            if hold:
                decision = decide(
                    target,
                    state,
                    result,
                    now=now,
                    scheduled_at=scheduled_at,
                    in_maintenance=in_maint,
                    hold_down=True,
                )
        if not decision.write:
            return decision, decision.state, 0
        new = decision.state.evolve(version=state.version + 1)
        if deps.states.save_state(new):
            return decision, new, 1
        log.info("state changed meanwhile: deciding again", extra={"target_id": state.target_id})
        state = deps.states.get_state(state.target_id) or TargetState(state.target_id)
        if _redelivery(state, scheduled_at):
            # A newer dispatch of this target finished first: an older result must not
            # overrule it (its result may be stored; the state stays the newer one's).
            return Decision(state, None, False, "overtaken by a newer check"), state, 0
    log.error("state not saved: too many conflicts", extra={"target_id": state.target_id})
    return decision, state, 0


def _held_too_long(state: TargetState, now: datetime) -> bool:
    """The target has been down and unannounced for the gate's maximum hold plus the
    housekeeping's grace: its down alert is not held again, whatever episode the gate
    remembers — a new process (``run --once``, a restart) or a replaced episode record
    would otherwise start the hold over at every sweep, for as long as the monitor
    stays degraded."""
    if state.status is not TargetStatus.DOWN or not state.last_change_at:
        return False
    try:
        return now - parse_ts(state.last_change_at) >= MAX_HOLD + HOLD_GRACE
    except ValueError:
        return True  # unreadable: let it go rather than hold it for ever


def _save_sent(
    states: StateStore, state: TargetState, alert_id: str, deps: CheckDeps
) -> tuple[TargetState, int]:
    when = deps.now()
    return save_with(
        states, state, lambda s: mark_sent(s, alert_id, sent_at=when), deps.save_attempts
    )


def _default_maintenance(target: Target, now: datetime) -> bool:
    from smtpwatch.core.maintenance import in_maintenance

    return in_maintenance(target, now)


def _safely(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # a broken gate must not stop the check
        log.exception("alert gate failed")


def _safely_bool(fn: Callable[..., bool], *args: Any, **kwargs: Any) -> bool:
    """False when ``fn`` fails: a broken gate or window lets alerts through rather than
    silencing them."""
    try:
        return bool(fn(*args, **kwargs))
    except Exception:
        log.exception("%s failed", getattr(fn, "__name__", "hook"))
        return False
