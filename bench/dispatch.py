"""Benchmark: one dispatcher tick with 10,000 due targets, every AWS call 20 ms away.

    .venv/bin/python bench/dispatch.py [--targets 10000] [--latency-ms 20] [--workers 64]

Set-up (all on loopback, nothing leaves the machine):
- DynamoDB Local (AWS's emulator; java, fetched like the tests do into
  ~/.cache/smtpwatch) with the stack's tables built from template.yaml;
- in front of it an asyncio HTTP proxy (a child process, so its CPU does not share the
  dispatcher's GIL) that waits ``--latency-ms`` before every request — the round trip
  of a real region endpoint — and answers Lambda ``Invoke`` itself (POST
  /2015-03-31/functions/<name>/invocations → 202), as Lambda does for async invokes;
- ``--targets`` target items with ``interval_s: 60`` (all due every tick) and a state
  item each (with a realistic ``last_result``), written straight to DynamoDB Local.
(moto's server was tried first: its Scan of 20,000 items alone took longer than the
goal, which measured moto, not the dispatcher.)

Then the real dispatcher handler (``smtpwatch.handlers.dispatcher.handler``, with its
real clients, pointed at the proxy by ``AWS_ENDPOINT_URL``) runs one tick. Printed: the
time from the tick to the last invoke accepted, the number dispatched, and the
phases. Goal: all dispatched within 20 s of the tick.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REGION = "us-east-1"


# --------------------------------------------------------------------------- child process


def _serve(latency_s: float, upstream_port: int, ready: Any) -> None:
    """An asyncio HTTP/1.1 proxy: every request waits ``latency_s``; Lambda Invoke is
    answered here (202), everything else is forwarded to DynamoDB Local."""
    import asyncio

    invokes = 0

    async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            elif name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return head, await reader.readexactly(length)
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk[:-2]
            if size == 0:
                break
        lines = [
            ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"transfer-encoding")
        ]
        head = b"\r\n".join(ln for ln in lines if ln) + b"\r\n"
        head += b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        return head, body

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal invokes
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    head, body = await read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line = head.split(b"\r\n", 1)[0].decode()
                path = request_line.split(" ", 2)[1]
                if path == "/__invokes":
                    data = json.dumps({"invokes": invokes}).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data
                    )
                    await writer.drain()
                    continue
                await asyncio.sleep(latency_s)
                if path.startswith("/2015-03-31/functions/") and path.endswith("/invocations"):
                    invokes += 1
                    writer.write(
                        b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n"
                        b"x-amzn-RequestId: bench\r\n\r\n"
                    )
                    await writer.drain()
                    continue
                if upstream is None:
                    upstream = await asyncio.open_connection("127.0.0.1", upstream_port)
                up_reader, up_writer = upstream
                up_writer.write(head + body)
                await up_writer.drain()
                resp_head, resp_body = await read_message(up_reader)
                writer.write(resp_head + resp_body)
                await writer.drain()
        finally:
            writer.close()
            if upstream is not None:
                upstream[1].close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
        ready.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --------------------------------------------------------------------------- parent


def _last_result() -> dict[str, Any]:
    phase = {"reached": True, "ok": True, "ms": 12.3}
    return {
        "schema_version": 1,
        "target_id": "x",
        "host": "mx.example.com",
        "port": 587,
        "encryption": "explicit",
        "started_at": "2026-11-25T14:59:00Z",
        "status": "ok",
        "error": None,
        "warnings": [],
        "phases": {
            p: phase
            for p in (
                "dns",
                "connect",
                "banner",
                "ehlo",
                "starttls",
                "tls",
                "ehlo_tls",
                "auth",
                "quit",
            )
        },
        "address": {
            "ip": "192.0.2.25",
            "family": "ipv4",
            "port": 587,
            "source": "dns",
            "attempts": [{"ip": "192.0.2.25", "family": "ipv4", "ok": True, "ms": 1.2}],
        },
        "tls": {
            "version": "TLSv1.3",
            "cipher": "TLS_AES_256_GCM_SHA384",
            "verified": True,
            "subject": "CN=mx.example.com",
            "issuer": "CN=R11,O=Let's Encrypt,C=US",
            "sans": ["mx.example.com"],
            "not_after": "2027-01-01T00:00:00Z",
            "days_left": 37,
        },
        "auth": None,
        "server": {
            "banner": "220 mx.example.com ESMTP Postfix",
            "extensions": ["PIPELINING", "SIZE", "STARTTLS", "8BITMIME", "SMTPUTF8"],
        },
        "total_ms": 123.4,
    }


def _seed(endpoint: str, n: int) -> dict[str, str]:
    import boto3
    from template_tables import create_tables

    from smtpwatch.adapters.dynamodb import DynamoTargetStore
    from smtpwatch.core.state import TargetState, TargetStatus

    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    names = create_tables(ddb, prefix="bench")
    ids = [f"target-{i:05d}" for i in range(n)]
    DynamoTargetStore(ddb, names["TargetsTable"]).put_items(
        {"target_id": t, "host": f"mx{i}.example.com", "interval_s": 60} for i, t in enumerate(ids)
    )
    last = _last_result()
    items = []
    for t in ids:
        state = TargetState(
            t,
            status=TargetStatus.UP,
            last_result=last | {"target_id": t},
            last_checked_at="2026-11-25T14:59:00Z",
            version=3,
        )
        items.append({k: v for k, v in state.to_dict().items() if v is not None})
    DynamoTargetStore(ddb, names["StateTable"]).put_items(items)  # the same batch writer
    return names


class _Ctx:
    function_name = "smtpwatch-dispatcher"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:smtpwatch-dispatcher"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--invoke-mode", choices=("direct", "boto3"), default="direct")
    args = parser.parse_args()

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "aws"))
    from dynamodb_local import running_dynamodb_local

    with running_dynamodb_local() as ddb_endpoint:
        t = time.perf_counter()
        names = _seed(ddb_endpoint, args.targets)
        print(f"seeded {args.targets} targets + states in {time.perf_counter() - t:.1f} s")
        ctx = mp.get_context("spawn")
        ready = ctx.Queue()
        upstream_port = int(ddb_endpoint.rsplit(":", 1)[1])
        proxy = ctx.Process(
            target=_serve, args=(args.latency_ms / 1000, upstream_port, ready), daemon=True
        )
        proxy.start()
        try:
            proxy_port = ready.get(timeout=60)
            summary, elapsed, invokes = _tick(args, names, proxy_port)
        finally:
            proxy.terminate()
    print(
        f"dispatch tick: {summary['dispatched']} of {summary['due']} due targets dispatched "
        f"(invokes seen by the endpoint: {invokes}, failed: {summary['failed']}) "
        f"in {elapsed:.2f} s from the tick, dispatcher cold start included "
        f"(handler's own measure: {summary['elapsed_ms'] / 1000:.2f} s); "
        f"{args.latency_ms:g} ms per AWS call, {args.workers} invoke workers, "
        f"{args.invoke_mode} invokes"
    )
    print("dispatcher phases (ms):", json.dumps(summary["phase_ms"]))
    goal = 20.0
    met = elapsed <= goal and summary["dispatched"] == args.targets
    print(f"goal: all dispatched within {goal:g} s of the tick -> {'met' if met else 'NOT met'}")
    return 0


def _tick(
    args: argparse.Namespace, names: dict[str, str], proxy_port: int
) -> tuple[dict[str, Any], float, int]:
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxy_port}",
        TARGETS_TABLE=names["TargetsTable"],
        STATE_TABLE=names["StateTable"],
        RESULTS_TABLE=names["ResultsTable"],
        PROBE_FUNCTION_NAME="smtpwatch-probe",
        SMTPWATCH_DISPATCH_WORKERS=str(args.workers),
        SMTPWATCH_INVOKE_MODE=args.invoke_mode,
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_NAMESPACE="Smtpwatch",
        POWERTOOLS_SERVICE_NAME="smtpwatch",
    )
    tick = datetime.now(UTC).replace(second=0, microsecond=0)
    event = {"source": "aws.events", "time": tick.strftime("%Y-%m-%dT%H:%M:%SZ")}
    t0 = time.perf_counter()
    from smtpwatch.handlers import dispatcher

    devnull = open(os.devnull, "w")  # noqa: SIM115 - the EMF line is not the figure
    real_stdout, sys.stdout = sys.stdout, devnull
    try:
        summary: dict[str, Any] = dispatcher.handler(event, _Ctx())
    finally:
        sys.stdout = real_stdout
        devnull.close()
    elapsed = time.perf_counter() - t0
    conn = http.client.HTTPConnection("127.0.0.1", proxy_port)
    conn.request("GET", "/__invokes")
    invokes = int(json.loads(conn.getresponse().read())["invokes"])
    return summary, elapsed, invokes


if __name__ == "__main__":
    raise SystemExit(main())
