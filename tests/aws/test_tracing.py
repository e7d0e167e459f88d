"""EnableTracing=true: the probe handler's trace shows each SMTP phase and each AWS call,
the dispatcher's its reads and each probe invoke.

Each handler runs in a fresh Python process set up as Lambda sets up a traced function
(``LAMBDA_TASK_ROOT``, one ``_X_AMZN_TRACE_ID`` per invocation, the template's
``SMTPWATCH_TRACING``), with the real X-Ray SDK and its real UDP emitter, pointed by
``AWS_XRAY_DAEMON_ADDRESS`` at a socket of this test on 127.0.0.1, which stands in for
the X-Ray daemon. AWS is a moto server on 127.0.0.1, the SMTP server aiosmtpd on
127.0.0.1. With tracing off, the same process imports nothing of X-Ray and sends nothing.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from template_tables import create_tables, table_env

from conftest import REGION, SECRETS_PREFIX
from smtpwatch.adapters.aws_secrets import encode_secret
from smtpwatch.adapters.dynamodb import to_item
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer

PASSWORD = "Tr0ub4dor&3-never-trace-me"

# One invocation per (event, trace id), in one process (a warm container), as Lambda
# sets _X_AMZN_TRACE_ID before each; argv: the handler's module, then the runs as JSON.
# What the handler returned, and the X-Ray modules loaded, go to stderr.
_DRIVER = """
import importlib, json, os, sys
handler = importlib.import_module(sys.argv[1]).handler

class Ctx:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    def get_remaining_time_in_millis(self):
        return 900000

out = []
for event, trace_id in json.loads(sys.argv[2]):
    os.environ["_X_AMZN_TRACE_ID"] = f"Root={trace_id};Parent=53995c3f42cd8ad8;Sampled=1"
    out.append(handler(event, Ctx()))
xray = sorted(m for m in sys.modules if m.split(".")[0] in ("aws_xray_sdk", "wrapt"))
sys.stderr.write("DRIVER " + json.dumps({"out": out, "xray_modules": xray}, default=str) + "\\n")
"""
SLOT = "2026-12-01T10:00:00Z"
TICK = json.loads(
    (Path(__file__).resolve().parents[1] / "events" / "scheduled_tick.json").read_text()
)

TRACE_OK = "1-67500000-0123456789abcdef01234567"
TRACE_DOWN = "1-67500000-89abcdef0123456789abcdef"


class Stack:
    """Tables, topic and secrets of a stack on a moto server, and a target on aiosmtpd."""

    def __init__(self, moto_url: str, server: SmtpServer, certs: Certificates) -> None:
        self.moto_url = moto_url

        def client(name: str) -> Any:
            return boto3.client(name, endpoint_url=moto_url, region_name=REGION)

        ddb = client("dynamodb")
        self.tables = create_tables(ddb, prefix="traced")
        self.topic = client("sns").create_topic(Name="traced-alerts")["TopicArn"]
        ssm = client("ssm")
        for name, password in (("mx1", PASSWORD), ("wrong", PASSWORD + "x")):
            # ca_bundle: TLS proves the test CA, not the public PKI: the secret consents
            ssm.put_parameter(
                Name=f"{SECRETS_PREFIX}{name}",
                Value=encode_secret(password, [DEFAULT_HOSTNAME], allow_unverified=True),
                Type="SecureString",
            )
            target = {
                "target_id": name,
                "host": DEFAULT_HOSTNAME,
                "port": server.port,
                "dns_hosts": [f"127.0.0.1 {DEFAULT_HOSTNAME}"],
                "ca_bundle": certs.ca_pem,
                "timeout_s": 5,
                "recheck_delay_s": 0,
                "interval_s": 60,
                "login": True,
                "username": "monitor",
                "password_ref": f"ssm:{SECRETS_PREFIX}{name}",
            }
            ddb.put_item(TableName=self.tables["TargetsTable"], Item=to_item(target))

    def add_probe_function(self) -> None:
        """The probe function the dispatcher invokes (moto runs no code for it)."""
        config = json.dumps({"lambda": {"use_docker": False}}).encode()
        urllib.request.urlopen(
            urllib.request.Request(f"{self.moto_url}/moto-api/config", data=config, method="POST")
        )
        iam = boto3.client("iam", endpoint_url=self.moto_url, region_name=REGION)
        role = iam.create_role(RoleName="probe", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as zf:
            zf.writestr("index.py", "def handler(event, context):\n    return None\n")
        boto3.client("lambda", endpoint_url=self.moto_url, region_name=REGION).create_function(
            FunctionName="smtpwatch-probe",
            Runtime="python3.13",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": code.getvalue()},
        )

    def environ(self, daemon_port: int, task_root: Path, *, tracing: bool) -> dict[str, str]:
        """The function's environment as template.yaml and Lambda set it."""
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SMTPWATCH_", "POWERTOOLS_", "AWS_XRAY_", "_X_AMZN_"))
        }
        return (
            base
            | table_env(self.tables)
            | {
                "AWS_ENDPOINT_URL": self.moto_url,
                "ALERT_TOPIC_ARN": self.topic,
                "PROBE_FUNCTION_NAME": "smtpwatch-probe",
                "SECRETS_PREFIX": SECRETS_PREFIX,
                "RESULT_RETENTION_DAYS": "30",
                "POWERTOOLS_SERVICE_NAME": "smtpwatch",
                "POWERTOOLS_METRICS_NAMESPACE": "Smtpwatch",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                "SMTPWATCH_TRACING": "true" if tracing else "false",
                "SMTPWATCH_IN_VPC": "false",
                "SMTPWATCH_ALLOW_LOOPBACK": "1",  # the SMTP server is on 127.0.0.1
                "LAMBDA_TASK_ROOT": str(task_root),
                "AWS_LAMBDA_FUNCTION_NAME": "smtpwatch-probe",
                "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon_port}",
            }
        )


@pytest.fixture
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's accounts live in this process, shared by every server and mock: start empty.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    # moto's config is process-wide too: what add_probe_function changes is put back, or
    # a later test's mock_aws would run without Docker's "no such function" answers.
    with urllib.request.urlopen(f"{url}/moto-api/config") as response:
        saved = response.read()
    yield url
    urllib.request.urlopen(
        urllib.request.Request(f"{url}/moto-api/config", data=saved, method="POST")
    )
    server.stop()


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """The X-Ray daemon's place: a UDP socket on 127.0.0.1 that keeps what it is sent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture
def stack(moto_url: str, certs: Certificates, smtp_server: Any) -> Stack:
    server = smtp_server(
        "127.0.0.1", cert=certs.valid(), starttls=True, credentials={"monitor": PASSWORD}
    )
    return Stack(moto_url, server, certs)


def _probe(target_id: str) -> dict[str, Any]:
    return {"target_id": target_id, "scheduled_at": SLOT}


def _invoke(
    env: dict[str, str],
    runs: list[tuple[dict[str, Any], str]],
    module: str = "smtpwatch.handlers.probe",
) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, module, json.dumps(runs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("DRIVER ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(lines[-1][len("DRIVER ") :])
    report["stdout"] = done.stdout
    return report


def _documents(daemon: socket.socket) -> list[dict[str, Any]]:
    """Every segment document the emitter sent: ``{"format": "json", ...}\\n{...}``.
    The driver has exited, so all of them are already in the socket's queue."""
    docs = []
    while True:
        try:
            data = daemon.recv(65536)
        except BlockingIOError:
            return docs
        header, _, body = data.decode("utf-8").partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        docs.append(json.loads(body))


def _walk(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield doc
    for child in doc.get("subsegments", ()):
        yield from _walk(child)


def _subsegments(docs: list[dict[str, Any]], trace_id: str) -> list[dict[str, Any]]:
    """One trace's subsegments, in the order they started. Lambda's recorder sends each
    as it ends (streaming threshold 0), naming its parent by ``parent_id``."""
    found = [s for d in docs if d["trace_id"] == trace_id for s in _walk(d)]
    return sorted(found, key=lambda s: s["start_time"])


def _children(found: list[dict[str, Any]], parent: dict[str, Any]) -> list[dict[str, Any]]:
    ids = {s["id"] for s in parent.get("subsegments", ())}
    return [s for s in found if s.get("parent_id") == parent["id"] or s["id"] in ids]


def _aws_calls(found: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(s["name"], s["aws"]["operation"]) for s in found if s.get("namespace") == "aws"}


def test_a_traced_check_records_each_phase_and_each_aws_call(
    stack: Stack, daemon: socket.socket, tmp_path: Path
) -> None:
    env = stack.environ(daemon.getsockname()[1], tmp_path, tracing=True)
    report = _invoke(env, [(_probe("mx1"), TRACE_OK), (_probe("wrong"), TRACE_DOWN)])
    ok, down = report["out"]
    assert ok["status"] == "ok"
    assert (down["error"], down["alert"]) == ("auth_failed", "down")
    assert "aws_xray_sdk" in report["xray_modules"]
    assert "X-Ray SDK is missing" not in report["stdout"]
    docs = _documents(daemon)

    # The passing check: the handler, each phase of the dialogue inside it, in order.
    passing = _subsegments(docs, TRACE_OK)
    (handler,) = [s for s in passing if s["name"] == "## handler"]
    inside = _children(passing, handler)
    phases = [s["name"] for s in inside if s["namespace"] == "local"]
    assert phases == [
        "dns",
        "connect",
        "banner",
        "ehlo",
        "starttls",
        "tls",
        "ehlo_tls",
        "auth",
        "quit",
    ]
    for phase in (s for s in inside if s["name"] in phases):
        assert phase["end_time"] >= phase["start_time"]
        assert not phase.get("error") and not phase.get("fault")
    # ...and its AWS calls inside it: the target and state read, the password from SSM,
    # the result's write.
    assert {("dynamodb", "BatchGetItem"), ("ssm", "GetParameter")} <= _aws_calls(inside)
    assert ("dynamodb", "PutItem") in _aws_calls(passing)

    # The failing check: its auth phase marked an error, with the failure class only,
    # and the down alert's SNS Publish traced.
    failing = _subsegments(docs, TRACE_DOWN)
    (auth,) = [s for s in failing if s["name"] == "auth"]
    assert auth["error"] is True
    assert auth["annotations"] == {"error": "AuthFailedError"}
    assert ("sns", "Publish") in _aws_calls(failing)
    # Nothing of the password reaches a trace.
    assert not [d for d in docs if PASSWORD in json.dumps(d)]


def test_a_traced_tick_records_its_reads_and_each_invoke(
    stack: Stack, daemon: socket.socket, tmp_path: Path
) -> None:
    stack.add_probe_function()
    env = stack.environ(daemon.getsockname()[1], tmp_path, tracing=True)
    env["AWS_LAMBDA_FUNCTION_NAME"] = "smtpwatch-dispatcher"
    report = _invoke(env, [(TICK, TRACE_OK)], module="smtpwatch.handlers.dispatcher")
    found = _subsegments(_documents(daemon), TRACE_OK)
    assert [s["name"] for s in found if s["name"] == "## handler"] == ["## handler"]
    assert ("dynamodb", "Scan") in _aws_calls(found)
    # Each probe invoke, made by the direct invoker on http.client: the SDK records a
    # request's send, then its answer (getresponse, read); one request per due target.
    invokes = [
        s
        for s in found
        if s.get("namespace") == "remote"
        and s["http"]["request"]["url"].endswith("/functions/smtpwatch-probe/invocations")
    ]
    sent = [s for s in invokes if "response" not in s["http"]]
    answers = {s["http"]["response"]["status"] for s in invokes if "response" in s["http"]}
    assert (report["out"][0]["dispatched"], len(sent), answers) == (2, 2, {202})


def test_with_tracing_off_nothing_of_xray_is_imported_or_sent(
    stack: Stack, daemon: socket.socket, tmp_path: Path
) -> None:
    env = stack.environ(daemon.getsockname()[1], tmp_path, tracing=False)
    report = _invoke(env, [(_probe("mx1"), TRACE_OK), (_probe("wrong"), TRACE_DOWN)])
    ok, down = report["out"]
    assert ok["status"] == "ok" and down["alert"] == "down"  # the same checks, untraced
    assert report["xray_modules"] == []
    assert _documents(daemon) == []
