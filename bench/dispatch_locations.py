"""Benchmark: one dispatcher tick with 10,000 due targets checked from 3 locations.

    .venv/bin/python bench/dispatch_locations.py [--targets 10000] [--workers 64]
        [--home-ms 20] [--cross-ms 80] [--probe-regions eu-west-1,ap-southeast-2]

Set-up (all on loopback, nothing leaves the machine), as ``bench/dispatch.py``:
DynamoDB Local with the stack's tables, ``--targets`` targets due every tick (no
``locations``: every deployed location) and a state item each. In front of it, one
asyncio HTTP endpoint that stands in for the three regions' endpoints: it answers every
request after the latency of the region the request is signed for (SigV4 credential
scope): ``--home-ms`` for the home region (DynamoDB, the home probe's Invoke),
``--cross-ms`` for an Invoke of a probe region's function, which the dispatcher in the
home region reaches across regions. Lambda ``Invoke`` is answered there (202), the rest
goes on to DynamoDB Local. It runs in ``--proxy-procs`` child processes sharing the port
(SO_REUSEPORT), so its CPU does not share the dispatcher's GIL.

Then the real dispatcher handler (``SMTPWATCH_PROBE_REGIONS`` set, its real clients and
invokers pointed at the endpoint by ``AWS_ENDPOINT_URL``) runs one tick. Printed: the
time from the tick to the last invoke accepted (per region), invokes per region and
function, the dispatcher's phases, its process CPU per target and per invoke, and the
invoke threads' own CPU per invoke (thread CPU measured around each invoker call).
Goal: every target's 3 invokes accepted within 20 s of the tick. Figures are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dispatch import _Ctx, _seed

HOME = "us-east-1"
ACCOUNT = "123456789012"
_SCOPE = re.compile(rb"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_N_REGIONS = 16


# --------------------------------------------------------------------------- child process


def _serve(
    latency: dict[str, float],
    default_s: float,
    upstream_port: int,
    regions: list[str],
    counts: Any,
    last: Any,
    samples: Any,
    ready: Any,
    sock_port: int,
) -> None:
    """An asyncio HTTP/1.1 endpoint: a request waits its signing region's latency; Lambda
    Invoke is answered here (202) and counted per region (``counts``, ``last``: shared
    arrays by region index; ``samples`` gets each new region + function pair), everything
    else is forwarded to DynamoDB Local."""
    import asyncio
    import socket
    from urllib.parse import unquote

    index = {r: i for i, r in enumerate(regions)}
    seen: set[tuple[str, str]] = set()

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
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    head, body = await read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line = head.split(b"\r\n", 1)[0].decode()
                path = request_line.split(" ", 2)[1]
                scope = _SCOPE.search(head)
                region = scope.group(1).decode() if scope else ""
                await asyncio.sleep(latency.get(region, default_s))
                if path.startswith("/2015-03-31/functions/") and path.endswith("/invocations"):
                    i = index.get(region, len(regions))
                    with counts.get_lock():
                        counts[i] += 1
                    with last.get_lock():
                        last[i] = max(last[i], time.time())
                        last[_N_REGIONS + 1 + i] += len(head) + len(body)
                    pair = (region, unquote(path.split("/")[3]))
                    if pair not in seen:
                        seen.add(pair)
                        samples.put(pair)
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
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", sock_port))
        sock.listen(1024)
        server = await asyncio.start_server(handle, sock=sock)
        ready.put(sock.getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --------------------------------------------------------------------------- parent


class _InvokeCpu:
    """Thread CPU spent inside each invoker call (``invoke_with_target``/``invoke``) of
    the real invoker classes: the client's own cost per invoke, waits excluded."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    def install(self) -> None:
        from smtpwatch.adapters import lambda_invoker

        samples = self.samples
        for cls in (lambda_invoker.DirectLambdaInvoker, lambda_invoker.LambdaProbeInvoker):
            original = cls.invoke_with_target

            def timed(self: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
                c0 = time.thread_time()
                try:
                    return _original(self, *args, **kw)
                finally:
                    samples.append(time.thread_time() - c0)  # list.append: atomic

            cls.invoke_with_target = timed  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--home-ms", type=float, default=20.0)
    parser.add_argument("--cross-ms", type=float, default=80.0)
    parser.add_argument("--probe-regions", default="eu-west-1,ap-southeast-2")
    parser.add_argument("--workers", type=int, help="SMTPWATCH_DISPATCH_WORKERS (default: its)")
    parser.add_argument("--invoke-mode", choices=("direct", "boto3"), default="direct")
    parser.add_argument("--proxy-procs", type=int, default=2)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="more dispatcher environment (e.g. a per-region concurrency setting)",
    )
    args = parser.parse_args()
    probe_regions = [r.strip() for r in args.probe_regions.split(",") if r.strip()]
    regions = [HOME, *probe_regions]

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=HOME,
        AWS_REGION=HOME,
        AWS_EC2_METADATA_DISABLED="true",
    )
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "aws"))
    from dynamodb_local import running_dynamodb_local

    with running_dynamodb_local() as ddb_endpoint:
        t = time.perf_counter()
        names = _seed(ddb_endpoint, args.targets)
        print(f"seeded {args.targets} targets + states in {time.perf_counter() - t:.1f} s")
        ctx = mp.get_context("spawn")
        ready = ctx.Queue()
        samples = ctx.Queue()
        counts = ctx.Array("i", _N_REGIONS + 1)
        last = ctx.Array("d", 2 * (_N_REGIONS + 1))  # last accepted, then request bytes
        latency = {HOME: args.home_ms / 1000} | {r: args.cross_ms / 1000 for r in probe_regions}
        upstream_port = int(ddb_endpoint.rsplit(":", 1)[1])
        procs = []
        port = 0
        try:
            for _ in range(max(1, args.proxy_procs)):
                proc = ctx.Process(
                    target=_serve,
                    args=(
                        latency,
                        args.home_ms / 1000,
                        upstream_port,
                        regions,
                        counts,
                        last,
                        samples,
                        ready,
                        port,
                    ),
                    daemon=True,
                )
                proc.start()
                procs.append(proc)
                port = ready.get(timeout=60)  # the next process binds the same port
            result = _tick(args, names, port, probe_regions)
        finally:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.join(timeout=10)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The endpoint's own CPU (it starts after the seeding): if it neared the wall time, the
    # endpoint and not the dispatcher would be the limit.
    result["endpoint_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    functions = []
    while not samples.empty():
        functions.append(samples.get())
    _report(args, regions, result, counts[:], last[:], sorted(set(functions)))
    return 0


def _tick(
    args: argparse.Namespace, names: dict[str, str], port: int, probe_regions: list[str]
) -> dict[str, Any]:
    env = dict(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        TARGETS_TABLE=names["TargetsTable"],
        STATE_TABLE=names["StateTable"],
        RESULTS_TABLE=names["ResultsTable"],
        PROBE_FUNCTION_NAME="bench-probe",
        SMTPWATCH_PROBE_REGIONS=",".join(probe_regions),
        SMTPWATCH_PROBE_FUNCTION_PREFIX="bench-probe-",
        SMTPWATCH_INVOKE_MODE=args.invoke_mode,
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_NAMESPACE="Smtpwatch",
        POWERTOOLS_SERVICE_NAME="smtpwatch",
    )
    if args.workers:
        env["SMTPWATCH_DISPATCH_WORKERS"] = str(args.workers)
    for pair in args.env:
        key, _, value = pair.partition("=")
        env[key] = value
    os.environ.update(env)
    cpu = _InvokeCpu()
    cpu.install()
    from smtpwatch.handlers import dispatcher

    tick = datetime.now(UTC).replace(second=0, microsecond=0)
    event = {"source": "aws.events", "time": tick.strftime("%Y-%m-%dT%H:%M:%SZ")}
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the EMF line is not the figure
    real_stdout, sys.stdout = sys.stdout, devnull
    wall0, t0, c0 = time.time(), time.perf_counter(), time.process_time()
    try:
        summary: dict[str, Any] = dispatcher.handler(event, _Ctx())
    finally:
        sys.stdout = real_stdout
        devnull.close()
    return {
        "summary": summary,
        "elapsed": time.perf_counter() - t0,
        "cpu": time.process_time() - c0,
        "wall0": wall0,
        "invoke_cpu": cpu.samples,
        "env": {k: v for k, v in env.items() if k.startswith("SMTPWATCH_")},
    }


def _report(
    args: argparse.Namespace,
    regions: list[str],
    r: dict[str, Any],
    counts: list[int],
    last: list[float],
    functions: list[tuple[str, str]],
) -> None:
    summary = r["summary"]
    total = sum(counts)
    expected = args.targets * len(regions)
    print(
        f"dispatch tick: {total} of {expected} invokes accepted "
        f"({args.targets} targets x {len(regions)} locations; dispatcher summary: due "
        f"{summary.get('due')}, dispatched {summary.get('dispatched')}, failed "
        f"{summary.get('failed')}); handler returned {r['elapsed']:.2f} s after the tick "
        f"(its own measure {summary.get('elapsed_ms', 0) / 1000:.2f} s), cold start included"
    )
    latest = 0.0
    for i, region in enumerate(regions):
        at = last[i] - r["wall0"] if counts[i] else float("nan")
        latest = max(latest, at if counts[i] else 0.0)
        ms = args.home_ms if i == 0 else args.cross_ms
        size = last[_N_REGIONS + 1 + i] / counts[i] if counts[i] else 0.0
        print(
            f"  {region:<16} {counts[i]:6d} invokes, {ms:g} ms each, last accepted "
            f"{at:6.2f} s after the tick; {size:.0f} B per signed Invoke request"
        )
    if counts[len(regions)]:
        print(f"  invokes signed for an unknown region: {counts[len(regions)]}")
    for region, function in functions:
        print(f"  function invoked in {region}: {function}")
    print("dispatcher phases (ms):", json.dumps(summary.get("phase_ms", {})))
    print("dispatcher settings:", json.dumps(r["env"]))
    samples = r["invoke_cpu"]
    per_invoke = sum(samples) / len(samples) * 1000 if samples else float("nan")
    print(
        f"client CPU: dispatcher process {r['cpu']:.2f} s = "
        f"{r['cpu'] / max(args.targets, 1) * 1000:.3f} ms per target, "
        f"{r['cpu'] / max(total, 1) * 1000:.3f} ms per invoke (everything: scans, plan, "
        f"open slots, invokes); inside the invoker calls {per_invoke:.3f} ms per invoke "
        f"({len(samples)} calls; one location today: 0.53 ms per target)"
    )
    print(
        f"the stand-in endpoint's own CPU ({args.proxy_procs} processes, started after the "
        f"seeding): {r['endpoint_cpu']:.2f} s"
    )
    goal = 20.0
    met = total == expected and latest <= goal
    print(
        f"goal: all {expected} invokes within {goal:g} s of the tick -> last at "
        f"{latest:.2f} s ({latest / goal:.2f}x the goal): {'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
