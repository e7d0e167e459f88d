"""The stack deployed in moto and what its real handlers write to each log group.

``observe(name)`` deploys the translated template as stack ``name``, puts three loopback
targets (STARTTLS with a login, implicit TLS, one refusing connections), runs the
real dispatcher handler with the deployed environment, hands each invoke it sends to
the real probe handler, and keeps every stdout line (EMF documents and log lines) per
function. ``query_fields`` names the log fields a Logs Insights query reads.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto_atomic import atomic_dynamodb
from test_template import CODE_BUCKET, CODE_KEY, Stack, translate

from conftest import REGION, LambdaContext
from smtpwatch.adapters.aws_secrets import encode_secret
from smtpwatch.adapters.dynamodb import to_item
from smtpwatch.handlers import dispatcher as dispatcher_module
from smtpwatch.handlers import probe as probe_module
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer, closed_port

__all__ = [
    "BUILTIN_FIELDS",
    "Observed",
    "function_env",
    "observe",
    "present_fields",
    "query_fields",
    "source_groups",
    "upload_code",
]

# Fields Logs Insights adds to every event.
BUILTIN_FIELDS = frozenset({"@timestamp", "@message", "@logStream", "@log", "@ingestionTime"})
_KEYWORDS = frozenset(
    {"SOURCE", "fields", "filter", "stats", "sort", "limit", "by", "as", "asc", "desc"}
    | {"and", "or", "not", "in", "like", "display", "parse", "dedup", "unmask"}
)


@dataclass
class Observed:
    """A deployed stack and the lines each of its functions wrote (parsed JSON)."""

    name: str
    stack: Stack
    cfn: dict[str, Any]
    env: dict[str, dict[str, str]]  # logical id of the function -> its environment
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # log group id
    dashboards: dict[str, str] = field(default_factory=dict)  # name -> body, as read back

    def emf(self, group: str) -> list[dict[str, Any]]:
        return [d for d in self.lines[group] if "_aws" in d]


def upload_code() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("smtpwatch/__init__.py", "")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=buf.getvalue())


def function_env(stack: Stack, logical_id: str) -> dict[str, str]:
    lam = boto3.client("lambda", region_name=REGION)
    config = lam.get_function(FunctionName=stack.physical(logical_id))["Configuration"]
    return {k: str(v) for k, v in config["Environment"]["Variables"].items()}


@contextlib.contextmanager
def _captured() -> Iterator[io.StringIO]:
    """stdout (EMF) and the handlers' Powertools log handlers, into one buffer."""
    buffer = io.StringIO()
    loggers = (dispatcher_module.logger, probe_module.logger)
    handlers = [
        h for h in (x.registered_handler for x in loggers) if isinstance(h, logging.StreamHandler)
    ]
    old = [h.setStream(buffer) for h in handlers]
    try:
        with contextlib.redirect_stdout(buffer):
            yield buffer
    finally:
        for h, stream in zip(handlers, old, strict=True):
            h.setStream(stream)


def _parse(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _target(certs: Certificates, port: int, **extra: Any) -> dict[str, Any]:
    return {
        "host": DEFAULT_HOSTNAME,
        "port": port,
        "dns_hosts": [f"127.0.0.1 {DEFAULT_HOSTNAME}"],
        "ca_bundle": certs.ca_pem,
        "timeout_s": 5,
        "recheck_delay_s": 0,
        "interval_s": 60,
        **extra,
    }


def observe(name: str, certs: Certificates, parameters: dict[str, str] | None = None) -> Observed:
    """Deploy stack ``name`` in moto and run one real tick and its checks (see module)."""
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(key, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        with atomic_dynamodb(mp), mock_aws(config={"lambda": {"use_docker": False}}):
            upload_code()
            stack = Stack(name, parameters)
            env = {fn: function_env(stack, fn) for fn in ("DispatcherFunction", "ProbeFunction")}
            observed = Observed(name=name, stack=stack, cfn=translate(), env=env)
            cloudwatch = boto3.client("cloudwatch", region_name=REGION)
            for entry in cloudwatch.list_dashboards()["DashboardEntries"]:
                dashboard = cloudwatch.get_dashboard(DashboardName=entry["DashboardName"])
                observed.dashboards[entry["DashboardName"]] = dashboard["DashboardBody"]
            for fn_env in env.values():
                for key, value in fn_env.items():
                    mp.setenv(key, value)
            mp.setenv("SMTPWATCH_ALLOW_LOOPBACK", "1")  # the targets are on loopback
            mp.setenv("SMTPWATCH_INVOKE_MODE", "boto3")
            ddb = boto3.client("dynamodb", region_name=REGION)
            password = "observe-only-password"
            boto3.client("ssm", region_name=REGION).put_parameter(
                Name="/smtpwatch/observe",  # under the stack's default SecretsPrefix
                Value=encode_secret(password, [DEFAULT_HOSTNAME], allow_unverified=True),
                Type="SecureString",
            )
            login = {"login": True, "username": "monitor", "password_ref": "ssm:/smtpwatch/observe"}
            starttls = SmtpServer(
                "127.0.0.1", cert=certs.valid(), starttls=True, credentials={"monitor": password}
            ).start()
            implicit = SmtpServer("127.0.0.1", cert=certs.valid(), implicit_tls=True).start()
            targets = {
                "mx-login": _target(certs, starttls.port, **login),
                "mx-smtps": _target(certs, implicit.port, encryption="implicit"),
                "mx-down": _target(certs, closed_port()),
            }
            try:
                for target_id, fields in targets.items():
                    item = to_item({"target_id": target_id, **fields})
                    ddb.put_item(TableName=stack.physical("TargetsTable"), Item=item)
                observed.lines = _one_tick(len(targets))
            finally:
                starttls.stop()
                implicit.stop()
                dispatcher_module._runtime.cache_clear()
                probe_module._runtime.cache_clear()
    return observed


def _one_tick(due: int) -> dict[str, list[dict[str, Any]]]:
    dispatcher_module._runtime.cache_clear()
    probe_module._runtime.cache_clear()
    _, dispatcher = dispatcher_module._runtime()
    payloads: list[dict[str, Any]] = []
    dispatcher.invoker.client.meta.events.register(  # type: ignore[attr-defined]
        "before-call.lambda.Invoke",
        lambda params, **_: payloads.append(json.loads(params["body"])),
    )
    tick = {"source": "aws.events", "time": "2026-11-25T15:00:00Z"}
    with _captured() as out:
        dispatcher_module.handler(tick, LambdaContext(function_name="dispatcher"))
    dispatcher_lines = _parse(out.getvalue())
    assert len(payloads) == due, payloads  # every target was due
    with _captured() as out:
        for payload in payloads:
            probe_module.handler(payload, LambdaContext())
    return {"DispatcherLogGroup": dispatcher_lines, "ProbeLogGroup": _parse(out.getvalue())}


def source_groups(query: str) -> list[str]:
    """The log group names after ``SOURCE`` (dashboard queries name their groups)."""
    return re.findall(r"SOURCE\s+'([^']+)'", query)


def query_fields(query: str) -> set[str]:
    """Log fields a Logs Insights query reads: identifiers that are not keywords,
    functions, aliases it defines, string literals or numbers with units (``1m``)."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", " ", query)
    aliases = set(re.findall(r"\bas\s+([A-Za-z_]\w*)", text))
    names = re.findall(r"(?<![\w@.])(@?[A-Za-z_][\w.]*)(\s*\()?", text)
    return {n for n, call in names if not call} - _KEYWORDS - aliases


def present_fields(query: str) -> set[str]:
    """The fields a query requires with ``ispresent(...)`` or compares in ``filter``."""
    required = set(re.findall(r"ispresent\((\w+)\)", query))
    required |= set(re.findall(r"filter\s+(\w+)\s*=", query))
    return required
