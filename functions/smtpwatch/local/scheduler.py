"""The local scheduler behind `smtpwatch run`: due targets, a bounded pool, one check each.

Each tick (``poll_s``) re-reads the targets, dispatches those with a slot due
(``core.schedule``) to ``service.check.run_check`` on a pool of threads, and does the
monitor-degraded housekeeping (``local.windows``). ``sweep()`` (``run --once``) checks
every enabled target once, now. ``shutdown`` stops dispatching and closes the database.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from smtpwatch.core.errors import ConfigError
from smtpwatch.core.schedule import dispatch_slot, format_ts, parse_ts, utc_now
from smtpwatch.local.pool import DaemonPool
from smtpwatch.local.reports import CheckReport, Listener, NamedSink, QuietListener, SweepSummary
from smtpwatch.local.windows import MinuteWindows
from smtpwatch.ports import AlertSink, SecretResolver
from smtpwatch.service.check import AlertGate, CheckDeps, default_probe_fn, run_check
from smtpwatch.service.sweep_gate import SweepGate

if TYPE_CHECKING:
    from smtpwatch.core.probe import ProbeEnvironment
    from smtpwatch.core.target import Target
    from smtpwatch.local.sqlite_store import SqliteStore

__all__ = ["DEFAULT_CONCURRENCY", "LocalScheduler"]

log = logging.getLogger("smtpwatch.scheduler")

DEFAULT_CONCURRENCY = 32
RETENTION_EVERY_S = 3600.0


class LocalScheduler:
    def __init__(
        self,
        store: SqliteStore,
        *,
        sinks: Sequence[tuple[str, AlertSink]] = (),
        secrets: SecretResolver | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        listener: Listener | None = None,
        env: ProbeEnvironment | None = None,
        now: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        poll_s: float = 1.0,
        retention_days: float | None = 30.0,
    ) -> None:
        self.store = store
        self.listener: Listener = listener or QuietListener()
        self._sinks: list[AlertSink] = [NamedSink(n, s, self.listener) for n, s in sinks]
        self._pool = DaemonPool(concurrency)
        self._now = now
        self._poll_s = poll_s
        self._retention_days = retention_days
        self._deps = CheckDeps(
            states=store,
            results=store,
            sinks=self._sinks,
            secrets=secrets,
            probe_fn=default_probe_fn(env),
            now=now,
            sleep=sleep,
        )
        self._lock = threading.Lock()
        self._targets: dict[str, tuple[str, Target | None]] = {}
        self._last_slot: dict[str, str] = store.latest_scheduled()
        self._in_flight: set[str] = set()
        self._windows = MinuteWindows(
            sinks=self._sinks, states=store, targets=self._known_targets, now=now, lock=self._lock
        )
        self._stopping = threading.Event()
        self._last_prune = 0.0

    @property
    def concurrency(self) -> int:
        return self._pool.workers

    # -- targets ---------------------------------------------------------------------

    def load_targets(self) -> list[Target]:
        """Every valid target, re-read from the store. Items are re-validated only when
        their stored text changed; an invalid item is reported once per version."""
        from smtpwatch.core.target import Target

        rows = self.store.item_texts()
        fresh: dict[str, tuple[str, Target | None]] = {}
        for target_id, text in rows:
            cached = self._targets.get(target_id)
            if cached is not None and cached[0] == text:
                fresh[target_id] = cached
                continue
            target: Target | None = None
            try:
                target, unknown = Target.from_item(json.loads(text), strict=False)
                if unknown:
                    self.listener.notice(
                        f"target {target_id}: ignoring unknown attribute(s) {', '.join(unknown)}"
                    )
            except (ConfigError, ValueError) as exc:
                self.listener.notice(f"target {target_id}: not checked: {exc}")
            fresh[target_id] = (text, target)
        self._targets = fresh
        return [t for _, t in fresh.values() if t is not None]

    # -- run --once ------------------------------------------------------------------

    def sweep(
        self,
        *,
        stop: threading.Event | None = None,
        abandon: threading.Event | None = None,
        grace_s: float = 5.0,
    ) -> SweepSummary:
        """Check every enabled target once now (one ``scheduled_at``), due or not."""
        started = time.monotonic()
        now = self._now().replace(microsecond=0)
        scheduled_at = format_ts(now)
        targets = [t for t in self.load_targets() if t.enabled]
        gate = SweepGate(len(targets), tick=scheduled_at, sinks=self._sinks, now=self._now)
        for target in targets:
            gate.expect(target.target_id)
        summary = SweepSummary(scheduled_at)
        futures = [self._submit(t, self._once_slot(t, now), gate) for t in targets]
        pending = set(futures)
        stop = stop or self._stopping
        while pending and not stop.is_set():
            for future in list(pending):
                if future.done():
                    pending.discard(future)
            if pending:
                stop.wait(0.05)
        if pending:
            summary.interrupted = True
            summary.abandoned = self.shutdown(grace_s=grace_s, abandon=abandon)
        else:
            summary.degraded_alert = gate.finish()
        for future in futures:
            if future.done() and not future.cancelled():
                summary.reports.append(future.result())
        summary.seconds = time.monotonic() - started
        return summary

    def _once_slot(self, target: Target, now: datetime) -> str:
        """``now``, or one second after the target's last check when that is not
        earlier (two sweeps in one second): an equal ``scheduled_at`` would be taken
        for a redelivery and skipped."""
        last = self._last_slot.get(target.target_id)
        try:
            if last is not None and parse_ts(last) >= now:
                return format_ts(parse_ts(last) + timedelta(seconds=1))
        except ValueError:
            pass
        return format_ts(now)

    # -- run (continuous) ----------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set (the caller then calls ``shutdown``)."""
        while not stop.is_set() and not self._stopping.is_set():
            try:
                self.tick()
            except sqlite3.Error as exc:  # e.g. the disk is full: say so, keep trying
                self.listener.notice(f"store error: {exc}")
            stop.wait(self._poll_s)

    def tick(self) -> int:
        """One scheduling round: dispatch what is due. Returns how many were dispatched."""
        now = self._now()
        targets = self.load_targets()
        due: list[tuple[Target, str]] = []
        with self._lock:
            for target in targets:
                if not target.enabled or target.target_id in self._in_flight:
                    continue
                slot = self._due_slot(target, now)
                if slot is not None:
                    due.append((target, slot))
        # Close finished minutes first: whether the minute before was degraded (the
        # episode goes on) is then known when this minute's gate is made, as on AWS.
        self._windows.close(now)
        self._windows.release_held(now)
        # Count the whole batch into its gate before any check can report a failure:
        # the degraded share is then judged against every target of the minute so far.
        windows = [self._windows.join(slot, target.target_id) for target, slot in due]
        for (target, slot), window in zip(due, windows, strict=True):
            self._submit(target, slot, window)
        self._windows.close(now)
        self._maybe_prune(now)
        return len(due)

    def _due_slot(self, target: Target, now: datetime) -> str | None:
        last = self._last_slot.get(target.target_id)
        start = None
        if last is not None:
            try:
                start = parse_ts(last)
            except ValueError:
                start = None
        if start is None:
            slot = dispatch_slot(target, now, now, probed=False)
        else:
            slot = dispatch_slot(target, start, now)
        return None if slot is None else format_ts(slot)

    def _known_targets(self) -> dict[str, Target]:
        return {tid: t for tid, (_, t) in self._targets.items() if t is not None}

    def _maybe_prune(self, now: datetime) -> None:
        if not self._retention_days:
            return
        mono = time.monotonic()
        if self._last_prune and mono - self._last_prune < RETENTION_EVERY_S:
            return
        self._last_prune = mono
        cutoff = now.timestamp() - self._retention_days * 86_400
        removed = self.store.prune_results(format_ts(datetime.fromtimestamp(cutoff, UTC)))
        if removed:
            self.listener.notice(
                f"removed {removed} results older than {self._retention_days:g} days"
            )

    # -- checks ----------------------------------------------------------------------

    def _submit(self, target: Target, scheduled_at: str, gate: AlertGate) -> Future[CheckReport]:
        with self._lock:
            self._in_flight.add(target.target_id)
            self._last_slot[target.target_id] = scheduled_at
        deps = dataclasses.replace(self._deps, gate=gate)
        return self._pool.submit(lambda: self._check(target, scheduled_at, deps))

    def _check(self, target: Target, scheduled_at: str, deps: CheckDeps) -> CheckReport:
        report: CheckReport
        try:
            outcome = run_check(target, scheduled_at=scheduled_at, deps=deps)
            report = CheckReport(target, scheduled_at, outcome)
        except sqlite3.ProgrammingError:
            # The database was closed under us: shutting down, this check is abandoned.
            report = CheckReport(target, scheduled_at, None, error="abandoned at shutdown")
            self._release(target, scheduled_at)
            return report
        except Exception as exc:  # a store error or a bug: report it, keep scheduling
            log.exception("check failed", extra={"target_id": target.target_id})
            report = CheckReport(target, scheduled_at, None, error=f"{type(exc).__name__}: {exc}")
        self._release(target, scheduled_at)
        if not self._stopping.is_set() or report.outcome is not None:
            try:
                self.listener.check_done(report)
            except Exception:  # output trouble (closed pipe) must not kill the worker
                log.exception("listener failed")
        return report

    def _release(self, target: Target, scheduled_at: str) -> None:
        with self._lock:
            self._in_flight.discard(target.target_id)
            self._windows.check_finished(scheduled_at)

    # -- stop ------------------------------------------------------------------------

    def in_flight(self) -> int:
        return self._pool.active()

    def shutdown(self, *, grace_s: float = 5.0, abandon: threading.Event | None = None) -> int:
        """Stop: drop queued checks, give those running ``grace_s`` (cut short when
        ``abandon`` is set, e.g. by a second Ctrl-C), close the database. Returns the
        number of checks abandoned (their targets are due again at the next start)."""
        if self._stopping.is_set():
            return 0
        self._stopping.set()
        self._pool.shutdown(cancel_queued=True)
        deadline = time.monotonic() + max(0.0, grace_s)
        while self._pool.active() and time.monotonic() < deadline:
            if abandon is not None and abandon.is_set():
                break
            self._pool.wait_idle(min(0.1, max(0.0, deadline - time.monotonic())))
        abandoned = self._pool.active()
        self.store.close()  # waits for a write in progress; later writes fail cleanly
        return abandoned
