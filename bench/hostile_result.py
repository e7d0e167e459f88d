"""What a flooding server costs one ``probe()``: result size, wall time, peak memory.

Cases (each server in its own process, so its work and memory are not the probe's):

- ``sans``: STARTTLS with a valid certificate naming 3,000 hosts besides 127.0.0.1
  (verified against the test CA);
- ``ehlo-200x60``, ``ehlo-150x100``: 200 distinct 60-byte / 150 distinct 100-byte EHLO
  keywords, plain connection;
- ``ehlo-998x8k``: 998 distinct 8 KB keywords (8 MB of EHLO), plain connection.

For each: the result's JSON (``json.dumps(result.to_dict())``) and the local store's row
(compact UTF-8 JSON) in bytes, the status, the median wall time of ``probe()`` over
``-n`` runs after one warm-up, and the peak of Python allocations during one probe
(``tracemalloc``, a run of its own: tracing slows everything down). Prints figures;
asserts nothing.

    .venv/bin/python bench/hostile_result.py [-n 9] [CASE ...]

To compare with another version, run the same script with that version's code first
on the path, e.g. from ``git worktree add /tmp/old <commit>``:

    PYTHONPATH=/tmp/old/functions .venv/bin/python bench/hostile_result.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import smtpwatch
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.target import Target

CASES = ("sans", "ehlo-200x60", "ehlo-150x100", "ehlo-998x8k")


def _serve(case: str, ca_path: str) -> None:
    """Child process: the server of ``case``; prints its port; runs until stdin closes."""
    from smtpwatch.testing.floods import ehlo_keyword_flood, many_sans_cert
    from smtpwatch.testing.servers import Certificates, HostileServer, SmtpServer

    server: Any
    if case == "sans":
        certs = Certificates()
        Path(ca_path).write_text(certs.ca_pem, encoding="ascii")
        server = SmtpServer("127.0.0.1", cert=many_sans_cert(certs, 3_000), starttls=True)
    else:
        count, length = {"ehlo-200x60": (200, 60), "ehlo-150x100": (150, 100)}.get(
            case, (998, 8_000)
        )
        flood = ehlo_keyword_flood(count, length)
        server = HostileServer.scripted("127.0.0.1", replies={"EHLO": flood}, lifetime_s=3600)
    with server:
        print(server.port, flush=True)
        sys.stdin.read()


def _environment() -> ProbeEnvironment:
    # IP literals only: no DNS is asked.
    return ProbeEnvironment(default_ehlo_name="bench.smtpwatch.test")


def _measure(case: str, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="smtpwatch-bench-") as tmp:
        ca_path = os.path.join(tmp, "ca.pem")
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", case, ca_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            port = int(child.stdout.readline())
            fields: dict[str, Any] = {"encryption": "none"}
            if case == "sans":
                fields = {"encryption": "explicit", "ca_bundle": Path(ca_path).read_text()}
            target = Target(host="127.0.0.1", port=port, target_id="bench", timeout_s=30, **fields)
            env = _environment()
            result = probe(target, env=env)  # warm-up: SSL context, imports
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                result = probe(target, env=env)
                times.append(time.perf_counter() - start)
            tracemalloc.start()
            probe(target, env=env)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(timeout=10)
    doc = result.to_dict()
    row = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return {
        "case": case,
        "status": result.status.value,
        "error": None if result.error is None else result.error.kind.value,
        "json_bytes": len(json.dumps(doc)),
        "row_bytes": len(row),
        "median_ms": statistics.median(times) * 1000,
        "peak_kib": peak / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=9, help="timed runs per case (default 9)")
    parser.add_argument("cases", nargs="*", metavar="CASE", help=", ".join(CASES))
    args = parser.parse_args()
    unknown = set(args.cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    print(f"smtpwatch from {Path(smtpwatch.__file__).parent}")
    print(
        f"{'case':14} {'status':>8} {'error':>10} {'json B':>10} {'row B':>10} "
        f"{'median ms':>10} {'peak KiB':>10}"
    )
    for case in args.cases or CASES:
        m = _measure(case, args.n)
        print(
            f"{m['case']:14} {m['status']:>8} {m['error'] or '-':>10} {m['json_bytes']:>10,} "
            f"{m['row_bytes']:>10,} {m['median_ms']:>10.1f} {m['peak_kib']:>10,.0f}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], sys.argv[3])
    else:
        main()
