"""Secrets on AWS: SSM SecureString and Secrets Manager through Powertools Parameters,
bound to the hosts they may be sent to (docs/design.md#security)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import trustme

from smtpwatch.adapters.aws_secrets import (
    AwsSecretResolver,
    TargetSecretResolver,
    encode_secret,
    host_allowed,
)
from smtpwatch.core.errors import SecretError
from smtpwatch.core.target import Target

PASSWORD = "s3cret-Pa55word!"
_CA_PEM = trustme.CA().cert_pem.bytes().decode()


@pytest.fixture
def ssm(aws: None) -> Any:
    return boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def sm(aws: None) -> Any:
    return boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def resolver(ssm: Any, sm: Any) -> AwsSecretResolver:
    return AwsSecretResolver(prefix="/smtpwatch/", ssm_client=ssm, secrets_client=sm)


def _put_ssm(ssm: Any, name: str, value: str, tags: dict[str, str] | None = None) -> None:
    kwargs: dict[str, Any] = {"Name": name, "Value": value, "Type": "SecureString"}
    if tags:
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    ssm.put_parameter(**kwargs)


def test_ssm_json_secret_goes_to_its_host_only(ssm: Any, resolver: AwsSecretResolver) -> None:
    _put_ssm(ssm, "/smtpwatch/mx1", encode_secret(PASSWORD, ["MX1.example.com."]))
    assert resolver.resolve("ssm:/smtpwatch/mx1", host="mx1.example.com") == PASSWORD
    with pytest.raises(SecretError) as err:
        resolver.resolve("ssm:/smtpwatch/mx1", host="evil.example.net")
    assert "evil.example.net" in str(err.value) and PASSWORD not in str(err.value)


def test_secretsmanager_json_and_wildcard_binding(sm: Any, resolver: AwsSecretResolver) -> None:
    sm.create_secret(
        Name="smtpwatch/relay", SecretString=encode_secret(PASSWORD, ["*.mail.example.com"])
    )
    ref = "secretsmanager:smtpwatch/relay"
    assert resolver.resolve(ref, host="a.mail.example.com") == PASSWORD
    for host in ("mail.example.com", "a.b.mail.example.com", "a.mail.example.com.evil.net"):
        with pytest.raises(SecretError):
            resolver.resolve(ref, host=host)


def test_plain_secret_is_bound_by_its_tag(ssm: Any, sm: Any, resolver: AwsSecretResolver) -> None:
    _put_ssm(
        ssm,
        "/smtpwatch/plain",
        PASSWORD,
        tags={"smtpwatch:hosts": "mx1.example.com mx2.example.com"},
    )
    assert resolver.resolve("ssm:/smtpwatch/plain", host="mx2.example.com") == PASSWORD
    sm.create_secret(
        Name="smtpwatch/plain",
        SecretString=PASSWORD,
        Tags=[{"Key": "smtpwatch:hosts", "Value": "mx3.example.com"}],
    )
    assert resolver.resolve("secretsmanager:smtpwatch/plain", host="mx3.example.com") == PASSWORD


def test_a_secret_naming_no_host_is_never_sent(
    ssm: Any, sm: Any, resolver: AwsSecretResolver
) -> None:
    _put_ssm(ssm, "/smtpwatch/unbound", PASSWORD)
    sm.create_secret(Name="smtpwatch/json-unbound", SecretString=json.dumps({"password": PASSWORD}))
    for ref in ("ssm:/smtpwatch/unbound", "secretsmanager:smtpwatch/json-unbound"):
        with pytest.raises(SecretError) as err:
            resolver.resolve(ref, host="mx1.example.com")
        assert "names no host" in str(err.value) and PASSWORD not in str(err.value)


@pytest.mark.parametrize(
    "ref",
    [
        "ssm:/other/mx1",
        "ssm:/smtpwatchevil/mx1",
        "secretsmanager:prod/db",
        "secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
    ],
)
def test_only_names_under_the_stack_prefix_are_read(resolver: AwsSecretResolver, ref: str) -> None:
    with pytest.raises(SecretError, match="prefix"):
        resolver.resolve(ref, host="mx1.example.com")


@pytest.mark.parametrize("ref", ["env:SMTP_PASSWORD", "file:mx1"])
def test_local_references_are_refused_on_aws(resolver: AwsSecretResolver, ref: str) -> None:
    with pytest.raises(SecretError, match="local use only"):
        resolver.resolve(ref, host="mx1.example.com")


def test_missing_secret_is_a_secret_error_without_traceback_noise(
    resolver: AwsSecretResolver,
) -> None:
    with pytest.raises(SecretError, match="cannot read"):
        resolver.resolve("ssm:/smtpwatch/nope", host="mx1.example.com")


def test_values_are_cached_and_refresh_rereads_a_rotated_secret(
    ssm: Any, resolver: AwsSecretResolver
) -> None:
    _put_ssm(ssm, "/smtpwatch/rot", encode_secret("old", ["mx1.example.com"]))
    assert resolver.resolve("ssm:/smtpwatch/rot", host="mx1.example.com") == "old"
    ssm.put_parameter(
        Name="/smtpwatch/rot",
        Value=encode_secret("new", ["mx1.example.com"]),
        Type="SecureString",
        Overwrite=True,
    )
    assert resolver.resolve("ssm:/smtpwatch/rot", host="mx1.example.com") == "old"  # cached
    assert resolver.resolve("ssm:/smtpwatch/rot", host="mx1.example.com", refresh=True) == "new"


@pytest.mark.parametrize(
    "fields",
    [
        {"tls_verify": False},
        {"ca_bundle": _CA_PEM},
        {"encryption": "none", "allow_plaintext_auth": True},
    ],
    ids=["tls_verify_off", "own_ca_bundle", "plaintext_auth"],
)
def test_a_target_that_cannot_prove_the_servers_identity_needs_the_secrets_consent(
    ssm: Any, resolver: AwsSecretResolver, fields: dict[str, Any]
) -> None:
    # GIVEN a correctly bound secret and a target someone pointed at an impostor's address
    _put_ssm(ssm, "/smtpwatch/mx1", encode_secret(PASSWORD, ["mx1.example.com"]))
    target = _target(fields)
    bound = TargetSecretResolver(resolver, target)
    with pytest.raises(SecretError, match="allow_unverified") as err:
        bound.resolve("ssm:/smtpwatch/mx1", host="mx1.example.com")
    assert PASSWORD not in str(err.value)
    # WHEN the secret's owner consents, THEN it is sent
    _put_ssm(
        ssm,
        "/smtpwatch/mx1-ok",
        encode_secret(PASSWORD, ["mx1.example.com"], allow_unverified=True),
    )
    assert bound.resolve("ssm:/smtpwatch/mx1-ok", host="mx1.example.com") == PASSWORD


def _target(fields: dict[str, Any]) -> Target:
    return Target(
        target_id="mx1",
        host="mx1.example.com",
        login=True,
        username="u",
        password_ref="ssm:/smtpwatch/mx1",
        **fields,
    )


def test_host_matching_handles_case_dots_and_ip_literals() -> None:
    assert host_allowed("MX1.Example.COM.", ["mx1.example.com"])
    assert host_allowed("2001:db8::1", ["2001:DB8:0::1"])
    assert host_allowed("[2001:db8::1]", ["2001:db8::1"])
    assert not host_allowed("*.example.com", ["*.example.com"])  # only real hosts match
    assert not host_allowed("example.com", ["*.example.com"])


def test_secret_value_repr_hides_the_password(ssm: Any, resolver: AwsSecretResolver) -> None:
    _put_ssm(ssm, "/smtpwatch/mx1", encode_secret(PASSWORD, ["mx1.example.com"]))
    value = resolver.lookup("ssm:/smtpwatch/mx1")
    assert PASSWORD not in repr(value)
