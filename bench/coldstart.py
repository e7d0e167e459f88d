"""Benchmark: probe-handler cold start vs a minimal single-file handler.

    .venv/bin/python bench/coldstart.py [--runs 5] [--warm 20] [--tracing]

Both handlers do the same work for one healthy target: read the target item and its
state item from DynamoDB, probe an SMTP server (EHLO, STARTTLS with certificate
verification, EHLO again, QUIT) and store the result with a conditional PutItem. The
AWS side is a moto server on 127.0.0.1 (``AWS_ENDPOINT_URL``), the SMTP server an
aiosmtpd server with a trustme certificate on 127.0.0.1 — nothing leaves the machine.

For each handler, ``--runs`` fresh Python processes each import the handler and run
one invocation (the cold start: interpreter, imports, clients, first call); then one
more process per handler runs ``--warm`` invocations after its first (warm duration
per check — the figure the cost estimate uses). Printed: medians of process wall
time, of process CPU time (user + system: steadier on a loaded machine), of import +
first invocation, and of a warm invocation, and the ratios. Every invocation has a
later ``scheduled_at`` than the one before, so none is a redelivery. ``--tracing`` runs
smtpwatch's handler as a traced Lambda function does (``SMTPWATCH_TRACING=true``, the
X-Ray SDK sending to a UDP socket on 127.0.0.1): the cost of EnableTracing=true.
Goal: cold start at most 1.2 times the minimal handler's. Last, the import cost the
handlers avoid by making clients from a botocore session: what ``import boto3`` adds
once ``botocore.session`` is imported, in ``--runs`` fresh processes (medians).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"

_CONTEXT = """
class Ctx:
    function_name = "smtpwatch-probe"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:smtpwatch-probe"
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 900000
"""

# The driver runs in a fresh process: time the import, the first call, then warm calls.
_DRIVER = """
import time
t0 = time.perf_counter()
import json, os, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
{import_line}
t1 = time.perf_counter()
{context}
def event(i):
    return {{"target_id": "mx1", "scheduled_at": "2026-%s-%02dT00:%02d:00Z" % (
        os.environ["BENCH_MONTH"], 1 + int(os.environ["BENCH_HOUR"]), i)}}
out = handler(event(0), Ctx())
t2 = time.perf_counter()
warm = []
for i in range(1, int(os.environ["BENCH_WARM"]) + 1):
    s = time.perf_counter()
    handler(event(i), Ctx())
    warm.append((time.perf_counter() - s) * 1000)
sys.__stderr__.write("BENCH " + json.dumps({{"import_ms": (t1 - t0) * 1000,
    "first_ms": (t2 - t1) * 1000, "warm_ms": warm, "out": str(out)[:300]}}) + "\\n")
"""

# The baseline: what a competent engineer writes in one file with plain boto3.
MINIMAL_HANDLER = '''
"""Minimal probe handler: plain boto3 + smtplib, same work as smtpwatch's handler."""
import json
import os
import smtplib
import ssl
import time
from datetime import datetime, timezone

import boto3

ddb = boto3.client("dynamodb")
_contexts = {}


def handler(event, context):
    tid, scheduled_at = event["target_id"], event["scheduled_at"]
    item = ddb.get_item(TableName=os.environ["TARGETS_TABLE"], Key={"target_id": {"S": tid}})
    state = ddb.get_item(
        TableName=os.environ["STATE_TABLE"], Key={"target_id": {"S": tid}}, ConsistentRead=True
    )
    target = item["Item"]
    host = target["host"]["S"]
    port = int(target["port"]["N"])
    ip = target["dns_hosts"]["L"][0]["S"].split()[0]
    ca = target["ca_bundle"]["S"]
    ctx = _contexts.get(ca)
    if ctx is None:
        ctx = _contexts[ca] = ssl.create_default_context(cadata=ca)
    started = time.perf_counter()
    status, error = "ok", None
    try:
        smtp = smtplib.SMTP(ip, port, local_hostname="monitor.example.com", timeout=10)
        smtp.ehlo()
        smtp.starttls(context=ctx)
        smtp.ehlo()
        smtp.quit()
    except Exception as exc:
        status, error = "critical", str(exc)
    result = {"target_id": tid, "status": status, "error": error,
              "total_ms": (time.perf_counter() - started) * 1000,
              "started_at": datetime.now(timezone.utc).isoformat()}
    ddb.put_item(
        TableName=os.environ["RESULTS_TABLE"],
        Item={"target_id": {"S": tid}, "ts": {"S": scheduled_at}, "status": {"S": status},
              "expires_at": {"N": str(int(time.time()) + 30 * 86400)},
              "result": {"S": json.dumps(result)}},
        ConditionExpression="attribute_not_exists(ts)",
    )
    return {"status": status, "had_state": "Item" in state}
'''


def _setup(moto_url: str, server_port: int, ca_pem: str, hostname: str) -> dict[str, str]:
    import boto3

    sys.path.insert(0, str(ROOT / "tests" / "aws"))
    from template_tables import create_tables, table_env

    ddb = boto3.client("dynamodb", endpoint_url=moto_url, region_name=REGION)
    names = create_tables(ddb, prefix="cold")
    ddb.put_item(
        TableName=names["TargetsTable"],
        Item={
            "target_id": {"S": "mx1"},
            "host": {"S": hostname},
            "port": {"N": str(server_port)},
            "dns_hosts": {"L": [{"S": f"127.0.0.1 {hostname}"}]},
            "ca_bundle": {"S": ca_pem},
            "timeout_s": {"N": "10"},
            "interval_s": {"N": "60"},
        },
    )
    topic = boto3.client("sns", endpoint_url=moto_url, region_name=REGION).create_topic(
        Name="cold-alerts"
    )["TopicArn"]
    return table_env(names) | {"ALERT_TOPIC_ARN": topic}


def _run(import_line: str, env: dict[str, str], hour: int, warm: int) -> dict[str, Any]:
    code = _DRIVER.format(import_line=import_line, context=_CONTEXT)
    # Each handler its own month of scheduled_at values: no result key is shared.
    month = "11" if "smtpwatch" in import_line else "12"
    run_env = env | {"BENCH_HOUR": str(hour), "BENCH_WARM": str(warm), "BENCH_MONTH": month}
    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-c", code], env=run_env, capture_output=True, text=True, timeout=300
    )
    wall = (time.perf_counter() - t) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"driver failed ({done.returncode}):\n{done.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(lines[-1][6:])
    data["wall_ms"] = wall
    data["cpu_ms"] = cpu
    return data


# What ``import boto3`` adds once botocore.session is loaded (the handlers' clients).
_BOTO3_OVER_BOTOCORE = """
import time
import botocore.session
wall, cpu = time.perf_counter(), time.process_time()
import boto3
print((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
"""


def _boto3_import_ms(runs: int) -> tuple[float, float]:
    """Medians (wall, CPU) of what ``import boto3`` adds over ``import botocore.session``,
    each run in a fresh interpreter."""
    rows = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _BOTO3_OVER_BOTOCORE], capture_output=True, text=True, check=True
        ).stdout.split()
        rows.append((float(out[0]), float(out[1])))
    return statistics.median(w for w, _ in rows), statistics.median(c for _, c in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="smtpwatch's handler as EnableTracing=true runs it (needs aws-xray-sdk)",
    )
    args = parser.parse_args()

    import logging

    from moto.server import ThreadedMotoServer

    from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    certs = Certificates()
    smtp = SmtpServer("127.0.0.1", cert=certs.valid(), starttls=True).start()
    workdir = tempfile.mkdtemp(prefix="coldstart-")
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # X-Ray daemon (--tracing)
    daemon.bind(("127.0.0.1", 0))
    Path(workdir, "minimal_handler.py").write_text(MINIMAL_HANDLER, encoding="utf-8")
    try:
        host, port = moto.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        stack = _setup(moto_url, smtp.port, certs.ca_pem, DEFAULT_HOSTNAME)
        env = (
            {k: v for k, v in os.environ.items() if not k.startswith(("SMTPWATCH_", "POWERTOOLS_"))}
            | stack
            | {
                "AWS_ENDPOINT_URL": moto_url,
                "BENCH_DIR": workdir,
                "PROBE_FUNCTION_NAME": "smtpwatch-probe",
                "SECRETS_PREFIX": "/smtpwatch/",
                "EHLO_NAME": "monitor.example.com",
                "RESULT_RETENTION_DAYS": "30",
                "POWERTOOLS_SERVICE_NAME": "smtpwatch",
                "POWERTOOLS_METRICS_NAMESPACE": "Smtpwatch",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                "SMTPWATCH_TRACING": "false",
                "SMTPWATCH_IN_VPC": "false",
                "SMTPWATCH_ALLOW_LOOPBACK": "1",  # the SMTP server is on 127.0.0.1
                "PYTHONDONTWRITEBYTECODE": "0",
            }
        )
        if args.tracing:
            # As on a traced Lambda function: the X-Ray SDK's emitter sends each
            # subsegment to a UDP socket of this process (127.0.0.1, never read).
            env |= {
                "SMTPWATCH_TRACING": "true",
                "LAMBDA_TASK_ROOT": workdir,
                "_X_AMZN_TRACE_ID": "Root=1-67500000-0123456789abcdef01234567;"
                "Parent=53995c3f42cd8ad8;Sampled=1",
                "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
            }
        ours_import = "from smtpwatch.handlers.probe import handler"
        minimal_import = "from minimal_handler import handler"
        # Warm-up (not measured): byte-code caches, and the target's first state write.
        _run(ours_import, env, 0, 0)
        _run(minimal_import, env, 0, 0)
        ours: list[dict[str, Any]] = []
        minimal: list[dict[str, Any]] = []
        for i in range(args.runs):  # interleaved, so machine load hits both alike
            ours.append(_run(ours_import, env, 1 + i, 0))
            minimal.append(_run(minimal_import, env, 1 + i, 0))
        ours_warm = _run(ours_import, env, 1 + args.runs, args.warm)
        minimal_warm = _run(minimal_import, env, 1 + args.runs, args.warm)
    finally:
        smtp.stop()
        moto.stop()
        daemon.close()

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def cold(rows: list[dict[str, Any]]) -> float:
        return statistics.median(r["import_ms"] + r["first_ms"] for r in rows)

    def warm_med(row: dict[str, Any]) -> float:
        return statistics.median(row["warm_ms"])

    print(
        f"probe handler cold start, median of {args.runs} fresh processes "
        f"(moto server + STARTTLS server on 127.0.0.1), tracing "
        f"{'on' if args.tracing else 'off'}:"
    )
    print(f"{'':28}{'smtpwatch':>12}{'minimal':>12}{'ratio':>8}")
    for label, a, b in (
        ("process wall (ms)", med(ours, "wall_ms"), med(minimal, "wall_ms")),
        ("process CPU (ms)", med(ours, "cpu_ms"), med(minimal, "cpu_ms")),
        ("import (ms)", med(ours, "import_ms"), med(minimal, "import_ms")),
        ("first invocation (ms)", med(ours, "first_ms"), med(minimal, "first_ms")),
        ("import + first (ms)", cold(ours), cold(minimal)),
        (f"warm invocation (ms, n={args.warm})", warm_med(ours_warm), warm_med(minimal_warm)),
    ):
        print(f"{label:28}{a:12.1f}{b:12.1f}{a / b:8.2f}")
    ratio = med(ours, "wall_ms") / med(minimal, "wall_ms")
    print(
        f"goal: cold start <= 1.2x the minimal handler -> {ratio:.2f}x "
        f"({'met' if ratio <= 1.2 else 'NOT met'})"
    )
    print("smtpwatch's last warm outcome:", ours_warm["out"])
    wall_ms, cpu_ms = _boto3_import_ms(args.runs)
    print(
        f"import boto3 after import botocore.session adds {wall_ms:.1f} ms wall, "
        f"{cpu_ms:.1f} ms CPU (median of {args.runs} fresh processes)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
