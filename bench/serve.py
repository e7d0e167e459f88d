"""How long `smtpwatch serve` takes to answer its pages and scrapes (printed, never
asserted; goal ≤ 300 ms for the overview and /metrics).

    .venv/bin/python bench/serve.py [--targets 1000] [--days 30] [--db PATH] [-n 20]

The database holds ``--targets`` targets checked every 5 minutes for ``--days`` days
(1,000 x 288 x 30 = 8.64 million results of ~1.4 KB: ~41 GB, ~7 min to build), loaded
at the schema before the rollup tables, then opened once by the store as an upgrade
would: the migration that builds the rollups from the results is timed. It is built
at ``--db`` (default in the temp directory) and reused while its shape matches. 2 % of
the targets are down, 1 % have an unknown newest check. The server runs in its own
process on 127.0.0.1; each figure is one whole HTTP request as the client sees it
(connect to last byte), median and worst of ``-n``, with the server process's CPU time per
request (steadier on a shared machine) and the load average beside them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))

from smtpwatch.local.page_data import overview_rows, target_page  # noqa: E402
from smtpwatch.local.page_model import WINDOWS  # noqa: E402
from smtpwatch.local.rollup import window_counts  # noqa: E402
from smtpwatch.local.sqlite_schema import MIGRATIONS  # noqa: E402
from smtpwatch.local.sqlite_store import SqliteStore  # noqa: E402
from smtpwatch.local.target_views import open_readonly, read_views  # noqa: E402

INTERVAL_S = 300
PRE_ROLLUP = 2  # the schema version before the rollup tables
PAGE_TARGET = "mx00002"  # up, no failure in 30 days: its failure list reads the most
PHASES = {
    "dns": 0.0,
    "connect": 0.4,
    "banner": 12.5,
    "ehlo": 3.1,
    "starttls": 8.0,
    "tls": 24.2,
    "ehlo_tls": 2.9,
    "auth": 6.6,
    "quit": 0.5,
}


def result_doc(target_id: str, started: datetime, status: str) -> dict[str, object]:
    failed = status == "critical"
    return {
        "schema_version": 1,
        "target_id": target_id,
        "host": f"{target_id}.example.com",
        "port": 587,
        "encryption": "explicit",
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "location": "bench",
        "status": status,
        "error": {
            "kind": "connect_refused",
            "phase": "connect",
            "smtp_code": None,
            "enhanced_code": None,
            "message": f"connection refused by {target_id}.example.com:587",
        }
        if failed
        else None,
        "warnings": [],
        "phases": {
            p: {"reached": not failed or p in ("dns", "connect"), "ok": not failed, "ms": ms}
            for p, ms in PHASES.items()
        },
        "address": {
            "ip": "192.0.2.10",
            "family": "ipv4",
            "port": 587,
            "source": "dns",
            "attempts": [
                {"ip": "192.0.2.10", "family": "ipv4", "ok": True, "ms": 0.4, "error": None}
            ],
        },
        "tls": None
        if failed
        else {
            "version": "TLSv1.3",
            "cipher": "TLS_AES_256_GCM_SHA384",
            "verified": True,
            "verify_error": None,
            "subject": f"CN={target_id}.example.com",
            "issuer": "CN=Example CA",
            "sans": [f"DNS:{target_id}.example.com"],
            "not_before": "2026-01-01T00:00:00Z",
            "not_after": "2027-01-01T00:00:00Z",
            "days_left": 120,
        },
        "auth": None if failed else {"mechanism": "PLAIN", "tried": ["PLAIN"], "over_tls": True},
        "server": {"banner": f"{target_id}.example.com ESMTP", "extensions": ["SIZE", "AUTH"]},
        "total_ms": 58.2,
    }


def build(db: Path, targets: int, days: int) -> None:
    """Targets, states and every result at the schema an install had before the rollup
    tables; bulk-loaded without a journal (a benchmark's throwaway file), then back to
    WAL as `run` keeps it. ``upgrade`` then brings it to the current schema."""
    db.unlink(missing_ok=True)
    ids = [f"mx{i:05d}" for i in range(targets)]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    slots = days * 86400 // INTERVAL_S
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
        "description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for version, description, statements in MIGRATIONS:
        if version <= PRE_ROLLUP:
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (version, description, now.isoformat()),
            )
    for n, target_id in enumerate(ids):
        item = {"target_id": target_id, "host": f"{target_id}.example.com", "port": 587}
        item["tags"] = {"team": "mail"}
        conn.execute(
            "INSERT INTO targets VALUES (?, ?, ?)", (target_id, json.dumps(item), now.isoformat())
        )
        down, unknown = n % 50 == 0, n % 100 == 1
        state = {"target_id": target_id, "status": "down" if down else "up", "version": 1}
        conn.execute(
            "INSERT INTO state VALUES (?, 1, ?, ?, ?)",
            (target_id, state["status"], json.dumps(state), now.isoformat()),
        )
        # One document text per status, with only the time changed per row.
        template = {
            s: json.dumps(result_doc(target_id, datetime(2000, 1, 1, tzinfo=UTC), s))
            for s in ("ok", "critical", "unknown")
        }
        rows = []
        for k in range(slots):
            started = now - timedelta(seconds=(slots - k) * INTERVAL_S)
            last = k == slots - 1
            status = "unknown" if unknown and last else "critical" if down else "ok"
            iso = started.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            data = template[status].replace("2000-01-01T00:00:00.000Z", iso)
            rows.append((target_id, iso[:19] + "Z", started.timestamp(), status, data))
        conn.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?)", rows)
        if n % 100 == 99:
            print(f"  built {n + 1} of {targets} targets", flush=True)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def upgrade(db: Path) -> float:
    """Open the database with the store, as `run` does: an older schema is migrated
    (the rollup tables built from every result). Seconds it took."""
    started = time.perf_counter()
    SqliteStore(db).close()
    return time.perf_counter() - started


def shape_matches(db: Path, targets: int, days: int) -> bool:
    if not db.exists():
        return False
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM targets").fetchone()
        (first,) = conn.execute("SELECT MIN(started) FROM results").fetchone()
        per_target = conn.execute(
            "SELECT COUNT(*) FROM results WHERE target_id = 'mx00000'"
        ).fetchone()[0]
    return bool(count == targets and first and per_target == days * 86400 // INTERVAL_S)


def timed_get(port: int, path: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return time.perf_counter() - started, len(body), response.status


def server_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere): a
    request's CPU cost barely moves when other work loads the machine, its wall time does."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(port: int, path: str, n: int, pid: int) -> None:
    _, _, status = timed_get(port, path)  # warm-up: the page cache, the first imports
    if status != 200:
        print(f"  {path:<28} answered {status}: not measured")
        return
    times = []
    size = 0
    cpu_before = server_cpu_s(pid)
    for _ in range(n):
        seconds, size, status = timed_get(port, path)
        assert status == 200, (path, status)
        times.append(seconds * 1000)
    cpu_after = server_cpu_s(pid)
    cpu = (
        ""
        if cpu_before is None or cpu_after is None
        else (f"server CPU {(cpu_after - cpu_before) * 1000 / n:5.0f} ms/request; ")
    )
    load = os.getloadavg()[0]
    print(
        f"  {path:<28} median {statistics.median(times):6.1f} ms   "
        f"worst {max(times):6.1f} ms   ({cpu}{size / 1024:.0f} KiB; load {load:.1f})",
        flush=True,
    )


def in_process(db: Path, n: int) -> None:
    """The page data alone, without HTTP or HTML: where the overview's time goes."""
    conn = open_readonly(db)
    now = datetime.now(UTC)
    parts: list[tuple[str, Callable[[], object]]] = [
        ("read_views (as /metrics)", lambda: read_views(conn)),
        (
            "uptime, 3 windows",
            lambda: [window_counts(conn, now.timestamp(), w) for w in WINDOWS.values()],
        ),
        ("overview_rows", lambda: overview_rows(conn, now)),
    ]
    for window in WINDOWS:
        parts.append(
            (f"target_page {window}", partial(target_page, conn, PAGE_TARGET, window, now))
        )
    print("in process (page data only, no HTTP or HTML):")
    for label, call in parts:
        call()
        times, cpu = [], []
        for _ in range(n):
            started, cpu_started = time.perf_counter(), time.process_time()
            call()
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        print(
            f"  {label:<28} median {statistics.median(times):6.1f} ms   "
            f"worst {max(times):6.1f} ms   (CPU median {statistics.median(cpu):5.1f} ms; "
            f"load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "smtpwatch-bench-serve.db"
    )
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    if not shape_matches(args.db, args.targets, args.days):
        print(f"building {args.db}: {args.targets} targets, {args.days} days every 5 min")
        started = time.perf_counter()
        build(args.db, args.targets, args.days)
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    print(f"opened by the store (migrating an older schema) in {upgrade(args.db):.1f} s")
    size_gb = args.db.stat().st_size / 1e9
    env = dict(os.environ, PYTHONPATH=str(ROOT / "functions"))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smtpwatch",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            str(args.db),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split(":")[2].split("/")[0])
        print(f"{args.targets} targets, {args.days} days, database {size_gb:.1f} GB; n={args.n}")
        pages = [f"/targets/{PAGE_TARGET}?window={w}" for w in ("24h", "7d", "30d")]
        for path in ("/", "/metrics", "/api/targets", *pages):
            measure(port, path, args.n, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
    in_process(args.db, args.n)


if __name__ == "__main__":
    main()
