"""``smtpwatch targets add … --token-file PATH`` against a stack on moto: the token
source document goes whole into SSM (SecureString) or Secrets Manager under the stack's
prefix, the target item keeps only token_ref, and the probe's resolver hands the
document on bound to its hosts; a target whose TLS does not prove the host gets a
document that allows it, as a stored password does."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from template_tables import load_template

from smtpwatch.adapters.aws_secrets import AwsSecretResolver
from smtpwatch.adapters.dynamodb import from_item
from smtpwatch.cli.main import main
from smtpwatch.core.errors import SecretError
from smtpwatch.core.oauth_token import token_source_of_secret

REGION = "us-east-1"
STACK = "smtpwatch-prod"
PREFIX = "/smtpwatch/"
CLIENT_SECRET = "Cl1ent~Secret.Value-never-shown"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    aws: None,
    tables: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session(region_name=REGION)
    outputs = {
        "TargetsTableName": tables["TargetsTable"],
        "StateTableName": tables["StateTable"],
        "ResultsTableName": tables["ResultsTable"],
        "SecretsPrefix": PREFIX,
    }
    assert set(outputs) <= set(load_template()["Outputs"])
    body = {
        "Resources": {"AlertTopic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()}
        | {"AlertTopicArn": {"Value": {"Ref": "AlertTopic"}}},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=STACK, TemplateBody=json.dumps(body)
    )

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["targets", *args, "--stack", STACK])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture
def resolver(run: Run) -> AwsSecretResolver:
    return AwsSecretResolver(
        prefix=PREFIX,
        ssm_client=boto3.client("ssm", region_name=REGION),
        secrets_client=boto3.client("secretsmanager", region_name=REGION),
    )


def token_file(tmp_path: Path) -> Path:
    doc = {
        "oauth": {
            "tenant": "contoso.onmicrosoft.com",
            "client_id": "client-1",
            "client_secret": CLIENT_SECRET,
        },
        "hosts": ["smtp.office365.com"],
    }
    path = tmp_path / "o365.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return path


def item_of(ddb: Any, tables: dict[str, str], target_id: str) -> dict[str, Any]:
    raw = ddb.get_item(TableName=tables["TargetsTable"], Key={"target_id": {"S": target_id}})
    return dict(from_item(raw["Item"]))


@pytest.mark.parametrize(
    ("store", "scheme"), [("ssm", "ssm"), ("secretsmanager", "secretsmanager")]
)
def test_the_document_goes_whole_to_the_secret_store_and_the_item_keeps_the_ref(
    run: Run,
    resolver: AwsSecretResolver,
    ddb: Any,
    tables: dict[str, str],
    tmp_path: Path,
    store: str,
    scheme: str,
) -> None:
    code, out, err = run(
        "add", "o365", "smtp.office365.com", "--username", "monitor@contoso.com",
        "--token-file", str(token_file(tmp_path)), "--secret-store", store,
    )  # fmt: skip
    assert code == 0, err
    item = item_of(ddb, tables, "o365")
    assert item["token_ref"] == f"{scheme}:/smtpwatch/o365" and "password_ref" not in item
    text = resolver.resolve(item["token_ref"], host="smtp.office365.com")
    source = token_source_of_secret(text, item["token_ref"])
    assert source.token_url.endswith("/contoso.onmicrosoft.com/oauth2/v2.0/token")
    with pytest.raises(SecretError):
        resolver.resolve(item["token_ref"], host="smtp.attacker.example")
    assert CLIENT_SECRET not in out + err + json.dumps(item)


def test_a_target_without_proven_tls_gets_a_document_that_allows_it(
    run: Run, resolver: AwsSecretResolver, tmp_path: Path
) -> None:
    code, _, err = run(
        "add", "o365", "smtp.office365.com", "--username", "monitor@contoso.com",
        "--set", "tls_verify=false", "--token-file", str(token_file(tmp_path)),
    )  # fmt: skip
    assert code == 0, err
    assert "allows this target's unverified connection" in err
    stored = json.loads(
        boto3.client("ssm", region_name=REGION).get_parameter(
            Name="/smtpwatch/o365", WithDecryption=True
        )["Parameter"]["Value"]
    )
    assert stored["allow_unverified"] is True and stored["hosts"] == ["smtp.office365.com"]
