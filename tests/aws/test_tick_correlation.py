"""One tick followed end to end: the schedule event's id is the correlation id of the
dispatcher's log lines, travels in each probe event, and is the correlation id of every
log line the probes of that tick write (moto; both handlers in process; real servers and
a refused port on loopback).
"""

from __future__ import annotations

import io
import json
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from conftest import REGION, LambdaContext
from smtpwatch.adapters.dynamodb import to_item
from smtpwatch.adapters.lambda_invoker import LambdaProbeInvoker
from smtpwatch.handlers import dispatcher as dispatcher_module
from smtpwatch.handlers import probe as probe_module
from smtpwatch.testing.servers import SmtpServer

DISPATCHER_CTX = LambdaContext(
    function_name="smtpwatch-dispatcher",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:smtpwatch-dispatcher",
)
PROBE_CTX = LambdaContext()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound and held but never listening: connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def probe_events(
    stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[dict[str, Any]]]:
    """The probe events the dispatcher handler sends, captured at the boto3 boundary."""
    monkeypatch.setenv("SMTPWATCH_ALLOW_LOOPBACK", "1")
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="probe-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=stack_env["PROBE_FUNCTION_NAME"],
        Runtime="python3.13",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": buf.getvalue()},
    )
    dispatcher_module._runtime.cache_clear()
    probe_module._runtime.cache_clear()
    _, dispatcher = dispatcher_module._runtime()
    invoker = dispatcher.invoker
    assert isinstance(invoker, LambdaProbeInvoker)
    events: list[dict[str, Any]] = []
    lock = threading.Lock()

    def capture(params: dict[str, Any], **_: Any) -> None:
        with lock:
            events.append(json.loads(params["body"]))

    invoker.client.meta.events.register("before-call.lambda.Invoke", capture)
    yield events
    dispatcher_module._runtime.cache_clear()
    probe_module._runtime.cache_clear()


def _drain(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    buffer.truncate(0)
    buffer.seek(0)
    return lines


def _tick(
    event: dict[str, Any], events: list[dict[str, Any]], log_lines: io.StringIO
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run one tick: the dispatcher, then the probe for each event it sent. Returns the
    dispatcher's log lines and the probes' log lines."""
    _drain(log_lines)
    events.clear()
    dispatcher_module.handler(event, DISPATCHER_CTX)
    dispatcher_lines = _drain(log_lines)
    assert events, "the tick dispatched nothing"
    for probe_event in list(events):
        probe_module.handler(probe_event, PROBE_CTX)
    return dispatcher_lines, _drain(log_lines)


def test_the_schedule_events_id_follows_the_tick_into_every_probe_log_line(
    probe_events: list[dict[str, Any]],
    tables: dict[str, str],
    log_lines: io.StringIO,
    smtp_server: Callable[..., SmtpServer],
    refused_port: int,
    event_file: Callable[[str], dict[str, Any]],
) -> None:
    server = smtp_server("127.0.0.1")
    ddb = boto3.client("dynamodb", region_name=REGION)
    common = {"host": "127.0.0.1", "encryption": "none", "interval_s": 60, "timeout_s": 5}
    common |= {"recheck_delay_s": 0}
    for target_id, port in (("up", server.port), ("down", refused_port)):
        item = to_item({"target_id": target_id, "port": port, **common})
        ddb.put_item(TableName=tables["TargetsTable"], Item=item)
    # a third target the probe cannot read: its config warning is a line of the tick too
    ddb.put_item(
        TableName=tables["TargetsTable"],
        Item=to_item({"target_id": "broken", "host": "127.0.0.1", "port": "not a port"}),
    )
    tick = event_file("scheduled_tick.json")

    dispatcher_lines, probe_lines = _tick(tick, probe_events, log_lines)

    tick_id = tick["id"]
    assert dispatcher_lines and any(r["message"] == "dispatch finished" for r in dispatcher_lines)
    assert {r["function_name"] for r in dispatcher_lines} == {"smtpwatch-dispatcher"}
    assert {r.get("correlation_id") for r in dispatcher_lines} == {tick_id}
    assert sorted(e["target_id"] for e in probe_events) == ["broken", "down", "up"]
    assert {e["correlation_id"] for e in probe_events} == {tick_id}
    # every probe line of the tick: each target's "check done", the config warning
    assert {r["function_name"] for r in probe_lines} == {"smtpwatch-probe"}
    assert {r.get("correlation_id") for r in probe_lines} == {tick_id}
    done = {r["target_id"]: r for r in probe_lines if r["message"] == "check done"}
    assert sorted(done) == ["broken", "down", "up"]
    assert (done["up"]["status"], done["down"]["status"]) == ("ok", "critical")
    assert done["down"]["error"] == "connect_refused" and done["broken"]["error"] == "config"
    assert any(
        r["message"] == "target not probed: config problem" and r["target_id"] == "broken"
        for r in probe_lines
    )

    # the next tick's lines carry the next tick's id, none of the first
    later = tick | {"id": "0d1f5a3c-5b7e-4c55-9a0e-4f3c3e0a6b21", "time": "2026-11-25T15:01:00Z"}
    dispatcher_lines, probe_lines = _tick(later, probe_events, log_lines)
    assert {r.get("correlation_id") for r in dispatcher_lines} == {later["id"]}
    assert {r.get("correlation_id") for r in probe_lines} == {later["id"]}
    assert {e["correlation_id"] for e in probe_events} == {later["id"]}


def test_a_probe_event_without_a_correlation_id_logs_none_and_keeps_its_target_id(
    probe_events: list[dict[str, Any]], log_lines: io.StringIO
) -> None:
    probe_module.handler(
        {"target_id": "no-such-target", "scheduled_at": "2026-11-25T15:00:00Z"}, PROBE_CTX
    )
    lines = _drain(log_lines)
    assert lines and {r.get("correlation_id") for r in lines} == {None}
    assert {r["target_id"] for r in lines} == {"no-such-target"}
