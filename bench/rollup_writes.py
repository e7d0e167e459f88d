"""What keeping the rollup tables costs the writer (printed, never asserted).

    .venv/bin/python bench/rollup_writes.py [--targets 100] [--days 2] [-n 3]

``add_result`` per result with the rollup trigger and without it (the trigger dropped
in a scratch copy), runs alternating, median of ``-n``; then one hourly retention run
(``prune_results`` of the oldest hour) and, of it, the rollup's part
(``rollup.forget_before``). Databases in a temporary directory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT / "bench"))

from serve import INTERVAL_S, result_doc  # noqa: E402
from smtpwatch.core.result import ProbeResult  # noqa: E402
from smtpwatch.core.schedule import format_ts  # noqa: E402
from smtpwatch.local import rollup  # noqa: E402
from smtpwatch.local.sqlite_store import SqliteStore  # noqa: E402

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def results(targets: int, days: int) -> list[ProbeResult]:
    out = []
    for k in range(days * 86_400 // INTERVAL_S):
        at = NOW - timedelta(seconds=(k + 1) * INTERVAL_S)
        for n in range(targets):
            status = "critical" if n % 50 == 0 else "ok"
            out.append(ProbeResult.from_dict(result_doc(f"mx{n:05d}", at, status)))
    return out


def write_all(path: Path, batch: list[ProbeResult], trigger: bool) -> float:
    """Seconds per result for ``add_result`` of every result of ``batch``."""
    path.unlink(missing_ok=True)
    with SqliteStore(path) as store:
        if not trigger:
            with store.writing() as conn:
                conn.execute("DROP TRIGGER rollup_add")
        started = time.perf_counter()
        for result in batch:
            store.add_result(result)
        return (time.perf_counter() - started) / len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("-n", type=int, default=3)
    args = parser.parse_args()
    batch = results(args.targets, args.days)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.db"
        with_t: list[float] = []
        without: list[float] = []
        for _ in range(args.n):
            without.append(write_all(path, batch[:2000], trigger=False))
            with_t.append(write_all(path, batch[:2000], trigger=True))
        print(
            f"add_result: {statistics.median(with_t) * 1e6:.0f} us per result with the "
            f"rollup trigger, {statistics.median(without) * 1e6:.0f} us without "
            f"(median of {args.n} x 2,000)"
        )
        write_all(path, batch, trigger=True)
        with SqliteStore(path) as store:
            oldest = NOW - timedelta(days=args.days)
            cutoff = oldest + timedelta(hours=1)
            started = time.perf_counter()
            removed = store.prune_results(format_ts(cutoff))
            prune_s = time.perf_counter() - started
            with store.writing() as conn:
                started = time.perf_counter()
                rollup.forget_before(conn, (cutoff + timedelta(hours=1)).timestamp())
                forget_s = time.perf_counter() - started
        print(
            f"retention of one hour ({removed:,} of {len(batch):,} results, "
            f"{args.targets} targets): {prune_s * 1000:.0f} ms; the rollup's part "
            f"alone: {forget_s * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
