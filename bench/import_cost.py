"""Benchmark: what the start-up work the code avoids or defers would cost.

    .venv/bin/python bench/import_cost.py [--runs 15]

Each item runs in ``--runs`` fresh interpreters (``python -c``, bytecode as installed),
timed around the one statement, after its setup: the median wall and CPU time are
printed. These are the figures the comments cite: ``typing`` (``TYPE_CHECKING = False``
instead of ``from typing import TYPE_CHECKING``), ``threading`` (``_thread``'s lock
instead), ``decimal``, ``zoneinfo``, ``difflib`` (imported on first use), the first
``time.strptime`` (it imports ``_strptime``; certificate dates are parsed by hand),
the compile of ``core.text_views``' escape pattern (on first use), and the system
trust store's load (``ssl.create_default_context()``, built once per process).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

# name -> (setup, statement): the statement is what is timed, in a fresh interpreter.
ITEMS: dict[str, tuple[str, str]] = {
    "import typing": ("", "import typing"),
    "import threading": ("", "import threading"),
    "import decimal": ("", "import decimal"),
    "import zoneinfo": ("", "import zoneinfo"),
    "import difflib": ("", "import difflib"),
    "first time.strptime": ("import time", "time.strptime('2026', '%Y')"),
    "text_views escape pattern": (
        "import re\nfrom smtpwatch.core.text_views import _ESCAPE_SOURCE",
        "re.compile(_ESCAPE_SOURCE)",
    ),
    "ssl.create_default_context()": ("import ssl", "ssl.create_default_context()"),
}

_TIMER = """
import json, time
{setup}
wall, cpu = time.perf_counter(), time.process_time()
{statement}
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps([wall * 1000, cpu * 1000]))
"""


def measure(setup: str, statement: str, runs: int) -> tuple[float, float]:
    """Median (wall ms, CPU ms) of ``statement`` after ``setup``, one fresh process each."""
    code = _TIMER.format(setup=setup, statement=statement)
    rows = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        rows.append(json.loads(out))
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(
        f"median of {args.runs} fresh processes, Python "
        f"{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}"
    )
    print(f"{'':34}{'wall ms':>9}{'CPU ms':>9}")
    for name, (setup, statement) in ITEMS.items():
        wall, cpu = measure(setup, statement, args.runs)
        print(f"{name:34}{wall:9.2f}{cpu:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
