"""Benchmark: CPU per asynchronous Lambda ``Invoke``, boto3's ``invoke`` against the
direct signed POST (``DirectLambdaInvoker``).

    .venv/bin/python bench/direct_invoke.py [-n 3000]

A loopback HTTP endpoint answers every POST with 202, as Lambda does for async
invokes. Printed: the calling thread's CPU time per invoke (steady on a shared
machine) and wall time per invoke. Figures are printed, never asserted. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Accept(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _serve() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"127.0.0.1:{server.server_address[1]}"


def _measure(name: str, invoke: Any, n: int) -> None:
    invoke("warm-up")
    cpu, wall = time.thread_time(), time.perf_counter()
    for i in range(n):
        invoke(f"t{i}")
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    print(f"{name:<28} {cpu / n * 1e6:8.0f} µs CPU {wall / n * 1e6:8.0f} µs wall per invoke")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000)
    n = parser.parse_args().n
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY"):
        os.environ.pop(name, None)

    import botocore.session

    from smtpwatch.adapters.lambda_invoker import DirectLambdaInvoker, LambdaProbeInvoker

    endpoint = _serve()
    session = botocore.session.get_session()
    session.set_credentials("testing", "testing")
    client = session.create_client(
        "lambda", region_name="us-east-1", endpoint_url=f"http://{endpoint}"
    )
    at = "2026-11-25T15:00:00Z"
    _measure("boto3 invoke", lambda t: LambdaProbeInvoker(client, "p").invoke(t, at), n)
    direct = DirectLambdaInvoker(client, session, "p")
    _measure("direct", lambda t: direct.invoke(t, at), n)


if __name__ == "__main__":
    main()
