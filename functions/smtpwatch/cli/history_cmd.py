"""`smtpwatch history TARGET [--since 24h|ISO]`: uptime, timings and recent failures.

Uptime counts a check as up when the target passed (``ok`` or ``warning``); ``unknown``
results (the probe itself crashed) are left out of the ratio — they say nothing about
the server. Percentiles use the nearest-rank method on the checks that reached a phase,
so a phase that never ran (e.g. ``auth`` without login) has no figures.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from smtpwatch.cli.common import (
    add_backend_arguments,
    add_json_argument,
    format_ms,
    open_backend,
    parse_since,
    print_json,
    render_table,
    utc_now,
)
from smtpwatch.cli.main import UsageError
from smtpwatch.core.result import PHASES, ProbeResult, Status
from smtpwatch.core.schedule import format_ts

RECENT_FAILURES = 10


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
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    now = utc_now()
    since = parse_since(args.since, now=now)
    if args.failures < 0:
        raise UsageError("--failures: must be 0 or more")
    backend = open_backend(args, need=("targets", "results"), create=False)
    try:
        item = backend.targets.get_item(args.target_id)
        results = list(backend.results.iter_results(args.target_id, since=format_ts(since)))
        if item is None and not results:
            raise UsageError(f"no target {args.target_id!r} in {backend.description}")
    finally:
        backend.close()
    report = summarize(args.target_id, results, since=since, until=now, failures=args.failures)
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


def summarize(
    target_id: str,
    results: Sequence[ProbeResult],
    *,
    since: datetime,
    until: datetime,
    failures: int = RECENT_FAILURES,
) -> dict[str, Any]:
    counts = {s.value: 0 for s in Status}
    for r in results:
        counts[r.status.value] += 1
    judged = len(results) - counts["unknown"]
    up = counts["ok"] + counts["warning"]
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
    lines.append(f"{report['target_id']}{name}: {report['since']} .. {report['until']}")
    if not report["checks"]:
        lines.append("no checks in this period")
        return "\n".join(lines)
    c = report["counts"]
    uptime = report["uptime_percent"]
    uptime_text = "n/a" if uptime is None else f"{uptime:.2f}%"
    lines.append(
        f"uptime {uptime_text} over {report['checks']} check{'s' if report['checks'] != 1 else ''} "
        f"({c['ok']} ok, {c['warning']} warning, {c['critical']} critical"
        + (f", {c['unknown']} unknown" if c["unknown"] else "")
        + f"); last: {report['last_status']} at {report['last_check_at']}"
    )
    total = report["total_ms"]
    lines.append("")
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
