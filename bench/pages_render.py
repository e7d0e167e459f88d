"""How long the dashboard's HTML takes to draw, without the database (printed, never
asserted): the overview of ``--targets`` rows and a target's page with a day of
5-minute checks (288 points) and 30 days of hourly means (720 points), 8 phases each.

    .venv/bin/python bench/pages_render.py [--targets 1000] [-n 20]

What ``bench/serve.py`` measures end to end is the store's reads plus this.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from smtpwatch.local.page_model import (
    AlertRow,
    CheckCell,
    LastError,
    OverviewRow,
    PhasePoint,
    TargetPage,
    Uptime,
)
from smtpwatch.local.pages.overview import render_overview
from smtpwatch.local.pages.query import OverviewFilter
from smtpwatch.local.pages.target import render_target
from smtpwatch.local.target_views import TargetView

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PHASES = ("connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "auth", "quit")


def _ts(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(i: int) -> OverviewRow:
    down = i % 50 == 0  # 2 % down, as in bench/serve.py
    view = TargetView(
        target_id=f"mx-{i:04d}.example.net",
        host=f"mx-{i:04d}.example.net",
        port="25",
        location="eu-west-1",
        tags={"env": "prod", "team": f"team-{i % 10}"},
        state="down" if down else "up",
        since=_ts(i % 600),
        latest=None,
        measured=None,
    )
    error = LastError("connect", "connect_refused", "[Errno 111] Connection refused", _ts(3))
    return OverviewRow(view, Uptime(0.9965, 0.998, 0.9991), 41, error if down else None, _ts(3))


def _target(points: int, step_s: int, window: str) -> TargetPage:
    end = NOW.timestamp()
    chart = [
        PhasePoint(
            end - (points - 1 - k) * step_s, {p: 5.0 + j * 3 + k % 7 for j, p in enumerate(PHASES)}
        )
        for k in range(points)
    ]
    checks = [CheckCell(_ts(5 * (90 - k)), "ok" if k % 9 else "critical", "") for k in range(90)]
    alerts = [AlertRow(_ts(60), "down", "https://hooks.example.net/…", "delivered", "DOWN")]
    return TargetPage(_row(1), window, checks, chart, {"Subject": "CN=mx"}, checks[:20], alerts)


def _time(label: str, draw: Callable[[], str], runs: int) -> None:
    size = len(draw().encode())  # and a warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        draw()
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"{label:<34} median {statistics.median(times):6.1f} ms  worst {max(times):6.1f} ms"
        f"  {size / 1024:7.0f} KiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    rows = [_row(i) for i in range(args.targets)]
    day = _target(288, 300, "24h")
    month = _target(720, 3600, "30d")
    print(f"{time.strftime('%Y-%m-%d')}, load average {' '.join(map(str, _load()))}")
    _time(
        f"overview, {args.targets} rows",
        lambda: render_overview(rows, OverviewFilter(), NOW, "x"),
        args.n,
    )
    _time("target page, 24 h (288 points)", lambda: render_target(day, NOW, "x"), args.n)
    _time("target page, 30 d (720 points)", lambda: render_target(month, NOW, "x"), args.n)


def _load() -> tuple[float, float, float]:
    import os

    return os.getloadavg()


if __name__ == "__main__":
    main()
