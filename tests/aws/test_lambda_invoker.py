"""The probe invokers: the boto3 one and the direct signed POST the dispatcher uses on
Lambda — the same request on the wire (path, invocation type, SigV4), against a
loopback endpoint and against moto's server (a real Lambda API implementation)."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from smtpwatch.adapters.lambda_invoker import DirectLambdaInvoker, LambdaProbeInvoker


@dataclass
class Endpoint:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: list[int] = field(default_factory=list)  # status codes to answer, then 202
    close_after_each: bool = False


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status = state.replies.pop(0) if state.replies else 202
            data = b"" if status == 202 else b'{"Message":"Function not found"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            if state.close_after_each:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def test_direct_invoke_sends_what_boto3_sends(endpoint: Endpoint) -> None:
    session = _session()
    client = session.client("lambda", endpoint_url=endpoint.url)
    LambdaProbeInvoker(client, "smtpwatch-probe").invoke("mx1", "2026-11-25T15:00:00Z")
    DirectLambdaInvoker(client, session, "smtpwatch-probe").invoke("mx1", "2026-11-25T15:00:00Z")
    sdk, direct = endpoint.requests
    assert direct["path"] == sdk["path"] == "/2015-03-31/functions/smtpwatch-probe/invocations"
    assert direct["headers"]["X-Amz-Invocation-Type"] == "Event"
    assert (
        json.loads(direct["body"])
        == json.loads(sdk["body"])
        == {
            "target_id": "mx1",
            "scheduled_at": "2026-11-25T15:00:00Z",
        }
    )
    auth = direct["headers"]["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/lambda/aws4_request" in auth
    assert "x-amz-invocation-type" in auth  # the invocation type is signed


def test_direct_invoke_retries_throttling_and_reports_other_errors(endpoint: Endpoint) -> None:
    session = _session()
    invoker = DirectLambdaInvoker(
        session.client("lambda", endpoint_url=endpoint.url), session, "smtpwatch-probe"
    )
    endpoint.replies = [429, 503]
    invoker.invoke("mx1", "2026-11-25T15:00:00Z")
    assert len(endpoint.requests) == 3
    endpoint.replies = [404]
    with pytest.raises(RuntimeError, match="404"):
        invoker.invoke("mx1", "2026-11-25T15:00:00Z")


def test_direct_invoke_survives_the_server_closing_keep_alive_connections(
    endpoint: Endpoint,
) -> None:
    session = _session()
    invoker = DirectLambdaInvoker(
        session.client("lambda", endpoint_url=endpoint.url), session, "smtpwatch-probe"
    )
    endpoint.close_after_each = True
    for i in range(3):
        invoker.invoke(f"t{i}", "2026-11-25T15:00:00Z")
    assert [json.loads(r["body"])["target_id"] for r in endpoint.requests] == ["t0", "t1", "t2"]


def test_direct_invoke_is_accepted_by_motos_lambda_api() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        session = _session()
        iam = session.client("iam", endpoint_url=url)
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("index.py", "def handler(event, context):\n    return None\n")
        client = session.client("lambda", endpoint_url=url)
        client.create_function(
            FunctionName="smtpwatch-probe",
            Runtime="python3.13",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": buf.getvalue()},
        )
        DirectLambdaInvoker(client, session, "smtpwatch-probe").invoke(
            "mx1", "2026-11-25T15:00:00Z"
        )
        with pytest.raises(RuntimeError, match="404"):
            DirectLambdaInvoker(client, session, "no-such-function").invoke(
                "mx1", "2026-11-25T15:00:00Z"
            )
    finally:
        server.stop()
