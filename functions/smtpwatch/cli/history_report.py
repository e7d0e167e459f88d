"""The history report of one target, computed from its stored results (no I/O).

Uptime is the share of checks that passed (``ok`` or ``warning``; ``unknown`` is left
out), counting the passing checks a backend that stores one result per
``PassingResultSeconds`` did not store (``implied_passing``). Percentiles are
nearest-rank over the checks that reached each phase.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from smtpwatch.core.locations import SILENT, failing_summary
from smtpwatch.core.result import PHASES, ProbeResult, Status
from smtpwatch.core.schedule import format_ts, parse_ts

__all__ = [
    "RECENT_FAILURES",
    "implied_passing",
    "percentile",
    "split_at",
    "summarize",
    "target_interval",
]

RECENT_FAILURES = 10


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (a value that was actually measured); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _stats(values: Iterable[float]) -> dict[str, Any]:
    vals = list(values)
    return {
        "count": len(vals),
        "p50": percentile(vals, 50),
        "p95": percentile(vals, 95),
        "max": max(vals) if vals else None,
    }


def split_at(
    results: Sequence[ProbeResult], since: datetime
) -> tuple[list[ProbeResult], list[ProbeResult]]:
    """(the results that started before ``since``, the rest), each in stored order."""
    earlier: list[ProbeResult] = []
    window: list[ProbeResult] = []
    for r in results:
        try:
            before = parse_ts(r.started_at) < since
        except ValueError:
            before = False
        (earlier if before else window).append(r)
    return earlier, window


def target_interval(item: Mapping[str, Any] | None) -> int | None:
    """The interval the target is probed at, as the dispatcher reads its item (a
    missing interval_s is the default); None without a valid item."""
    if item is None:
        return None
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.target import Target

    try:
        target, _ = Target.from_item(item, strict=False)
    except (ConfigError, TypeError, ValueError):
        return None
    return target.interval_s


def implied_passing(
    results: Sequence[ProbeResult],
    *,
    until: datetime,
    interval_s: int | None,
    passing_result_s: int,
    since: datetime | None = None,
    before: ProbeResult | None = None,
) -> int:
    """How many checks passed and changed nothing without a stored result: 0 when every
    check is stored (P = ``passing_result_s`` = 0) or the interval is unknown.

    Every critical or unknown result and every change is stored, so the slots strictly
    between two stored results, the earlier one not ``critical``, were such checks. For
    the results sorted by ``started_at``: after result i (not ``critical``),
    ``round((t_next - t_i) / interval_s) - 1``, at least 0; after the last one,
    ``floor((until - t_last) / interval_s)``; both capped at ``ceil(P / interval_s)`` (a
    longer gap means the monitor itself did not run); after a ``critical`` result, none.
    ``before``: the last stored result before ``since``; of the passes it implies only
    those at or after ``since`` are counted (the window's first slots)."""
    if passing_result_s <= 0 or not interval_s or interval_s <= 0:
        return 0
    cap = math.ceil(passing_result_s / interval_s)
    start = None if since is None else since.timestamp()
    times: list[tuple[float, Status]] = []
    for r in ([before] if before is not None else []) + list(results):
        try:
            times.append((parse_ts(r.started_at).timestamp(), r.status))
        except ValueError:
            continue  # a result without a readable time cannot place any gap
    times.sort(key=lambda t: t[0])
    implied = 0
    for i, (at, status) in enumerate(times):
        if status is Status.CRITICAL:
            continue  # the check after a failure is always stored
        if i + 1 < len(times):
            slots = round((times[i + 1][0] - at) / interval_s) - 1
        else:
            slots = math.floor((until.timestamp() - at) / interval_s)
        slots = min(max(0, slots), cap)
        if start is not None and at < start:
            # the slots at + k * interval_s that fall before the window
            slots -= min(slots, math.ceil((start - at) / interval_s) - 1)
        implied += slots
    return implied


def summarize(
    target_id: str,
    results: Sequence[ProbeResult],
    *,
    since: datetime,
    until: datetime,
    failures: int = RECENT_FAILURES,
    interval_s: int | None = None,
    passing_result_s: int = 0,
    before: ProbeResult | None = None,
) -> dict[str, Any]:
    """The report over ``results`` (the window's); ``before``: the last stored result
    before ``since``, which implies the passes the window opens with."""
    counts = {s.value: 0 for s in Status}
    for r in results:
        counts[r.status.value] += 1
    implied = implied_passing(
        results,
        until=until,
        interval_s=interval_s,
        passing_result_s=passing_result_s,
        since=since,
        before=before,
    )
    judged = len(results) - counts["unknown"] + implied
    up = counts["ok"] + counts["warning"] + implied
    passed = [r for r in results if r.ok]
    phases: dict[str, Any] = {}
    for phase in PHASES:
        ms = [p.ms for r in results if (p := r.phase(phase)).reached and p.ms is not None]
        if ms:
            phases[phase.value] = _stats(ms)
    failed = [r for r in results if r.status is Status.CRITICAL]
    # A verdict that passed although some of its locations failed (fewer than the quorum).
    partial = [r for r in results if r.status is not Status.CRITICAL and failing_summary(r)]
    recent = [_failure(r) for r in reversed(failed[-failures:] if failures else [])]
    # Checks per location: a verdict counts one check in each location that voted (a
    # result stored before results said where is in none).
    locations: dict[str, int] = {}
    for r in results:
        if r.locations:
            names = [v.location for v in r.locations if v.status != SILENT]
        else:
            names = [r.location] if r.location else []
        for name in names:
            locations[name] = locations.get(name, 0) + 1
    kinds: dict[str, int] = {}
    for r in failed:
        kind = r.error.kind.value if r.error else "?"
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "target_id": target_id,
        "since": format_ts(since),
        "until": format_ts(until),
        "checks": len(results),
        "counts": counts,
        # Checks that passed and changed nothing, so stored no result (P > 0 only).
        "implied_passing_checks": implied,
        "passing_result_seconds": passing_result_s,
        "uptime_percent": None if judged == 0 else round(100.0 * up / judged, 3),
        "first_check_at": results[0].started_at if results else None,
        "last_check_at": results[-1].started_at if results else None,
        "last_status": results[-1].status.value if results else None,
        "last_location": (results[-1].location or None) if results else None,
        "last_locations": [v.to_dict() for v in results[-1].locations] if results else [],
        "locations": locations,
        # Timings of passing checks: a refused connection is fast and would flatter p50.
        "total_ms": _stats(r.total_ms for r in passed),
        "phases_ms": phases,
        "failure_kinds": kinds,
        "recent_failures": recent,
        "partial_failures": len(partial),
        "recent_partial_failures": [
            _failure(r) for r in reversed(partial[-failures:] if failures else [])
        ],
    }


def _failure(r: ProbeResult) -> dict[str, Any]:
    """A failed (or partially failed) check as the report lists it; a verdict of
    several locations adds each location's vote."""
    if r.error is None:  # a partial failure: the first failing location's error
        vote = next((v for v in r.locations if v.failed), None)
        kind, phase = (vote.error, vote.phase) if vote else (None, None)
        code, message = None, (vote.message if vote else None) or ""
    else:
        kind, code, message = r.error.kind.value, r.error.smtp_code, r.error.message
        phase = r.error.phase.value if r.error.phase else None
    return {
        "started_at": r.started_at,
        "status": r.status.value,
        "location": r.location or None,
        "kind": kind,
        "phase": phase,
        "smtp_code": code,
        "message": message,
        "locations_failing": failing_summary(r),
        "locations": [v.to_dict() for v in r.locations],
    }
