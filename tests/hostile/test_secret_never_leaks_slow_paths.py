"""No output holds the password on the slower paths: a fixed set of echo plans.

Each plan comes from the hypothesis test's families (the reproductions that opened
this work among them) and runs through the paths too slow for a property test:

- ``smtpwatch probe`` as its own process (text and ``--json``, password through
  ``--password-env``);
- ``smtpwatch run --once`` on a temporary SQLite database, the target logging in with
  an ``env:`` password_ref, alerting on its first failure after a re-check, with a
  webhook (every database row, the printed lines and alert, the webhook body, logs);
- the probe Lambda under moto with the password in SSM (DynamoDB result and state
  items, SNS messages read back from a subscribed SQS queue, every Powertools log line
  and what the handler printed), the rotation included: the server overwrites the SSM
  parameter when the old password reaches it, like a rotation landing mid-check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hostile.echo_server import EchoPlan, EchoServer
from hostile.leak_search import find_leaks
from hostile.scenarios import (
    PASSWORD_VAR,
    Rig,
    cli_probe_argv,
    local_check_outputs,
    probe_outputs,
    sqlite_rows,
    target_fields,
)
from smtpwatch.testing.servers import DEFAULT_HOSTNAME

REGION = "us-east-1"
SECRETS_PREFIX = "/smtpwatch/"
LONG = "Tr0ub4dor&3-correct-horse-battery-staple-90817-26354-qwertzuiopk"


@dataclasses.dataclass(frozen=True)
class Case:
    password: str
    plan: EchoPlan
    rotated_to: str | None = None


CASES = {
    "auth-535-filler-plain": Case(LONG, EchoPlan(echoes=(("auth", "filler"),), methods=("PLAIN",))),
    "recheck-greeting": Case(
        "Tr0ub4dor&3-recheck-banner",
        EchoPlan(echoes=(("greeting", "plain"), ("ehlo_keyword", "base64_plain"))),
    ),
    "fallback-ehlo-keyword-upper": Case(
        "ZZ99ZZ99ZZ99QQ11KEYWORD",
        EchoPlan(mode="fallback", echoes=(("ehlo_tls_keyword", "plain"), ("auth", "split"))),
    ),
    "whitespace-and-escapes": Case(
        "two  spaces\there-%41-x",
        EchoPlan(
            mode="implicit",
            echoes=(("greeting", "spaced"), ("auth", "hex_escaped"), ("quit", "percent")),
        ),
    ),
    "endless-334-repr": Case(
        "repr'd \\ Tr0ub\t4dor-42",
        EchoPlan(auth_reply=334, echoes=(("auth", "plain"),), methods=("LOGIN",)),
    ),
    "certificate-unverified": Case(
        "Tr0ub4dor&3-in-the-cert",
        EchoPlan(cert_trusted=False, echoes=(("certificate", "plain"), ("greeting", "upper"))),
    ),
    "rotation": Case(
        "Tr0ub4dor&3-old-secret",
        EchoPlan(echoes=(("greeting", "plain"), ("auth", "base64"), ("quit", "bytes_repr"))),
        rotated_to="Correct-Horse-new-secret",
    ),
}
CLI_CASES = {k: v for k, v in CASES.items() if v.rotated_to is None}


def _secrets(case: Case) -> dict[str, str]:
    out = {"the": case.password}
    if case.rotated_to is not None:
        out = {"old": case.password, "new": case.rotated_to}
    return out


def _assert_no_leak(outputs: dict[str, str], case: Case) -> None:
    leaks = []
    for label, text in outputs.items():
        for which, secret in _secrets(case).items():
            hits = find_leaks(text, secret)
            if hits:
                leaks.append(f"{which} password {secret!r} in {label}: {hits}\n{text[:2000]}")
    assert not leaks, f"{case.plan}\n\n" + "\n\n".join(leaks)


def _server(rig: Rig, case: Case, ip: str = "127.0.0.1") -> EchoServer:
    server = rig.servers[ip]
    accept = () if case.rotated_to is None else (case.rotated_to,)
    # The monitor sends the same password every minute: the first greeting may know it.
    remember = (case.password,) if case.rotated_to is None else ()
    server.configure(case.plan, remember=remember, accept=accept)
    return server


# --------------------------------------------------------------------------- baselines


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_cases_password_is_not_already_in_the_products_own_words(rig: Rig, name: str) -> None:
    # These paths are too slow to run twice; the fast paths' outputs, with nothing
    # echoed, show that no 8 characters of a case's password are words smtpwatch
    # writes anyway (a test passing or failing on "password_ref" would prove nothing).
    case = CASES[name]
    server = rig.servers["127.0.0.1"]
    accept = () if case.rotated_to is None else (case.rotated_to,)
    server.configure(case.plan, echo=False, remember=(case.password,), accept=accept)
    outputs = probe_outputs(rig, server, case.plan, case.password)
    outputs |= local_check_outputs(
        rig, server, case.plan, case.password, rotated_to=case.rotated_to
    )
    _assert_no_leak(outputs, case)


# --------------------------------------------------------------------------- CLI process


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_the_probe_command_as_a_process_prints_no_password(rig: Rig, name: str) -> None:
    # GIVEN a server echoing the password in this case's places and shapes
    case = CASES[name]
    server = _server(rig, case, ip="::1")
    argv = [sys.executable, "-m", "smtpwatch", *cli_probe_argv(server, case.plan, rig.ca_file)]
    env = {**os.environ, PASSWORD_VAR: case.password}
    outputs = {}
    # WHEN `smtpwatch probe` runs as a monitoring system runs it, text and --json
    for label, extra in (("text", []), ("--json", ["--json"])):
        done = subprocess.run(
            [*argv, *extra], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode in (0, 1, 2), done.stderr  # a verdict, never a crash
        assert "Traceback" not in done.stderr
        outputs[f"smtpwatch probe {label} stdout"] = done.stdout
        outputs[f"smtpwatch probe {label} stderr"] = done.stderr
    # THEN neither output holds 8 characters of the password
    if case.plan.cert_trusted:  # the password did reach the server (it has it to echo)
        assert case.password in [p for _, p in server.received()]
    _assert_no_leak(outputs, case)


# --------------------------------------------------------------------------- run --once


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_run_once_stores_prints_and_posts_no_password(
    rig: Rig, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smtpwatch.cli.main import main
    from smtpwatch.local.sqlite_store import SqliteStore

    # GIVEN a local target that logs in with an env: password and alerts on its first
    # failure after one re-check, and a server echoing the password
    case = CASES[name]
    server = _server(rig, case)
    db = tmp_path / "smtpwatch.db"
    with SqliteStore(db) as store:
        store.put_item(
            target_fields(
                server,
                case.plan,
                rig.ca_pem,
                failures_before_alert=1,
                recheck_delay_s=1,
                interval_s=60,
            )
        )
    monkeypatch.setenv(PASSWORD_VAR, case.password)
    rig.logs.take()
    rig.webhook.take()
    # WHEN one sweep runs
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", "--once", "--db", str(db), "--webhook", rig.webhook.url])
    outputs = {
        "run --once stdout": out.getvalue(),
        "run --once stderr": err.getvalue(),
        "SQLite rows": sqlite_rows(db),
        "webhook requests": "\n".join(rig.webhook.take()),
        "log records": "\n".join(rig.logs.take()),
    }
    for command in (
        ["status"],
        ["status", "--json"],
        ["history", "hostile"],
        ["history", "hostile", "--json"],
        ["alerts", "list"],
        ["alerts", "list", "--json"],
    ):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            main([*command, "--db", str(db)])
        outputs[" ".join(command)] = buf.getvalue()
    # THEN a verdict, and none of it holds 8 characters of the password
    assert code in (0, 1, 2), outputs
    _assert_no_leak(outputs, case)
    # (every case fails the check: its down alert went out and is in the outbox)
    assert outputs["webhook requests"] and "hostile" in outputs["alerts list"], outputs


# --------------------------------------------------------------------------- AWS (moto)


def _load_aws_helper(name: str) -> ModuleType:
    """``tests/aws/<name>.py`` (the template's tables), whatever is on sys.path."""
    path = Path(__file__).resolve().parents[1] / "aws" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"hostile_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass
class Stack:
    tables: dict[str, str]
    topic_arn: str
    queue_url: str
    ddb: Any
    sqs: Any
    ssm: Any
    powertools: io.StringIO


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    template_tables = _load_aws_helper("template_tables")
    with mock_aws(config={"lambda": {"use_docker": False}}):
        ddb = boto3.client("dynamodb", region_name=REGION)
        tables = template_tables.create_tables(ddb)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="smtpwatch-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts-capture")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        env = template_tables.table_env(tables) | {
            "ALERT_TOPIC_ARN": topic_arn,
            "PROBE_FUNCTION_NAME": "smtpwatch-probe",
            "SECRETS_PREFIX": SECRETS_PREFIX,
            "EHLO_NAME": "monitor.smtpwatch.test",
            "RESULT_RETENTION_DAYS": "30",
            "POWERTOOLS_SERVICE_NAME": "smtpwatch",
            "POWERTOOLS_METRICS_NAMESPACE": "Smtpwatch",
            "POWERTOOLS_LOG_LEVEL": "DEBUG",
            "SMTPWATCH_TRACING": "false",
            "SMTPWATCH_IN_VPC": "false",
            "SMTPWATCH_ALLOW_LOOPBACK": "1",  # the developer switch: targets on loopback
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        from smtpwatch.handlers import probe as probe_module

        probe_module._runtime.cache_clear()
        # Powertools writes to the stdout of import time: point it at a buffer
        buffer = io.StringIO()
        handler = probe_module.logger.registered_handler
        old = handler.setStream(buffer) if isinstance(handler, logging.StreamHandler) else None
        try:
            yield Stack(
                tables,
                topic_arn,
                queue_url,
                ddb,
                sqs,
                boto3.client("ssm", region_name=REGION),
                buffer,
            )
        finally:
            if isinstance(handler, logging.StreamHandler) and old is not None:
                handler.setStream(old)
            probe_module._runtime.cache_clear()


def _drain(stack: Stack) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        msgs = stack.sqs.receive_message(
            QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not msgs:
            return got
        for m in msgs:
            got.append(json.loads(m["Body"]))
            stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=m["ReceiptHandle"])


class _LambdaContext:
    function_name = "smtpwatch-probe"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:smtpwatch-probe"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/smtpwatch-probe"
    log_stream_name = "2026/12/07/[$LATEST]0000"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_probe_lambda_stores_publishes_and_logs_no_password(
    rig: Rig, stack: Stack, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from smtpwatch.adapters.aws_secrets import encode_secret
    from smtpwatch.adapters.dynamodb import DynamoStateStore, to_item
    from smtpwatch.adapters.result_codec import decode_item
    from smtpwatch.handlers import probe as probe_module

    # GIVEN the password in SSM, bound to the target's host, and a server echoing it
    case = CASES[name]
    parameter = f"{SECRETS_PREFIX}hostile"

    def put_secret(password: str) -> None:
        value = encode_secret(password, [DEFAULT_HOSTNAME], allow_unverified=True)
        stack.ssm.put_parameter(Name=parameter, Value=value, Type="SecureString", Overwrite=True)

    put_secret(case.password)
    server = _server(rig, case)
    if case.rotated_to is not None:
        new = case.rotated_to
        # the rotation lands while the check runs: the next fetch reads the new password
        server.on_learn = lambda password: put_secret(new) if password != new else None
    fields = target_fields(
        server,
        case.plan,
        rig.ca_pem,
        host=DEFAULT_HOSTNAME,
        dns_hosts=[f"{server.host} {DEFAULT_HOSTNAME}"],
        password_ref=f"ssm:{parameter}",
        failures_before_alert=1,
        recheck_delay_s=1,
        interval_s=60,
    )
    stack.ddb.put_item(TableName=stack.tables["TargetsTable"], Item=to_item(fields))
    rig.logs.take()
    # WHEN the probe Lambda checks it
    try:
        out = probe_module.handler(
            {"target_id": "hostile", "scheduled_at": "2026-12-07T12:00:00Z"}, _LambdaContext()
        )
    finally:
        server.on_learn = None
    # THEN no item, message, log line or printed line holds 8 characters of it
    results = stack.ddb.scan(TableName=stack.tables["ResultsTable"])["Items"]
    states = stack.ddb.scan(TableName=stack.tables["StateTable"])["Items"]
    state = DynamoStateStore(stack.ddb, stack.tables["StateTable"]).get_state("hostile")
    outputs = {
        "handler return": json.dumps(out, default=str),
        "result items (decoded)": json.dumps(
            [decode_item(i).to_dict() for i in results],  # type: ignore[union-attr]
        ),
        "result items (raw)": json.dumps(results, default=repr),
        "state items (raw)": json.dumps(states, default=repr),
        "state (decoded)": repr(state),
        "SNS messages": json.dumps(_drain(stack)),
        "Powertools log": stack.powertools.getvalue(),
        "printed (EMF metrics)": capsys.readouterr().out,
        "log records": "\n".join(rig.logs.take()),
    }
    _assert_no_leak(outputs, case)
    assert results, "the check stored no result"
    if case.rotated_to is None:  # every other case fails the check: its alert went out
        assert json.loads(outputs["SNS messages"]), "no alert was published"
    else:
        got = [p for _, p in server.received()]
        assert case.password in got and case.rotated_to in got, "the rotation did not happen"
