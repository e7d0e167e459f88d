"""`smtpwatch history TARGET [--since 24h|ISO]`: uptime, timings and recent failures.

Uptime is the share of checks that passed (``ok`` or ``warning``; ``unknown`` is left
out), counting the passing checks a backend that stores one result per
``PassingResultSeconds`` did not store (``implied_passing``). Percentiles are
nearest-rank over the checks that reached each phase.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from smtpwatch.cli.backend import add_backend_arguments, open_backend
from smtpwatch.cli.main import UsageError
from smtpwatch.cli.option_values import parse_since
from smtpwatch.cli.output import add_json_argument, format_ms, print_json, render_table
from smtpwatch.core.result import PHASES, ProbeResult, Status
from smtpwatch.core.safe_text import for_terminal
from smtpwatch.core.schedule import format_ts, parse_ts, utc_now

RECENT_FAILURES = 10
MAX_FAILURES = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target_id", metavar="TARGET", help="the target's id")
    parser.add_argument(
        "--since",
        default="24h",
        metavar="WHEN",
        help="a duration back from now (30m, 24h, 7d) or an ISO-8601 time (default: 24h)",
    )
    parser.add_argument(
        "--failures",
        type=int,
        default=RECENT_FAILURES,
        metavar="N",
        help=f"how many recent failures to list (default: {RECENT_FAILURES})",
    )
    add_backend_arguments(parser)
    parser.add_argument(
        "--passing-result-seconds",
        type=int,
        metavar="N",
        help="with --stack/--table: the stack's PassingResultSeconds (a passing check that "
        "changes nothing is stored once per N seconds; 0 = every check), used to count the "
        "passing checks without a stored result (default: the stack's output, else 3600)",
    )
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    now = utc_now()
    since = parse_since(args.since, now=now)
    if not 0 <= args.failures <= MAX_FAILURES:
        raise UsageError(f"--failures: must be 0 to {MAX_FAILURES}, not {args.failures}")
    backend = open_backend(args, need=("targets", "results"), create=False)
    try:
        item = backend.targets.get_item(args.target_id)
        # With sampling, the passes at the start of the window are implied by the
        # stored result before it (at most one period earlier): read from there.
        first = since - timedelta(seconds=max(0, backend.passing_result_s))
        fetched = list(backend.results.iter_results(args.target_id, since=format_ts(first)))
        earlier, results = _split_at(fetched, since)
        if item is None and not results:
            raise UsageError(f"no target {args.target_id!r} in {backend.description}")
    finally:
        backend.close()
    report = summarize(
        args.target_id,
        results,
        since=since,
        until=now,
        failures=args.failures,
        interval_s=target_interval(item),
        passing_result_s=backend.passing_result_s,
        before=earlier[-1] if earlier else None,
    )
    if args.json:
        print_json(report)
    else:
        print(render_text(report, item))
    return 0


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


def _split_at(
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
    recent = [
        {
            "started_at": r.started_at,
            "kind": r.error.kind.value if r.error else None,
            "phase": r.error.phase.value if r.error and r.error.phase else None,
            "smtp_code": r.error.smtp_code if r.error else None,
            "message": r.error.message if r.error else "",
        }
        for r in reversed(failed[-failures:] if failures else [])
    ]
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
        # Timings of passing checks: a refused connection is fast and would flatter p50.
        "total_ms": _stats(r.total_ms for r in passed),
        "phases_ms": phases,
        "failure_kinds": kinds,
        "recent_failures": recent,
    }


def render_text(report: dict[str, Any], item: dict[str, Any] | None) -> str:
    lines: list[str] = []
    name = ""
    if item:
        host = item.get("host", "")
        name = f" ({item.get('name') or host}, {host})" if item.get("name") else f" ({host})"
    head = f"{report['target_id']}{name}: {report['since']} .. {report['until']}"
    lines.append(for_terminal(head, one_line=True))  # a stored name is one line here
    if not report["checks"] and not report.get("implied_passing_checks"):
        lines.append("no checks in this period")
        return "\n".join(lines)
    c = report["counts"]
    uptime = report["uptime_percent"]
    uptime_text = "n/a" if uptime is None else f"{uptime:.2f}%"
    stored = report["checks"]
    implied = report.get("implied_passing_checks", 0)
    tally = f"{c['ok']} ok, {c['warning']} warning, {c['critical']} critical" + (
        f", {c['unknown']} unknown" if c["unknown"] else ""
    )
    last = (
        f"last: {report['last_status']} at {report['last_check_at']}"
        if stored
        else "no stored result in this period"
    )
    if implied:
        total_checks = stored + implied
        lines.append(
            f"uptime {uptime_text} over {total_checks:,} check{'s' if total_checks != 1 else ''} "
            f"({stored:,} stored: {tally}; {implied:,} passing "
            f"check{'s' if implied != 1 else ''} not stored, see PassingResultSeconds); {last}"
        )
    else:
        lines.append(
            f"uptime {uptime_text} over {stored} check{'s' if stored != 1 else ''} "
            f"({tally}); {last}"
        )
    total = report["total_ms"]
    lines.append("")
    if implied:
        lines.append(
            f"timings from the {stored:,} stored result{'s' if stored != 1 else ''} "
            f"(a passing check that changes nothing is stored once per "
            f"{report['passing_result_seconds']:,} s)"
        )
    rows = [("total (passing)", total), *report["phases_ms"].items()]
    lines.append(
        render_table(
            ("PHASE", "N", "P50", "P95", "MAX"),
            (
                (name, s["count"], format_ms(s["p50"]), format_ms(s["p95"]), format_ms(s["max"]))
                for name, s in rows
            ),
        )
    )
    if report["failure_kinds"]:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(report["failure_kinds"].items()))
        lines.append("")
        lines.append(f"failures: {kinds}")
    if report["recent_failures"]:
        lines.append("")
        lines.append("recent failures (newest first):")
        lines.append(
            render_table(
                ("WHEN", "KIND", "PHASE", "MESSAGE"),
                (
                    (f["started_at"], f["kind"], f["phase"], f["message"])
                    for f in report["recent_failures"]
                ),
                max_width=80,
            )
        )
    return "\n".join(lines)
