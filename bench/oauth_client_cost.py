"""Benchmark: what the OAuth 2.0 token client costs at start, against MSAL.

    .venv/bin/python bench/oauth_client_cost.py [--runs 9] [--msal-python PATH]

For ``--runs`` fresh interpreters each, prints the median time to import
``smtpwatch.core.oauth_token`` after ``smtpwatch.core.probe`` (what a first OAuth check
adds to a probe process) and, when ``--msal-python`` names an interpreter that has
``msal`` installed, the median time to import ``msal`` there (fresh, and after the
standard-library modules the hand-written client uses) with the size on disk of msal and
its dependencies in that interpreter's site-packages, and the size of its compiled
``.so`` files. Make that interpreter with ``python -m venv V && V/bin/pip install msal``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

_MSAL_DISTS = (
    "msal",
    "requests",
    "jwt",
    "cryptography",
    "cffi",
    "_cffi_backend",
    "pycparser",
    "urllib3",
    "charset_normalizer",
    "idna",
    "certifi",
)


def import_ms(python: str, before: str, module: str, runs: int) -> float:
    code = (
        f"import time\n{before}\nt = time.perf_counter()\nimport {module}\n"
        "print((time.perf_counter() - t) * 1000)"
    )
    times = [
        float(
            subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(times)


def site_bytes(python: str) -> tuple[int, int]:
    """(bytes of msal and its dependencies, bytes of their .so files)."""
    out = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    )
    site = Path(out.stdout.strip())
    total = compiled = 0
    for entry in site.iterdir():
        if not entry.name.startswith(_MSAL_DISTS) or entry.name.endswith(".dist-info"):
            continue
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        for path in files:
            size = path.stat().st_size
            total += size
            if path.suffix == ".so":
                compiled += size
    return total, compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--msal-python", metavar="PATH")
    args = parser.parse_args()
    ours = import_ms(
        sys.executable, "import smtpwatch.core.probe", "smtpwatch.core.oauth_token", args.runs
    )
    print(f"smtpwatch.core.oauth_token after core.probe: {ours:.1f} ms (median of {args.runs})")
    if args.msal_python:
        fresh = import_ms(args.msal_python, "pass", "msal", args.runs)
        after = import_ms(
            args.msal_python, "import ssl, http.client, json, urllib.parse", "msal", args.runs
        )
        total, compiled = site_bytes(args.msal_python)
        print(
            f"msal, fresh interpreter: {fresh:.1f} ms; after ssl/http.client/json: {after:.1f} ms"
        )
        print(
            f"msal and dependencies on disk: {total / 1e6:.1f} MB,"
            f" of which .so: {compiled / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
