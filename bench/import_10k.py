"""How long `smtpwatch targets import` takes for 10,000 targets (printed, never asserted).

    .venv/bin/python bench/import_10k.py [--count 10000] [--no-dynamodb]

Each figure is the wall time of a whole `python -m smtpwatch targets …` process, as a
user sees it: SQLite (one transaction) from JSON and from YAML, the idempotent re-run,
export; and DynamoDB through a moto server on 127.0.0.1 (BatchWriteItem, 25 items per
call — moto's speed, not AWS's: real DynamoDB adds ~5-10 ms per call, ~400 calls).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "aws"))


def targets(count: int) -> list[dict[str, object]]:
    return [
        {
            "target_id": f"mx{i:05d}",
            "host": f"mx{i}.example.com",
            "interval_s": 60 + i % 600,
            "encryption": ("explicit", "implicit", "none", "auto")[i % 4],
            "tags": {"shard": str(i % 16), "team": "mail"},
        }
        for i in range(count)
    ]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return elapsed, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--no-dynamodb", action="store_true")
    opts = parser.parse_args()
    cli = [sys.executable, "-m", "smtpwatch", "targets"]
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        data = targets(opts.count)
        as_json = tmpdir / "targets.json"
        as_yaml = tmpdir / "targets.yaml"
        as_json.write_text(json.dumps(data))
        as_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTPWATCH_"))}
        env["XDG_DATA_HOME"] = str(tmpdir / "xdg")

        db = str(tmpdir / "a.db")
        t, done = timed([*cli, "import", str(as_json), "--db", db], env)
        rows.append(("sqlite import (JSON, new)", t, done.stdout.strip()))
        t, done = timed([*cli, "import", str(as_json), "--db", db], env)
        rows.append(("sqlite re-import (JSON, unchanged)", t, done.stdout.strip()))
        t, done = timed([*cli, "import", str(as_yaml), "--db", str(tmpdir / "b.db")], env)
        rows.append(("sqlite import (YAML, new)", t, done.stdout.strip()))
        t, done = timed([*cli, "export", "--db", db], env)
        rows.append(("sqlite export (YAML)", t, f"{len(done.stdout)} bytes"))
        t, done = timed([*cli, "list", "--db", db], env)
        rows.append(("sqlite list", t, f"{len(done.stdout.splitlines()) - 1} rows"))

        if not opts.no_dynamodb:
            rows += dynamodb(cli, env, as_json)

    width = max(len(r[0]) for r in rows)
    print(f"{opts.count} targets, wall time of the whole CLI process")
    for name, seconds, detail in rows:
        print(f"  {name:<{width}}  {seconds:6.2f} s   {detail}")


def dynamodb(cli: list[str], env: dict[str, str], path: Path) -> list[tuple[str, float, str]]:
    import logging

    from moto.server import ThreadedMotoServer
    from template_tables import create_tables

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws_env = env | {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        client = boto3.client(
            "dynamodb",
            endpoint_url=aws_env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        names = create_tables(client, prefix="bench")
        where = ["--table", names["TargetsTable"], "--state-table", names["StateTable"]]
        rows = []
        t, done = timed([*cli, "import", str(path), *where], aws_env)
        rows.append(("dynamodb (moto) import, new", t, done.stdout.strip()))
        t, done = timed([*cli, "import", str(path), *where], aws_env)
        rows.append(("dynamodb (moto) re-import, unchanged", t, done.stdout.strip()))
        return rows
    finally:
        server.stop()


if __name__ == "__main__":
    main()
