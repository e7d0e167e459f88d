"""The dispatcher: once per tick, invoke the probe of every target due, exactly once.

A run claims a window of time ``(start, end]`` in its bookkeeping, reads the target and
state items, plans the due targets (``dispatch_plan``), invokes their probes from a
thread pool, counts them per tick, resends stale pending alerts and settles the
monitor-degraded episode; several locations: ``dispatch_locations``. Why each step is as
it is: docs/internals.md#the-dispatchers-run.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smtpwatch.core import schedule
from smtpwatch.ports import AlertSink, ProbeInvoker
from smtpwatch.service.dispatch_plan import DispatchReport, Job, plan
from smtpwatch.service.dispatch_ports import (
    CarriesTarget,
    DeployedLocations,
    DispatchBookkeeping,
    EpisodeHousekeeping,
    StateScan,
    TargetScan,
    is_bookkeeping_id,
)
from smtpwatch.service.gate import tick_bucket

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = ["SCAN_SEGMENTS", "DispatchReport", "Dispatcher"]

PENDING_ALERT_AGE_S = 60  # younger pending alerts may still be in their probe's hands
SCAN_SEGMENTS = 8
_MAX_LOGGED_FAILURES = 20  # one line each; the rest only counted
_CLAIM_ATTEMPTS = 5
# What planning needs of a state item; the full item (last_result is most of it) only
# for the rare target with a stale pending alert.
_STATE_PROJECTION = ("target_id", "first_scheduled_at", "pending_alert")


class Dispatcher:
    """One dispatcher run per tick (``run``). ``settle``: the monitor-degraded
    housekeeping after dispatching (None: none). ``locations``: the deployed locations
    when there are several (None: the home location only, ``invoker``)."""

    def __init__(
        self,
        *,
        targets: TargetScan,
        states: StateScan,
        bookkeeping: DispatchBookkeeping,
        invoker: ProbeInvoker,
        sink: AlertSink | None,
        settle: EpisodeHousekeeping | None = None,
        locations: DeployedLocations | None = None,
        workers: int = 64,
        scan_segments: int = SCAN_SEGMENTS,
        clock: Callable[[], float] = time.time,
        log: Any = None,
    ) -> None:
        self._targets = targets
        self._states = states
        self._books = bookkeeping
        self._invoker = invoker
        self._send: Callable[[str, str, Mapping[str, Any] | None], None]
        if isinstance(invoker, CarriesTarget):
            self._send = invoker.invoke_with_target
        else:
            self._send = lambda target_id, scheduled_at, _item: invoker.invoke(
                target_id, scheduled_at
            )
        self._sink = sink
        self._settle = settle
        self._locations = locations if locations and len(locations.names) > 1 else None
        self._workers = max(1, workers)
        self._segments = max(1, scan_segments)
        self._clock = clock
        self._log = log if log is not None else logging.getLogger("smtpwatch.dispatch")

    @property
    def invoker(self) -> ProbeInvoker:
        return self._invoker

    @property
    def locations(self) -> DeployedLocations | None:
        return self._locations

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

        projection: tuple[str, ...] = _STATE_PROJECTION
        if self._locations is not None:
            from smtpwatch.service.dispatch_locations import SLOT_PROJECTION

            projection += SLOT_PROJECTION
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="read") as pool:
            items_f = pool.submit(self._read_targets)
            states_f = pool.submit(
                lambda: list(self._states.iter_raw(segments=self._segments, projection=projection))
            )
            (items, wire), state_items = items_f.result(), states_f.result()
        lap("read")

        states = {
            str(s["target_id"]): s
            for s in state_items
            if isinstance(s.get("target_id"), str) and not is_bookkeeping_id(s["target_id"])
        }
        deployed = () if self._locations is None else self._locations.names
        jobs = plan(items, states, start, end, report, self._log, deployed)
        lap("plan")
        if self._locations is not None:
            # First: a silent location's verdict waits on no dispatch (and is rarely due).
            self._sweep(state_items, end, report)
            lap("sweep")
        self._dispatch(jobs, report, wire)
        lap("invoke")
        if self._locations is not None:
            from smtpwatch.service.dispatch_locations import record_location_ticks

            record_location_ticks(self._locations, report, end, self._log)
        self._record_ticks(report)
        report.alerts_resent = self._resend_pending(states.values())
        self._settle_episode(items, end)
        self._books.complete_window(*report.window)
        lap("finish")
        report.elapsed_ms = (time.perf_counter() - t0) * 1000
        return report

    # ------------------------------------------------------------------ 1. claim
    def _claim(self, tick: datetime, lease_s: float) -> tuple[datetime, datetime] | None:
        for _ in range(_CLAIM_ATTEMPTS):
            mark = self._books.get_dispatcher_mark()
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
            if self._books.claim_window(
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

    # ------------------------------------------------------------------ 4. invoke
    def _dispatch(
        self, jobs: list[Job], report: DispatchReport, wire: Mapping[str, Mapping[str, Any]]
    ) -> None:
        if not jobs:
            return
        if self._locations is not None:
            from smtpwatch.service.dispatch_locations import fan_out

            fan_out(
                jobs,
                deployed=self._locations,
                books=self._books,
                wire=wire,
                report=report,
                workers=self._workers,
                correlation_id=self._correlation_id(),
                log=self._log,
            )
            return
        logged = 0

        def one(job: Job) -> tuple[Job, str]:
            if job.new and not self._books.claim_first_dispatch(job.target_id, job.scheduled_at):
                return job, "claimed"
            try:
                self._send(job.target_id, job.scheduled_at, wire.get(job.target_id))
            except Exception:
                if job.new:  # let the next tick try it as a new target again
                    with contextlib.suppress(Exception):
                        self._books.release_first_dispatch(job.target_id, job.scheduled_at)
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

    # ------------------------------------------------------------------ 3b. expired slots
    def _sweep(
        self, state_items: Iterable[Mapping[str, Any]], tick: datetime, report: DispatchReport
    ) -> None:
        from smtpwatch.service.dispatch_locations import sweep

        assert self._locations is not None
        try:
            sweep(
                state_items,
                tick,
                deployed=self._locations,
                report=report,
                correlation_id=self._correlation_id(),
                workers=self._workers,
                log=self._log,
            )
        except Exception as exc:  # the slots stay open: the next tick sends them
            self._log.error("the sweep of expired slots failed", extra={"error": repr(exc)})

    def _correlation_id(self) -> str | None:
        cid = getattr(self._invoker, "correlation_id", None)
        return cid if isinstance(cid, str) else None

    # ------------------------------------------------------------------ 5. degraded counters
    def _record_ticks(self, report: DispatchReport) -> None:
        buckets = Counter(tick_bucket(s) for _, s in report.invoked)
        for bucket, count in buckets.items():
            try:
                self._books.record_dispatched(bucket, count)
            except Exception as exc:  # the gate then stays open: alerts flow as usual
                self._log.warning(
                    "could not record the tick's dispatched count",
                    extra={"bucket": bucket, "error": f"{type(exc).__name__}: {exc}"},
                )

    # ------------------------------------------------------------------ 7. degraded episode
    def _settle_episode(self, items: Iterable[Mapping[str, Any]], tick: datetime) -> None:
        if self._settle is None:
            return
        from smtpwatch.core.target import Target

        by_id = {str(item.get("target_id")): item for item in items}

        def target(target_id: str) -> Target | None:
            try:
                return Target.from_item(by_id[target_id], strict=False)[0]
            except Exception:  # gone or malformed: nothing to announce for it
                return None

        try:
            self._settle(targets=target, tick=tick, now=datetime.fromtimestamp(self._clock(), UTC))
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
