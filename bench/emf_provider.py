"""Benchmark: the probe's per-check EMF line, Powertools' provider (public API) vs a
small EMF writer of our own.

    python bench/emf_provider.py [--flushes 20000]    # with the aws extra installed

Both write the document of a healthy STARTTLS + AUTH check (the metrics and metadata
``observability.emit_check`` adds: twelve figures and the target id) and of a failing
one (status and error kind too), once with every metric declared
(``SMTPWATCH_METRICS=all``) and once with only the alarm metrics (``alarms``, the
template's default). Printed: the log bytes per check (the line CloudWatch Logs
bills), whether the two writers' lines are byte-for-byte the same apart from the
timestamp, the bytes of Powertools' provider without our compaction (units, lists), and
the CPU time per flush (add the metrics, serialize, print), the median
of five rounds of ``--flushes`` flushes. Nothing leaves the process.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

HEALTHY: dict[str, float] = {
    "ProbeSuccess": 1,
    "TotalMs": 412.3,
    "DnsMs": 11.2,
    "ConnectMs": 23.4,
    "BannerMs": 61.8,
    "EhloMs": 22.9,
    "StarttlsMs": 23.1,
    "TlsMs": 98.4,
    "EhloTlsMs": 24.6,
    "AuthMs": 95.7,
    "QuitMs": 21.5,
    "CertDaysLeft": 63,
}
FAILING: dict[str, float] = {"ProbeSuccess": 0, "TotalMs": 5012.4, "DnsMs": 10.9}
FAILING_META = {"status": "critical", "error_kind": "connect_timeout"}
_TIMESTAMP = re.compile(r'"Timestamp":\d+')


def powertools_writer(mode: str) -> Callable[[dict[str, float], dict[str, str]], None]:
    """emit_check's calls on the handlers' Metrics (Powertools, public API)."""
    os.environ["SMTPWATCH_METRICS"] = mode
    from aws_lambda_powertools.metrics import MetricUnit

    from smtpwatch.handlers.observability import make_metrics

    metrics = make_metrics()

    def write(values: dict[str, float], meta: dict[str, str]) -> None:
        for name, value in values.items():
            unit = MetricUnit.Milliseconds if name.endswith("Ms") else MetricUnit.Count
            metrics.add_metric(name=name, unit=unit, value=value)
        for key, text in meta.items():
            metrics.add_metadata(key=key, value=text)
        metrics.flush_metrics()

    return write


def plain_writer() -> Callable[[dict[str, float], dict[str, str]], None]:
    """Powertools' own provider, without our compaction (units kept, values as lists)."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    metrics = Metrics(
        provider=AmazonCloudWatchEMFProvider(namespace="Smtpwatch", service="smtpwatch")
    )

    def write(values: dict[str, float], meta: dict[str, str]) -> None:
        for name, value in values.items():
            unit = MetricUnit.Milliseconds if name.endswith("Ms") else MetricUnit.Count
            metrics.add_metric(name=name, unit=unit, value=value)
        for key, text in meta.items():
            metrics.add_metadata(key=key, value=text)
        metrics.flush_metrics()

    return write


def own_writer(mode: str) -> Callable[[dict[str, float], dict[str, str]], None]:
    """The same document written directly from the public EMF specification."""
    declared = None if mode == "all" else frozenset({"DispatchFailed"})
    namespace, service = "Smtpwatch", "smtpwatch"
    separators = (",", ":")

    def write(values: dict[str, float], meta: dict[str, str]) -> None:
        names = [n for n in values if declared is None or n in declared]
        doc: dict[str, Any] = {}
        if names:
            doc["_aws"] = {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": n} for n in names],
                    }
                ],
            }
        doc["service"] = service
        doc.update(meta)
        for name, value in values.items():
            doc[name] = int(value) if isinstance(value, float) and value.is_integer() else value
        print(json.dumps(doc, separators=separators))

    return write


def _line(write: Callable[[dict[str, float], dict[str, str]], None], *doc: Any) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        write(*doc)
    return out.getvalue()


def _cpu_us(write: Callable[[dict[str, float], dict[str, str]], None], flushes: int) -> float:
    rounds = []
    sink = io.StringIO()
    meta = {"target_id": "mx1"}
    with contextlib.redirect_stdout(sink):
        for _ in range(5):
            t0 = time.process_time()
            for _ in range(flushes):
                write(HEALTHY, meta)
            rounds.append((time.process_time() - t0) / flushes * 1e6)
            sink.seek(0)
            sink.truncate(0)
    return statistics.median(rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flushes", type=int, default=20000)
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "smtpwatch")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Smtpwatch")
    print(f"{'':36}{'powertools':>12}{'own writer':>12}")
    for mode in ("alarms", "all"):
        ours, own = powertools_writer(mode), own_writer(mode)
        for label, values, meta in (
            ("healthy STARTTLS+AUTH", HEALTHY, {"target_id": "mx1"}),
            ("failing (connect timeout)", FAILING, {"target_id": "mx1"} | FAILING_META),
        ):
            a, b = _line(ours, values, meta), _line(own, values, meta)
            same = _TIMESTAMP.sub("", a) == _TIMESTAMP.sub("", b)
            print(
                f"{f'{mode}: {label} (bytes)':36}{len(a.encode()):12d}{len(b.encode()):12d}"
                f"  {'same bytes' if same else 'DIFFERENT'}"
            )
        print(
            f"{f'{mode}: CPU per flush (µs)':36}"
            f"{_cpu_us(ours, args.flushes):12.1f}{_cpu_us(own, args.flushes):12.1f}"
        )
    plain = _line(plain_writer(), HEALTHY, {"target_id": "mx1"})
    print(f"{'Powertools uncompacted: healthy (bytes)':36}{len(plain.encode()):12d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
