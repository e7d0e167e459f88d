"""The probe Lambda logging in with OAuth 2.0: the token source's document in SSM, the
target in DynamoDB (moto), a loopback aiosmtpd server checking XOAUTH2 tokens and a
loopback HTTPS token endpoint counting its requests. What the user relies on: a warm
container (one process, many invocations) asks the provider for one token for many
checks, and no client secret or token shows in the log, results, state or alerts."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from conftest import REGION, SECRETS_PREFIX, Alerts, LambdaContext
from smtpwatch.adapters.dynamodb import to_item
from smtpwatch.adapters.result_codec import decode_item
from smtpwatch.core.oauth_token import PROCESS_CACHE
from smtpwatch.core.schedule import format_ts
from smtpwatch.handlers import probe as probe_module
from smtpwatch.testing.oauth_servers import OAuthSmtpServer, TokenEndpoint
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates

USER = "monitor@contoso.test"
CLIENT_SECRET = "Cl1ent~Secret.Value-never-shown"
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


class Servers:
    def __init__(self, certs: Certificates) -> None:
        self.smtp = OAuthSmtpServer(user=USER, cert=certs.valid())
        self.smtp.start()
        self.endpoint = TokenEndpoint(certs.valid(), on_issue=self.smtp.tokens.add).start()

    def stop(self) -> None:
        self.endpoint.stop()
        self.smtp.stop()


@pytest.fixture
def servers(
    certs: Certificates,
    stack_env: dict[str, str],
    tables: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Servers]:
    monkeypatch.setenv("SMTPWATCH_ALLOW_LOOPBACK", "1")
    ca = tmp_path / "ca.pem"
    ca.write_text(certs.ca_pem, encoding="ascii")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the token client's default trust store
    probe_module._runtime.cache_clear()
    PROCESS_CACHE.clear()  # a cold container
    s = Servers(certs)
    yield s
    s.stop()
    PROCESS_CACHE.clear()
    probe_module._runtime.cache_clear()


def test_a_warm_container_fetches_one_token_for_many_checks(
    servers: Servers,
    certs: Certificates,
    tables: dict[str, str],
    alerts: Alerts,
    log_lines: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    document: dict[str, Any] = {
        "oauth": {
            "token_url": servers.endpoint.url,
            "client_id": "client-1",
            "client_secret": CLIENT_SECRET,
        },
        "hosts": [DEFAULT_HOSTNAME],
        "allow_unverified": True,  # the target's ca_bundle: the secret consents
    }
    ssm.put_parameter(Name=f"{SECRETS_PREFIX}o365", Value=json.dumps(document), Type="SecureString")
    ddb = boto3.client("dynamodb", region_name=REGION)
    ids = ["m1", "m2", "m3"]
    for target_id in ids:
        item = {
            "target_id": target_id,
            "host": DEFAULT_HOSTNAME,
            "port": servers.smtp.port,
            "dns_hosts": [f"127.0.0.1 {DEFAULT_HOSTNAME}"],
            "ca_bundle": certs.ca_pem,
            "timeout_s": 10,
            "recheck_delay_s": 0,
            "interval_s": 60,
            "login": True,
            "username": USER,
            "token_ref": f"ssm:{SECRETS_PREFIX}o365",
        }
        ddb.put_item(TableName=tables["TargetsTable"], Item=to_item(item))
    ctx = LambdaContext()
    outs = [
        probe_module.handler(
            {"target_id": target_id, "scheduled_at": format_ts(T0 + timedelta(minutes=n))}, ctx
        )
        for n in range(3)
        for target_id in ids
    ]
    assert [o["status"] for o in outs] == ["ok"] * 9, outs
    assert len(servers.endpoint.requests) == 1  # nine checks, one token request
    assert servers.endpoint.requests[0]["client_secret"] == CLIENT_SECRET
    assert servers.smtp.tokens_seen == servers.endpoint.issued * 9
    results = [
        decode_item(item).to_dict()  # type: ignore[union-attr]
        for item in ddb.scan(TableName=tables["ResultsTable"])["Items"]
    ]
    assert results and all(r["auth"]["mechanism"] == "XOAUTH2" for r in results)
    everything = "\n".join(
        [
            log_lines.getvalue(),
            capsys.readouterr().out,
            json.dumps(results),
            json.dumps(ddb.scan(TableName=tables["StateTable"])["Items"]),
            json.dumps(alerts.drain()),
        ]
    )
    for secret in (CLIENT_SECRET, *servers.endpoint.issued):
        assert secret not in everything
