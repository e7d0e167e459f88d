"""`smtpwatch history TARGET [--since 24h|ISO]`: uptime, timings and recent failures.

Reads the target's stored results from the backend, computes the report
(``cli.history_report``) and prints it as JSON, or as text with the bar of recent
checks (``cli.check_bar``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from smtpwatch.cli.backend import add_backend_arguments, open_backend
from smtpwatch.cli.check_bar import choose_style, write_bar
from smtpwatch.cli.color import add_color_argument
from smtpwatch.cli.history_report import RECENT_FAILURES, split_at, summarize, target_interval
from smtpwatch.cli.locations_view import (
    VOTE_HEADERS,
    failing_text,
    location_cell,
    vote_cells,
    votes_in,
)
from smtpwatch.cli.main import UsageError
from smtpwatch.cli.option_values import parse_since
from smtpwatch.cli.output import add_json_argument, format_ms, print_json, render_table
from smtpwatch.core.safe_text import for_terminal, guard
from smtpwatch.core.schedule import format_ts, utc_now

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
        metavar="SECONDS",
        help="with --stack/--table: the stack's PassingResultSeconds (a passing check that "
        "changes nothing is stored once per SECONDS; 0 = every check), used to count the "
        "passing checks without a stored result (default: the stack's output, else 3600)",
    )
    add_json_argument(parser)
    add_color_argument(parser)


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
        earlier, results = split_at(fetched, since)
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
        return 0
    out = guard(sys.stdout)
    head, body = text_parts(report, item)
    out.write("\n".join(head) + "\n")
    if results:
        out.write("\n")
        noun = "stored checks" if report.get("implied_passing_checks") else "checks"
        style = choose_style(out, args.color)
        write_bar(out, [r.status for r in results], style, noun=noun)
    if body:
        out.write("\n".join(body) + "\n")
    return 0


def render_text(report: dict[str, Any], item: dict[str, Any] | None) -> str:
    """The text report without the bar (it needs the results, not the report)."""
    head, body = text_parts(report, item)
    return "\n".join(head + body)


def text_parts(report: dict[str, Any], item: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """(the header and uptime lines, the rest): the bar goes between them."""
    lines: list[str] = []
    name = ""
    if item:
        host = item.get("host", "")
        name = f" ({item.get('name') or host}, {host})" if item.get("name") else f" ({host})"
    head = f"{report['target_id']}{name}: {report['since']} .. {report['until']}"
    lines.append(for_terminal(head, one_line=True))  # a stored name is one line here
    if not report["checks"] and not report.get("implied_passing_checks"):
        lines.append("no checks in this period")
        return lines, []
    c = report["counts"]
    uptime = report["uptime_percent"]
    uptime_text = "n/a" if uptime is None else f"{uptime:.2f}%"
    stored = report["checks"]
    implied = report.get("implied_passing_checks", 0)
    tally = f"{c['ok']} ok, {c['warning']} warning, {c['critical']} critical" + (
        f", {c['unknown']} unknown" if c["unknown"] else ""
    )
    last = (
        f"last: {report['last_status']} at {report['last_check_at']}" + _from(report)
        if stored
        else "no stored result in this period"
    )
    if report.get("partial_failures"):
        n = report["partial_failures"]
        tally += f"; {n} partial failure{'s' if n != 1 else ''}"
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
    top, lines = lines, []
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
    for key, title in (
        ("recent_failures", "recent failures (newest first):"),
        (
            "recent_partial_failures",
            "recent partial failures, fewer locations than the quorum (newest first):",
        ),
    ):
        if report.get(key):
            lines += ["", title, _failures_table(report[key])]
    votes = [
        (f["started_at"], *vote_cells(v))
        for f in report["recent_failures"] + report.get("recent_partial_failures", [])
        for v in votes_in(f)
    ]
    if votes:
        votes.sort(key=lambda row: row[0], reverse=True)  # stable: the slot's order kept
        lines += ["", "each location's check of those (newest first):"]
        lines.append(render_table(("WHEN", *VOTE_HEADERS), votes, max_width=80))
    return top, lines


def _from(report: dict[str, Any]) -> str:
    """Where the last check ran: " from LOCATION", or " from 3 locations (1/3 locations
    failing)" for a verdict of several."""
    votes = votes_in({"locations": report.get("last_locations")})
    where = location_cell(votes, report.get("last_location"))
    if not where:
        return ""
    failing = failing_text(votes)
    return f" from {where}" + (f" ({failing})" if failing else "")


def _failures_table(failures: list[dict[str, Any]]) -> str:
    return render_table(
        ("WHEN", "LOCATION", "KIND", "PHASE", "MESSAGE"),
        (
            (
                f["started_at"],
                _failing_cell(f) or f["location"] or "-",
                f["kind"],
                f["phase"],
                f["message"],
            )
            for f in failures
        ),
        max_width=80,
    )


def _failing_cell(failure: dict[str, Any]) -> str | None:
    """ "2/3 failing" for a verdict of several locations (the table below names them)."""
    votes = votes_in(failure)
    failing = sum(1 for v in votes if v.failed)
    return f"{failing}/{len(votes)} failing" if failing else None
