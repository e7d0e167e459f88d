"""In one process: median ``probe()`` vs the minimal smtplib client, per mode.

Both talk to the same local aiosmtpd server (trustme certificate, name mapped to
127.0.0.1), run in its own process like a real server (in a thread it would compete
with the client for the GIL and blur the figures). Both reuse one SSL context (the
probe caches its contexts; the minimal client builds one up front). Runs alternate
between the two so drift hits both alike. Prints figures; asserts nothing. Goal: ratio
≤ 1.15.

    .venv/bin/python bench/probe_inprocess.py [-n 200]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from minimal_client import check, make_context
from smtpwatch import Target, probe
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer

USER, PASSWORD = "bench", "bench-password"
MODES = {"explicit": "explicit+AUTH PLAIN", "implicit": "implicit", "none": "none"}


def _serve(mode: str, ca_out: str) -> None:
    """Child process: one server for ``mode``; prints its port; runs until stdin closes."""
    certs = Certificates()
    Path(ca_out).write_text(certs.ca_pem, encoding="ascii")
    options: dict[str, Any] = {
        "explicit": {"cert": certs.valid(), "starttls": True, "credentials": {USER: PASSWORD}},
        "implicit": {"cert": certs.valid(), "implicit_tls": True},
        "none": {},
    }[mode]
    with SmtpServer(**options) as server:
        print(server.port, flush=True)
        sys.stdin.read()


@contextlib.contextmanager
def server_process(mode: str) -> Iterator[tuple[int, str]]:
    """(port, CA PEM text) of a server for ``mode`` running in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = os.path.join(tmp, "ca.pem")
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", mode, "--ca-out", ca_file],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdin is not None
        try:
            port = int(child.stdout.readline())
            yield port, Path(ca_file).read_text(encoding="ascii")
        finally:
            child.stdin.close()
            child.wait(timeout=30)


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall ms, CPU ms of this thread): CPU time shows the client's own cost, which
    load from other processes on the machine barely moves."""
    c0, t0 = time.thread_time(), time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000


Row = tuple[str, float, float, float, float]  # label, wall probe/minimal, CPU probe/minimal


def bench_mode(encryption: str, port: int, ca_pem: str, n: int) -> Row:
    login = encryption == "explicit"
    fields: dict[str, Any] = {
        "target_id": f"bench-{encryption}",
        "host": DEFAULT_HOSTNAME,
        "port": port,
        "encryption": encryption,
        "dns_hosts": [f"127.0.0.1 {DEFAULT_HOSTNAME}"],
        "ca_bundle": ca_pem,
        "ehlo_name": "bench.smtpwatch.test",
        "timeout_s": 30,
    }
    if login:
        fields.update(
            login=True,
            username=USER,
            password_ref="env:BENCH_PW",
            auth_methods="PLAIN",
            allow_plaintext_auth=encryption == "none",
        )
    target = Target(**fields)
    ctx = make_context(ca_pem) if encryption != "none" else None
    password = PASSWORD if login else None

    def run_probe() -> None:
        result = probe(target, password=password)
        if not result.ok:
            raise SystemExit(f"probe failed: {result.to_dict()['error']}")

    def run_minimal() -> None:
        check(
            encryption,
            "127.0.0.1",
            port,
            server_name=DEFAULT_HOSTNAME,
            context=ctx,
            user=USER if login else None,
            password=password,
        )

    for _ in range(max(5, n // 20)):  # warm up: contexts, caches, the server's loop
        run_probe()
        run_minimal()
    probe_ms: list[tuple[float, float]] = []
    minimal_ms: list[tuple[float, float]] = []
    gc.collect()
    for i in range(n):
        # alternate the order so neither side always follows the other
        if i % 2:
            probe_ms.append(timed(run_probe))
            minimal_ms.append(timed(run_minimal))
        else:
            minimal_ms.append(timed(run_minimal))
            probe_ms.append(timed(run_probe))
    return (
        MODES[encryption],
        statistics.median(x[0] for x in probe_ms),
        statistics.median(x[0] for x in minimal_ms),
        statistics.median(x[1] for x in probe_ms),
        statistics.median(x[1] for x in minimal_ms),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=200, help="runs per side and mode")
    ap.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--ca-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        _serve(args.serve, args.ca_out)
        return 0
    rows = []
    for mode in MODES:
        with server_process(mode) as (port, ca_pem):
            rows.append(bench_mode(mode, port, ca_pem, args.n))

    print(f"in-process, median of {args.n} runs (Python {sys.version.split()[0]}):")
    print(f"  {'mode':<21} {'wall: probe()':>13} {'minimal':>8} {'ratio':>6}", end="")
    print(f"   {'CPU: probe()':>12} {'minimal':>8} {'ratio':>6}")
    for label, pw, mw, pc, mc in rows:
        print(f"  {label:<21} {pw:>11.2f}ms {mw:>6.2f}ms {pw / mw:>5.2f}x", end="")
        print(f"   {pc:>10.2f}ms {mc:>6.2f}ms {pc / mc:>5.2f}x")
    print("  goal: ratio <= 1.15")
    return 0


if __name__ == "__main__":
    sys.exit(main())
