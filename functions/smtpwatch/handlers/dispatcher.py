"""The dispatcher Lambda: every tick, invoke the probe function once per due target.

One run:

1. **Claim a window** ``(start, end]`` of time (``core.schedule.tick_window``): ``end``
   is the tick (the EventBridge event's ``time``), ``start`` the end of the last claimed
   window, kept in the bookkeeping item ``#dispatcher`` of the state table. The claim is
   one conditional write on that item's version, so two overlapping runs or a
   redelivered event never claim the same span twice (the loser re-reads and takes
   what is left, usually nothing), and a missed tick never skips a slot (the next window
   reaches back). A run that dies mid-window leaves its claim unfinished; once its lease
   (the Lambda's remaining time) has passed, the next run claims that window again — the
   probes' dedupe makes the repeat harmless (a stored result is keyed by its slot, a
   state change records ``last_scheduled_at``; a passing check that stores and changes
   nothing is simply probed once more). Exclusivity rests on DynamoDB
   applying a conditional write atomically per item (moto does not: tests/aws/moto_atomic.py).
2. **Read** every target item and every state item (parallel Scan segments). Target
   items are kept as DynamoDB sent them too (``DynamoTargetStore.iter_items_and_wire``):
   each probe event carries its target's item, so the probe reads only the state.
3. **Plan** (pure): an enabled target is due at its latest slot in the window
   (``core.schedule``: a deterministic per-target offset spreads 10,000 targets over
   the interval). A target with no state item yet is due at once (its most recent slot),
   so a target added with only ``target_id`` and ``host`` is probed at the next tick;
   a conditional "first dispatch" stub in the state table makes sure only one run does
   that. A malformed item is still dispatched (on the default interval) so that the
   probe records a ``config`` result the operator sees; it never stops the rest.
4. **Invoke** the probe function asynchronously per due target from a bounded thread
   pool (one shared client; ``max_pool_connections`` = pool size). The event is
   ``{"target_id", "scheduled_at", "target"}``, ``target`` being the scanned item in
   DynamoDB's typed JSON form — left out for an item with a binary value or over 16 KiB
   of JSON (``adapters.lambda_invoker.probe_payload``); the probe then reads it itself.
   A failing invoke is counted and logged; the others go on.
5. **Count** the probes dispatched per tick bucket (the minute ``scheduled_at`` rounds up
   to) in ``#tick#<bucket>`` items: the probe side compares its failures with it to
   send one monitor-degraded alert instead of a flood (docs/design.md#monitor-degraded).
6. **Resend** pending alerts older than a minute (a probe crashed between recording
   and publishing them).
7. **Settle** the monitor-degraded episode (``adapters.tick_gate.settle_episode``):
   announce its end with the targets it held, and send held down alerts at its end or
   after 15 minutes.

Logs one summary line and EMF metrics: Due, Dispatched, DispatchFailed, Malformed,
AlertsResent, DispatchMs.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from aws_lambda_powertools.metrics import MetricUnit

from smtpwatch.adapters.dynamodb import (
    DynamoStateStore,
    DynamoTargetStore,
    is_bookkeeping_id,
)
from smtpwatch.adapters.tick_gate import tick_bucket
from smtpwatch.core import schedule
from smtpwatch.core.alerting import DEGRADED_MIN_COUNT, DEGRADED_SHARE
from smtpwatch.core.state import Alert
from smtpwatch.handlers.observability import make_logger, make_metrics, traced
from smtpwatch.handlers.settings import Settings, load_settings, require
from smtpwatch.ports import AlertSink, ProbeInvoker

__all__ = ["DispatchReport", "Dispatcher", "handler", "tick_bucket"]

logger = make_logger()
metrics = make_metrics()

DEFAULT_INTERVAL_S = 300  # a malformed item is dispatched on the default interval
PENDING_ALERT_AGE_S = 60  # younger pending alerts may still be in their probe's hands
SCAN_SEGMENTS = 8
_MAX_LOGGED_FAILURES = 20  # one line each; the rest only counted
_CLAIM_ATTEMPTS = 5
# What planning needs of a state item; the full item (last_result: ~1.5 KB) only for
# the rare target with a stale pending alert.
_STATE_PROJECTION = ("target_id", "first_scheduled_at", "pending_alert")


@runtime_checkable
class _CarriesTarget(Protocol):
    """An invoker that can put the target item (wire form) into the probe event
    (``adapters.lambda_invoker``); a plain ``ProbeInvoker`` gets id and slot only."""

    def invoke_with_target(
        self, target_id: str, scheduled_at: str, target: Mapping[str, Any] | None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class _Job:
    target_id: str
    scheduled_at: str
    new: bool  # no state item yet: claim the first-dispatch stub before invoking


@dataclass(frozen=True, slots=True)
class _Slotted:
    """What ``core.schedule`` needs of a target (also for malformed items)."""

    target_id: str
    interval_s: int


@dataclass
class DispatchReport:
    window: tuple[str, str] | None = None
    targets: int = 0
    due: int = 0
    dispatched: int = 0
    failed: int = 0
    malformed: int = 0
    disabled: int = 0
    claimed_elsewhere: int = 0  # new targets another run dispatched first
    alerts_resent: int = 0
    elapsed_ms: float = 0.0
    phase_ms: dict[str, float] = field(default_factory=dict)  # claim/read/plan/invoke/...
    invoked: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "window": list(self.window) if self.window else None,
            "targets": self.targets,
            "due": self.due,
            "dispatched": self.dispatched,
            "failed": self.failed,
            "malformed": self.malformed,
            "disabled": self.disabled,
            "claimed_elsewhere": self.claimed_elsewhere,
            "alerts_resent": self.alerts_resent,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "phase_ms": {k: round(v, 1) for k, v in self.phase_ms.items()},
        }


class Dispatcher:
    def __init__(
        self,
        *,
        targets: DynamoTargetStore,
        states: DynamoStateStore,
        invoker: ProbeInvoker,
        sink: AlertSink | None,
        workers: int = 64,
        scan_segments: int = SCAN_SEGMENTS,
        clock: Callable[[], float] = time.time,
        log: Any = logger,
        degraded_share: float = DEGRADED_SHARE,
        degraded_min: int = DEGRADED_MIN_COUNT,
    ) -> None:
        self._degraded = (degraded_share, degraded_min)
        self._targets = targets
        self._states = states
        self._invoker = invoker
        self._send: Callable[[str, str, Mapping[str, Any] | None], None]
        if isinstance(invoker, _CarriesTarget):
            self._send = invoker.invoke_with_target
        else:
            self._send = lambda target_id, scheduled_at, _item: invoker.invoke(
                target_id, scheduled_at
            )
        self._sink = sink
        self._workers = max(1, workers)
        self._segments = max(1, scan_segments)
        self._clock = clock
        self._log = log

    @property
    def invoker(self) -> ProbeInvoker:
        return self._invoker

    # ------------------------------------------------------------------ the run
    def run(self, tick: datetime, *, lease_s: float = 62.0) -> DispatchReport:
        t0 = time.perf_counter()
        report = DispatchReport()
        lap = _Lap(report.phase_ms)
        window = self._claim(tick, lease_s)
        lap("claim")
        if window is None:
            self._log.info(
                "nothing to dispatch: window already claimed",
                extra={"tick": schedule.format_ts(tick)},
            )
            report.elapsed_ms = (time.perf_counter() - t0) * 1000
            return report
        start, end = window
        report.window = (schedule.format_ts(start), schedule.format_ts(end))

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="read") as pool:
            items_f = pool.submit(self._read_targets)
            states_f = pool.submit(
                lambda: list(
                    self._states.iter_raw(segments=self._segments, projection=_STATE_PROJECTION)
                )
            )
            (items, wire), state_items = items_f.result(), states_f.result()
        lap("read")

        states = {
            str(s["target_id"]): s
            for s in state_items
            if isinstance(s.get("target_id"), str) and not is_bookkeeping_id(s["target_id"])
        }
        jobs = self.plan(items, states, start, end, report)
        lap("plan")
        self._dispatch(jobs, report, wire)
        lap("invoke")
        self._record_ticks(report)
        report.alerts_resent = self._resend_pending(states.values())
        self._settle_episode(items, end)
        self._states.complete_window(*report.window)
        lap("finish")
        report.elapsed_ms = (time.perf_counter() - t0) * 1000
        return report

    # ------------------------------------------------------------------ 1. claim
    def _claim(self, tick: datetime, lease_s: float) -> tuple[datetime, datetime] | None:
        for _ in range(_CLAIM_ATTEMPTS):
            mark = self._states.get_dispatcher_mark()
            last_end = _parse(mark.done_until)
            if (
                not mark.claim_done
                and mark.claim_start is not None
                and self._clock() > mark.lease_until
            ):
                # The run that claimed the last window died before finishing it: redo it.
                self._log.warning(
                    "previous dispatcher run did not finish its window; dispatching it again",
                    extra={"claim_start": mark.claim_start, "done_until": mark.done_until},
                )
                claimed_end = last_end
                last_end = _parse(mark.claim_start)
                if claimed_end is not None and claimed_end > tick:
                    tick = claimed_end  # a redelivered old event still redoes it all
            window = schedule.tick_window(last_end, tick)
            if window is None:
                return None
            start, end = window
            if self._states.claim_window(
                mark, schedule.format_ts(start), schedule.format_ts(end), lease_s
            ):
                return window
        self._log.warning("could not claim a dispatch window: too much contention")
        return None

    # ------------------------------------------------------------------ 2. read
    def _read_targets(self) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        """The target items decoded (for planning) and as scanned, by target id (for
        the probe events). One Scan."""
        items: list[dict[str, Any]] = []
        wire: dict[str, dict[str, Any]] = {}
        for item, raw in self._targets.iter_items_and_wire():
            items.append(item)
            key = raw.get("target_id")
            if isinstance(key, dict) and isinstance(key.get("S"), str):
                wire[key["S"]] = raw
        return items, wire

    # ------------------------------------------------------------------ 3. plan (pure)
    def plan(
        self,
        items: Iterable[Mapping[str, Any]],
        states: Mapping[str, Mapping[str, Any]],
        start: datetime,
        end: datetime,
        report: DispatchReport,
    ) -> list[_Job]:
        from smtpwatch.core.target import Target, check_aws_limits

        jobs: list[_Job] = []
        for item in items:
            report.targets += 1
            target_id = item.get("target_id")
            if not isinstance(target_id, str) or not target_id or is_bookkeeping_id(target_id):
                report.malformed += 1
                self._log.warning("target item without a usable target_id: skipped")
                continue
            try:
                target, unknown = Target.from_item(item, strict=False)
                check_aws_limits(target)
                slotted = _Slotted(target.target_id, target.interval_s)
                enabled = target.enabled
            except Exception as exc:  # any bad value: the probe reports it as `config`
                report.malformed += 1
                self._log.warning(
                    "malformed target item: dispatched for a config result",
                    extra={"target_id": target_id, "error": str(exc)[:300]},
                )
                slotted = _Slotted(target_id, DEFAULT_INTERVAL_S)
                enabled = item.get("enabled") not in (False, "false", "False", 0)
                unknown = []
            if unknown:
                self._log.info(
                    "target item has unknown attributes (ignored)",
                    extra={"target_id": target_id, "unknown": unknown},
                )
            if not enabled:
                report.disabled += 1
                continue
            state = states.get(target_id)
            probed = state is not None
            slot = schedule.dispatch_slot(slotted, start, end, probed=probed)
            if slot is None:
                continue
            scheduled_at = schedule.format_ts(slot)
            if state is not None and state.get("first_scheduled_at") == scheduled_at:
                continue  # its first dispatch (as a new target) was this very slot
            jobs.append(_Job(target_id, scheduled_at, new=not probed))
        report.due = len(jobs)
        return jobs

    # ------------------------------------------------------------------ 4. invoke
    def _dispatch(
        self, jobs: list[_Job], report: DispatchReport, wire: Mapping[str, Mapping[str, Any]]
    ) -> None:
        if not jobs:
            return
        logged = 0

        def one(job: _Job) -> tuple[_Job, str]:
            if job.new and not self._states.claim_first_dispatch(job.target_id, job.scheduled_at):
                return job, "claimed"
            try:
                self._send(job.target_id, job.scheduled_at, wire.get(job.target_id))
            except Exception:
                if job.new:  # let the next tick try it as a new target again
                    with contextlib.suppress(Exception):
                        self._states.release_first_dispatch(job.target_id, job.scheduled_at)
                raise
            return job, "ok"

        with ThreadPoolExecutor(
            max_workers=min(self._workers, len(jobs)), thread_name_prefix="invoke"
        ) as pool:
            futures = [(job, pool.submit(one, job)) for job in jobs]
            for job, fut in futures:
                try:
                    _, outcome = fut.result()
                except Exception as exc:
                    report.failed += 1
                    if logged < _MAX_LOGGED_FAILURES:
                        logged += 1
                        self._log.error(
                            "probe invoke failed",
                            extra={
                                "target_id": job.target_id,
                                "scheduled_at": job.scheduled_at,
                                "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                            },
                        )
                    continue
                if outcome == "claimed":
                    report.claimed_elsewhere += 1
                    report.due -= 1
                else:
                    report.dispatched += 1
                    report.invoked.append((job.target_id, job.scheduled_at))

    # ------------------------------------------------------------------ 5. degraded counters
    def _record_ticks(self, report: DispatchReport) -> None:
        buckets = Counter(tick_bucket(s) for _, s in report.invoked)
        for bucket, count in buckets.items():
            try:
                self._states.record_dispatched(bucket, count)
            except Exception as exc:  # the gate then stays open: alerts flow as usual
                self._log.warning(
                    "could not record the tick's dispatched count",
                    extra={"bucket": bucket, "error": f"{type(exc).__name__}: {exc}"},
                )

    # ------------------------------------------------------------------ 7. degraded episode
    def _settle_episode(self, items: Iterable[Mapping[str, Any]], tick: datetime) -> None:
        from smtpwatch.adapters.tick_gate import settle_episode
        from smtpwatch.core.target import Target

        by_id = {str(item.get("target_id")): item for item in items}

        def target(target_id: str) -> Target | None:
            try:
                return Target.from_item(by_id[target_id], strict=False)[0]
            except Exception:  # gone or malformed: nothing to announce for it
                return None

        share, min_count = self._degraded
        try:
            settle_episode(
                self._states,
                [self._sink] if self._sink is not None else [],
                targets=target,
                tick=tick,
                now=datetime.fromtimestamp(self._clock(), UTC),
                share=share,
                min_count=min_count,
            )
        except Exception as exc:  # the probes' own gate still stops holding in time
            self._log.warning(
                "monitor-degraded housekeeping failed",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )

    # ------------------------------------------------------------------ 6. pending alerts
    def _resend_pending(self, states: Iterable[Mapping[str, Any]]) -> int:
        if self._sink is None:
            return 0
        from smtpwatch.service.publish import flush_pending

        now = self._clock()
        sent = 0
        for raw in states:
            pending = raw.get("pending_alert")
            if not isinstance(pending, dict):
                continue
            created = _parse(str(pending.get("created_at") or ""))
            if created is not None and now - created.timestamp() < PENDING_ALERT_AGE_S:
                continue  # its own probe may still be publishing it
            try:
                state = self._states.get_state(str(raw.get("target_id")))
                if state is None or not state.pending_alert:
                    continue  # sent meanwhile
                flushed = flush_pending(
                    state, [self._sink], self._states, now=datetime.fromtimestamp(now, UTC)
                )
            except Exception as exc:  # stays pending: the next run (or the probe) retries
                self._log.warning(
                    "could not resend a pending alert",
                    extra={
                        "target_id": raw.get("target_id"),
                        "error": f"{type(exc).__name__}: {exc}",
                    },
                )
                continue
            if flushed.delivered and flushed.alert is not None:
                sent += 1
                self._log.info(
                    "resent a pending alert",
                    extra={
                        "target_id": state.target_id,
                        "alert_id": flushed.alert.alert_id,
                        "event": flushed.alert.event.value,
                    },
                )
        return sent


# ---------------------------------------------------------------------- the Lambda entry


class _LazySnsSink:
    """The SNS client is built only when an alert is actually resent (cold start)."""

    def __init__(self, clients: Any, topic_arn: str) -> None:
        self._clients = clients
        self._topic_arn = topic_arn
        self._sink: AlertSink | None = None

    def send(self, alert: Alert) -> None:
        if self._sink is None:
            from smtpwatch.adapters.sns import SnsAlertSink

            self._sink = SnsAlertSink(self._clients("sns"), self._topic_arn)
        self._sink.send(alert)


@functools.cache
def _runtime() -> tuple[Settings, Dispatcher]:
    """Settings and clients, once per container (tests clear the cache)."""
    from botocore.config import Config

    from smtpwatch.adapters.aws_clients import Clients
    from smtpwatch.adapters.lambda_invoker import DirectLambdaInvoker, LambdaProbeInvoker

    settings = load_settings()
    require(settings, "TARGETS_TABLE", "STATE_TABLE", "PROBE_FUNCTION_NAME")
    config = Config(
        max_pool_connections=settings.dispatch_workers + 2 * SCAN_SEGMENTS,
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=3,
        read_timeout=10,
    )
    clients = Clients(config)
    ddb = clients("dynamodb")
    lambda_client = clients("lambda")
    invoker: ProbeInvoker
    if settings.invoke_mode == "direct":
        invoker = DirectLambdaInvoker(lambda_client, clients.session, settings.probe_function_name)
    else:
        invoker = LambdaProbeInvoker(lambda_client, settings.probe_function_name)
    sink = _LazySnsSink(clients, settings.alert_topic_arn) if settings.alert_topic_arn else None
    dispatcher = Dispatcher(
        targets=DynamoTargetStore(ddb, settings.targets_table, scan_segments=SCAN_SEGMENTS),
        states=DynamoStateStore(ddb, settings.state_table),
        invoker=invoker,
        sink=sink,
        workers=settings.dispatch_workers,
        degraded_share=settings.degraded_share,
        degraded_min=settings.degraded_min_probes,
    )
    return settings, dispatcher


def tick_time(event: Mapping[str, Any] | None, now: float) -> datetime:
    """The tick: the scheduled event's ``time`` (the same for a redelivered event), or now."""
    raw = (event or {}).get("time")
    if isinstance(raw, str) and raw:
        try:
            return schedule.parse_ts(raw)
        except (ValueError, IndexError):
            logger.warning("event time is not ISO-8601; using the clock", extra={"time": raw})
    return datetime.fromtimestamp(now, UTC)


@traced
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _, dispatcher = _runtime()
    remaining_s = 60.0
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining_s = context.get_remaining_time_in_millis() / 1000
    report = dispatcher.run(tick_time(event, time.time()), lease_s=remaining_s + 2)
    summary = report.summary()
    logger.info("dispatch finished", extra=summary)
    metrics.add_metric(name="Due", unit=MetricUnit.Count, value=report.due)
    metrics.add_metric(name="Dispatched", unit=MetricUnit.Count, value=report.dispatched)
    metrics.add_metric(name="DispatchFailed", unit=MetricUnit.Count, value=report.failed)
    metrics.add_metric(name="Malformed", unit=MetricUnit.Count, value=report.malformed)
    metrics.add_metric(name="AlertsResent", unit=MetricUnit.Count, value=report.alerts_resent)
    metrics.add_metric(name="DispatchMs", unit=MetricUnit.Milliseconds, value=report.elapsed_ms)
    return summary


class _Lap:
    """Milliseconds since the previous lap, recorded under a phase name."""

    def __init__(self, into: dict[str, float]) -> None:
        self._into = into
        self._last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self._into[name] = (now - self._last) * 1000
        self._last = now


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return schedule.parse_ts(text)
    except (ValueError, IndexError):
        return None
