"""Benchmark: how long `smtpwatch run --quiet` (the command of infra/systemd's unit and
of infra/docker's image) takes to exit after SIGTERM, and with what code.

    .venv/bin/python bench/service_stop.py [--runs 3] [--delay 2.0]

Two situations, ``--runs`` times each, on a fresh store with one target: idle (its
check done and stored, the next an hour away) and busy (SIGTERM as soon as the server
accepted the check's connection; the server greets ``--delay`` seconds later, so the
check in flight has that long to run under --grace). Prints the exit code, the time
from SIGTERM to exit, and how many results the store holds after. Never asserted.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import HostileServer


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the first check")
        time.sleep(0.02)


def _count(db: Path) -> int:
    with SqliteStore(db) as store:
        return store.count_results("t")


def one_stop(delay_s: float, busy: bool) -> tuple[int, float, int]:
    """(exit code, seconds from SIGTERM to exit, results stored)."""
    with tempfile.TemporaryDirectory() as tmp, HostileServer.delayed(delay_s) as server:
        db = Path(tmp) / "smtpwatch.db"
        with SqliteStore(db) as store:
            store.put_items(
                [
                    {
                        "target_id": "t",
                        "host": "127.0.0.1",
                        "port": server.port,
                        "encryption": "none",
                        "timeout_s": 30,
                        "interval_s": 3600,
                    }
                ]
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTPWATCH_")}
        env |= {"SMTPWATCH_DB": str(db), "XDG_DATA_HOME": str(Path(tmp) / "xdg")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "smtpwatch", "run", "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            if busy:
                _wait_for(lambda: server.connections >= 1)
            else:
                _wait_for(lambda: _count(db) >= 1)
            proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            code = proc.wait(120)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return code, took, _count(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delay", type=float, default=2.0, help="server greeting delay (s)")
    args = parser.parse_args()
    for busy in (False, True):
        label = f"check in flight ({args.delay:g} s left)" if busy else "idle"
        for _ in range(args.runs):
            code, took, stored = one_stop(args.delay if busy else 0.0, busy)
            print(f"{label}: exit {code} {took:.2f} s after SIGTERM; {stored} result(s) stored")


if __name__ == "__main__":
    main()
