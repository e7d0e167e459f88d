"""One check of one target: the part the probe Lambda and the local scheduler share.

``run_check(target, scheduled_at=..., deps=...)``:

1. load the state; a ``scheduled_at`` not after ``state.last_scheduled_at`` is a
   redelivery (or a stale, overtaken dispatch): nothing is probed, published or written;
2. resolve the password (``SecretError`` → a ``config`` result, not a crash);
3. probe (an exception from the probe → an ``unknown`` result: the monitor's fault,
   not the target's); after ``auth_failed`` fetch the secret again once, bypassing
   caches, and probe again if it changed (it may have been rotated) — that probe, and
   its re-check, mask the old password as well as the new one in server text (a
   server may remember the old one and say it back);
4. re-check once after ``recheck_delay_s`` when this failure would make the target
   down (``core.alerting.needs_recheck``); the re-check's result is the one that counts
   and is stored (the spec's false-positive check);
5. store the result, conditionally on ``(target_id, scheduled_at)``, when it is kept
   whatever the decision (below): False means another invocation of the same dispatch
   got here first → stop, publish nothing;
6. publish a pending alert an earlier run left unsent (``flush_pending``);
7. decide (``core.alerting.decide``, with maintenance and the monitor-degraded gate);
8. if something changed, save the state conditionally on its version (on a conflict
   re-read and decide again, bounded) — the new alert is in it as ``pending_alert``;
   a passing result not stored in 5 is stored now, because it changed something;
9. publish the alert to every sink; when all accepted it, save it as sent.

Which results are stored (``CheckDeps.passing_result_every_s``, the cost goal):
0 (the local default) stores every result. N > 0 (AWS, template parameter
``PassingResultSeconds``, default 3600) stores every ``critical``/``unknown`` result,
every result that changed the state, and of the passing (``ok``/``warning``) results
that changed nothing only the one whose slot opens each N-second period
(``core.schedule.sample_slot``) — and any result of a check that finds a pending alert
to flush (6), whose conditional write (5) is then what keeps a second delivery of the
event from publishing that alert again. A healthy, unchanged check then writes nothing
at all on 59 of 60 one-minute slots. The redelivery dedupe still holds: a stored result
is written conditionally (5), a state change is written conditionally on the
version and records ``last_scheduled_at`` (1), and a check that stores and changes
nothing has published nothing a second delivery could repeat.

The state item is written only when something changes (status, failure count,
pending alert, announcements), and twice around an alert (pending, then sent). So
the state item's ``last_result``/``last_checked_at`` are those of the last check that
changed something; readers take the newest result item instead
(``core.alerting.with_latest_result``).

Monitor degraded: ``deps.gate`` (``AlertGate``) sees every check's first result
(``observe``) and is asked before a *new* down alert goes out (``hold_down``). A held
down alert is not lost: the target is down and not yet announced, so the next check
that is not held announces it — unless it recovered meanwhile. ``service.gate.SweepGate``
is the local scheduler's gate; on AWS the probe handler counts failures per tick in the
state table (the dispatcher records how many it dispatched).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from smtpwatch.core.alerting import Decision, decide, mark_sent, needs_recheck
from smtpwatch.core.errors import SecretError
from smtpwatch.core.result import ErrorInfo, ErrorKind, ProbeResult, Status
from smtpwatch.core.safe_text import one_line
from smtpwatch.core.schedule import format_ts, parse_ts, sample_slot, utc_now
from smtpwatch.core.server_text import ServerTextGuard
from smtpwatch.core.state import Alert, AlertEvent, TargetState, TargetStatus
from smtpwatch.ports import AlertSink, ResultStore, SecretResolver, StateStore

if TYPE_CHECKING:
    from smtpwatch.core.probe import ProbeEnvironment
    from smtpwatch.core.target import Target

__all__ = [
    "AlertGate",
    "CheckDeps",
    "CheckOutcome",
    "Flush",
    "ProbeFn",
    "SecretMaskingProbe",
    "default_probe_fn",
    "deliver",
    "flush_pending",
    "run_check",
]

log = logging.getLogger("smtpwatch.check")

ProbeFn = Callable[["Target", str | None], ProbeResult]
"""``probe_fn(target, password) -> ProbeResult``; ``smtpwatch.probe`` bound to an env.
A ``SecretMaskingProbe`` also takes ``mask=`` (older passwords to keep out of the
result); any other probe function is called with the two arguments only."""

SAVE_ATTEMPTS = 5  # conditional writes retried after a conflict (racing invocations)
# Past the gate's maximum hold, the backends' once-a-tick housekeeping sends a held down
# alert (saying since when it was held); a check lets it through itself only this much
# later, when no housekeeping did (the AWS gate allows the same grace).
_HOLD_GRACE = timedelta(minutes=2)


class AlertGate(Protocol):
    """Monitor-degraded gate: one ``degraded`` alert instead of a flood of down alerts."""

    def observe(self, target: Target, result: ProbeResult, *, scheduled_at: str) -> None:
        """Every check's first result (before any re-check)."""
        ...

    def hold_down(self, target: Target, *, scheduled_at: str) -> bool:
        """True: too many probes of this tick failed; hold this new down alert."""
        ...


class SecretMaskingProbe:
    """``smtpwatch.probe`` bound to ``env`` (None: the process-wide environment), as a
    ``ProbeFn`` that also takes ``mask``: the re-probe after a rotation passes the old
    password, which the probe then masks in server text like the new one."""

    def __init__(self, env: ProbeEnvironment | None = None) -> None:
        self.env = env

    def __call__(
        self, target: Target, password: str | None, *, mask: tuple[str, ...] = ()
    ) -> ProbeResult:
        from smtpwatch.core.probe import probe

        return probe(target, password=password, mask=mask, env=self.env)


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
    # only for the first slot of each N-second period (see the module docstring).
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


@dataclass(frozen=True, slots=True)
class Flush:
    state: TargetState
    alert: Alert | None = None  # the pending alert found (None: there was none)
    delivered: bool = False
    state_writes: int = 0


def run_check(target: Target, *, scheduled_at: str, deps: CheckDeps) -> CheckOutcome:
    """One check of ``target`` for the dispatch ``scheduled_at``; never raises for a
    failure of the target, its secret, the probe or a sink (store errors propagate:
    the invocation fails and is retried, and the dedupe keeps that harmless)."""
    tid = target.target_id
    state = deps.states.get_state(tid) or TargetState(tid)
    skip = _redelivery(state, scheduled_at)
    if skip:
        log.info("check skipped: %s", skip, extra={"target_id": tid, "scheduled_at": scheduled_at})
        return CheckOutcome(tid, scheduled_at, state, skipped=skip, reason=skip)
    if not target.enabled:
        return CheckOutcome(tid, scheduled_at, state, skipped="disabled", reason="disabled")

    probe_fn = deps.probe_fn or default_probe_fn()
    password, old, result = _probe_with_secret(target, deps, probe_fn)
    first = result
    if deps.gate is not None:
        _safely(deps.gate.observe, target, result, scheduled_at=scheduled_at)

    rechecked = False
    if needs_recheck(target, state, result):
        deps.sleep(float(target.recheck_delay_s))
        again = _probe(target, password, probe_fn, deps, old)
        rechecked = True
        if again.status is not Status.UNKNOWN:  # a crashed re-check proves nothing
            result = again

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
        cleared, n = _save_with(states, state, lambda s: s.evolve(pending_alert=None), attempts)
        return Flush(cleared, None, False, n)
    if not deliver(alert, sinks):
        return Flush(state, alert, False, 0)
    when = now or utc_now()
    sent, n = _save_with(
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


# ---- internals -----------------------------------------------------------------------


def _kept_whatever_happens(
    target: Target, state: TargetState, result: ProbeResult, scheduled_at: str, deps: CheckDeps
) -> bool:
    """Is this result stored before the decision (see "Which results are stored")?"""
    every = deps.passing_result_every_s
    if every <= 0 or result.status in (Status.CRITICAL, Status.UNKNOWN):
        return True
    if state.pending_alert:
        # The flush (6) publishes before any state write of this check, so only the
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


def _probe_with_secret(
    target: Target, deps: CheckDeps, probe_fn: ProbeFn
) -> tuple[str | None, tuple[str, ...], ProbeResult]:
    """``(password, older passwords to mask, result)``."""
    password: str | None = None
    if target.login and target.password_ref:
        if deps.secrets is None:
            return None, (), _config_result(target, deps, "no secret store configured")
        try:
            password = deps.secrets.resolve(target.password_ref, host=target.host)
        except SecretError as exc:
            return None, (), _config_result(target, deps, one_line(str(exc)))
    result = _probe(target, password, probe_fn, deps)
    if (
        password is not None
        and deps.secrets is not None
        and target.password_ref
        and result.error is not None
        and result.error.kind is ErrorKind.AUTH_FAILED
    ):
        # The password may have been rotated since it was cached: fetch it once more.
        try:
            fresh = deps.secrets.resolve(target.password_ref, host=target.host, refresh=True)
        except SecretError:
            return password, (), result
        if fresh != password:
            old = (password,)
            password = fresh
            result = _probe(target, password, probe_fn, deps, old)
            return password, old, result
    return password, (), result


def _probe(
    target: Target,
    password: str | None,
    probe_fn: ProbeFn,
    deps: CheckDeps,
    old: tuple[str, ...] = (),
) -> ProbeResult:
    try:
        if old and isinstance(probe_fn, SecretMaskingProbe):
            return probe_fn(target, password, mask=old)
        return probe_fn(target, password)
    except Exception as exc:  # a bug of ours, not a failure of the target
        # Mask with the probe's own guard before anything reshapes the text (whitespace
        # folding, the length cut would leave a password with spaces, or its first
        # part, readable), and log the traceback as masked text: log.exception would
        # print the raw message.
        guard = ServerTextGuard((password, *old), username=target.username)
        text = one_line(guard.clean(f"probe crashed: {type(exc).__name__}: {exc}"))
        trace = guard.clean("".join(traceback.format_exception(exc)), keep_newlines=True)
        log.error("probe crashed\n%s", trace, extra={"target_id": target.target_id})
        return ProbeResult(
            target_id=target.target_id,
            started_at=format_ts(deps.now()),
            status=Status.UNKNOWN,
            host=target.host,
            port=target.effective_port,
            encryption=target.encryption,
            error=ErrorInfo(ErrorKind.INTERNAL, None, text),
        )


def _config_result(target: Target, deps: CheckDeps, message: str) -> ProbeResult:
    return ProbeResult(
        target_id=target.target_id,
        started_at=format_ts(deps.now()),
        status=Status.CRITICAL,
        host=target.host,
        port=target.effective_port,
        encryption=target.encryption,
        error=ErrorInfo(ErrorKind.CONFIG, None, f"password_ref: {message}"),
    )


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
    from smtpwatch.service.gate import MAX_HOLD

    if state.status is not TargetStatus.DOWN or not state.last_change_at:
        return False
    try:
        return now - parse_ts(state.last_change_at) >= MAX_HOLD + _HOLD_GRACE
    except ValueError:
        return True  # unreadable: let it go rather than hold it for ever


def _save_sent(
    states: StateStore, state: TargetState, alert_id: str, deps: CheckDeps
) -> tuple[TargetState, int]:
    when = deps.now()
    return _save_with(
        states, state, lambda s: mark_sent(s, alert_id, sent_at=when), deps.save_attempts
    )


def _save_with(
    states: StateStore,
    state: TargetState,
    change: Callable[[TargetState], TargetState | None],
    attempts: int,
) -> tuple[TargetState, int]:
    """Apply ``change`` and save conditionally; on a conflict re-read and apply again.
    ``change`` returning None means there is nothing (left) to do."""
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
