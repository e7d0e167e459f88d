"""Fixtures for the AWS side: moto accounts, the stack's tables (from template.yaml),
an SNS topic captured through an SQS subscription, a Lambda context, event files.

Every AWS call goes to moto (``mock_aws``) or to a loopback endpoint; dummy credentials
are forced so nothing can reach a real account.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto_atomic import atomic_dynamodb
from template_tables import create_tables, table_env

EVENTS = Path(__file__).resolve().parents[1] / "events"
REGION = "us-east-1"
SECRETS_PREFIX = "/smtpwatch/"


@pytest.fixture(autouse=True)
def _dummy_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws(_dummy_aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # moto_atomic: conditional writes atomic per request, as on DynamoDB (races are tested)
    with atomic_dynamodb(monkeypatch), mock_aws(config={"lambda": {"use_docker": False}}):
        yield


@pytest.fixture
def ddb(aws: None) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def tables(ddb: Any) -> dict[str, str]:
    """{logical id: table name} of TargetsTable, StateTable, ResultsTable."""
    return create_tables(ddb)


@dataclass
class Alerts:
    """Messages published to the alert topic, read back from an SQS subscription."""

    topic_arn: str
    queue_url: str
    sqs: Any
    seen: list[dict[str, Any]]

    def drain(self) -> list[dict[str, Any]]:
        """New SNS envelopes since the last drain (``Message`` is the SQS protocol's text)."""
        new: list[dict[str, Any]] = []
        while True:
            resp = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            msgs = resp.get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                new.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        self.seen.extend(new)
        return new

    def documents(self, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [json.loads(e["Message"]) for e in envelopes]


@pytest.fixture
def alerts(aws: None) -> Alerts:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="smtpwatch-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-capture")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Alerts(topic_arn=topic_arn, queue_url=queue_url, sqs=sqs, seen=[])


@pytest.fixture
def stack_env(
    tables: dict[str, str], alerts: Alerts, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The Lambda environment as template.yaml sets it, pointing at moto resources."""
    env = table_env(tables) | {
        "ALERT_TOPIC_ARN": alerts.topic_arn,
        "PROBE_FUNCTION_NAME": "smtpwatch-probe",
        "SECRETS_PREFIX": SECRETS_PREFIX,
        "EHLO_NAME": "monitor.smtpwatch.test",
        "RESULT_RETENTION_DAYS": "30",
        "POWERTOOLS_SERVICE_NAME": "smtpwatch",
        "POWERTOOLS_METRICS_NAMESPACE": "Smtpwatch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "SMTPWATCH_TRACING": "false",
        "SMTPWATCH_IN_VPC": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@dataclass
class LambdaContext:
    """What Powertools reads from the Lambda context object."""

    function_name: str = "smtpwatch-probe"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:smtpwatch-probe"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/smtpwatch-probe"
    log_stream_name: str = "2026/11/25/[$LATEST]0000"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def event_file() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        data = json.loads((EVENTS / name).read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        return data

    return load


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything the handlers' Powertools loggers write (JSON lines), in one buffer.

    Powertools binds its handler to the ``sys.stdout`` of import time, which pytest's
    per-test capture does not see; point it at a buffer instead. The stream is swapped,
    not set with ``setStream``: that flushes the old stream, which is closed when the
    module was imported by an earlier pytest session in this process (mutmut collects
    the tests, then runs them in the same process)."""
    from smtpwatch.handlers import dispatcher, probe

    buffer = io.StringIO()
    handlers = [dispatcher.logger.registered_handler, probe.logger.registered_handler]
    streams = [h for h in handlers if isinstance(h, logging.StreamHandler)]
    old = [_swap_stream(h, buffer) for h in streams]
    yield buffer
    for h, stream in zip(streams, old, strict=True):
        _swap_stream(h, stream)


def _swap_stream(handler: logging.StreamHandler[Any], stream: Any) -> Any:
    with handler.lock or contextlib.nullcontext():
        old, handler.stream = handler.stream, stream
    return old
