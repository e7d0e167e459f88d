"""A token source's document on AWS (SSM SecureString, Secrets Manager): handed to the
token client whole, bound to the hosts it names like a password."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from smtpwatch.adapters.aws_secrets import AwsSecretResolver
from smtpwatch.core.errors import SecretError
from smtpwatch.core.oauth_token import token_source_of_secret

CLIENT_SECRET = "Cl1ent~Secret.Value-never-shown"
DOCUMENT = {
    "oauth": {
        "tenant": "contoso.onmicrosoft.com",
        "client_id": "client-1",
        "client_secret": CLIENT_SECRET,
    },
    "hosts": ["smtp.office365.com"],
}


@pytest.fixture
def ssm(aws: None) -> Any:
    return boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def sm(aws: None) -> Any:
    return boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def resolver(ssm: Any, sm: Any) -> AwsSecretResolver:
    return AwsSecretResolver(prefix="/smtpwatch/", ssm_client=ssm, secrets_client=sm)


def test_an_ssm_token_source_goes_to_its_hosts_only(ssm: Any, resolver: AwsSecretResolver) -> None:
    ssm.put_parameter(Name="/smtpwatch/o365", Value=json.dumps(DOCUMENT), Type="SecureString")
    text = resolver.resolve("ssm:/smtpwatch/o365", host="SMTP.office365.com")
    source = token_source_of_secret(text, "ssm:/smtpwatch/o365")
    assert source.token_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert (source.client_id, source.scope) == (
        "client-1",
        "https://outlook.office365.com/.default",
    )
    assert CLIENT_SECRET not in repr(source)
    with pytest.raises(SecretError) as refused:
        resolver.resolve("ssm:/smtpwatch/o365", host="smtp.attacker.example")
    assert "smtp.attacker.example" in str(refused.value)
    assert CLIENT_SECRET not in str(refused.value)


def test_a_secrets_manager_token_source_without_hosts_is_never_sent(
    sm: Any, resolver: AwsSecretResolver
) -> None:
    sm.create_secret(Name="smtpwatch/o365", SecretString=json.dumps({"oauth": DOCUMENT["oauth"]}))
    with pytest.raises(SecretError) as refused:
        resolver.resolve("secretsmanager:smtpwatch/o365", host="smtp.office365.com")
    assert "names no host" in str(refused.value)
    assert CLIENT_SECRET not in str(refused.value)
