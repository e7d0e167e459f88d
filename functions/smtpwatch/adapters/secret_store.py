"""Storing a target's password on AWS (SSM SecureString or Secrets Manager).

``targets add/update --password-prompt|--password-env`` store it as
``<SecretsPrefix><target_id>``: ``aws_secrets.encode_secret``'s JSON naming the target's
host (``allow_unverified`` only when the target is saved with settings under which TLS
does not prove the server). The target keeps only the reference (``ssm:/name`` or
``secretsmanager:name``). Nothing here prints, logs or raises the password.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

from smtpwatch.adapters.aws_clients import error_code
from smtpwatch.adapters.aws_secrets import encode_secret
from smtpwatch.core.errors import SecretError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

__all__ = [
    "AwsSecretWriter",
    "SecretWriter",
    "SecretsManagerSecretWriter",
    "SsmSecretWriter",
]

# SSM parameter names: letters, digits and . - _ / (a hierarchy starts with "/").
_SSM_NAME = re.compile(r"^[A-Za-z0-9_.\-/]{1,1011}\Z")
# Secrets Manager names: letters, digits and /_+=.@-
_SM_NAME = re.compile(r"^[A-Za-z0-9/_+=.@\-]{1,512}\Z")


class SecretWriter(Protocol):
    def store(
        self, *, target_id: str, host: str, password: str, document: str | None = None
    ) -> str:
        """Store ``password`` for ``target_id``, bound to ``host`` (``document``: a token
        source's document, stored whole); return the reference to put into the target."""
        ...

    def ref_for(self, target_id: str) -> str:
        """The reference ``store`` gives for ``target_id`` (to recognise our own secret)."""
        ...

    def delete(self, ref: str) -> bool:
        """Delete a secret this writer stored; False when it did not exist."""
        ...


class AwsSecretWriter:
    """What both AWS stores offer: ``store`` also takes ``allow_unverified``."""

    prefix: str

    def ref_for(self, target_id: str) -> str:
        raise NotImplementedError

    def store(
        self,
        *,
        target_id: str,
        host: str,
        password: str,
        allow_unverified: bool = False,
        document: str | None = None,
    ) -> str:
        raise NotImplementedError

    def delete(self, ref: str) -> bool:
        raise NotImplementedError


class SsmSecretWriter(AwsSecretWriter):
    """SSM Parameter Store ``SecureString`` (standard tier: no charge per parameter)."""

    def __init__(
        self,
        prefix: str,
        *,
        client: SSMClient | None = None,
        region: str | None = None,
        kms_key_id: str | None = None,
    ) -> None:
        self.prefix = prefix
        self._client = client
        self._region = region
        self._kms_key_id = kms_key_id

    @property
    def client(self) -> SSMClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("ssm", region_name=self._region)
        return self._client

    def name_for(self, target_id: str) -> str:
        name = f"{self.prefix}{target_id}"
        if "/" in name and not name.startswith("/"):
            name = "/" + name  # SSM: a hierarchical name must start with "/"
        if not _SSM_NAME.match(name):
            raise SecretError(
                f"cannot name an SSM parameter {name!r}: use letters, digits, . - _ /"
            )
        return name

    def ref_for(self, target_id: str) -> str:
        return f"ssm:{self.name_for(target_id)}"

    def store(
        self,
        *,
        target_id: str,
        host: str,
        password: str,
        allow_unverified: bool = False,
        document: str | None = None,
    ) -> str:
        name = self.name_for(target_id)
        kwargs: dict[str, Any] = {
            "Name": name,
            "Value": document or encode_secret(password, [host], allow_unverified=allow_unverified),
            "Type": "SecureString",
            "Overwrite": True,
            "Description": f"smtpwatch {_what(document)} for target {target_id} (host {host})",
        }
        if self._kms_key_id:
            kwargs["KeyId"] = self._kms_key_id
        try:
            self.client.put_parameter(**kwargs)
        except Exception as exc:  # botocore errors: report the code, never the value
            raise _failed(f"store SSM parameter {name}", exc) from None
        return f"ssm:{name}"

    def delete(self, ref: str) -> bool:
        name = ref.removeprefix("ssm:")
        try:
            self.client.delete_parameter(Name=name)
        except Exception as exc:
            if error_code(exc) == "ParameterNotFound":
                return False
            raise _failed(f"delete SSM parameter {name}", exc) from None
        return True


class SecretsManagerSecretWriter(AwsSecretWriter):
    """AWS Secrets Manager (billed per secret-month; rotation possible)."""

    def __init__(
        self, prefix: str, *, client: SecretsManagerClient | None = None, region: str | None = None
    ) -> None:
        self.prefix = prefix
        self._client = client
        self._region = region

    @property
    def client(self) -> SecretsManagerClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager", region_name=self._region)
        return self._client

    def name_for(self, target_id: str) -> str:
        name = f"{self.prefix}{target_id}"
        if not _SM_NAME.match(name):
            raise SecretError(f"cannot name a secret {name!r}: use letters, digits, / _ + = . @ -")
        return name

    def ref_for(self, target_id: str) -> str:
        return f"secretsmanager:{self.name_for(target_id)}"

    def store(
        self,
        *,
        target_id: str,
        host: str,
        password: str,
        allow_unverified: bool = False,
        document: str | None = None,
    ) -> str:
        name = self.name_for(target_id)
        value = document or encode_secret(password, [host], allow_unverified=allow_unverified)
        try:
            try:
                self.client.create_secret(
                    Name=name,
                    SecretString=value,
                    Description=f"smtpwatch {_what(document)} for target {target_id} (host {host})",
                )
            except Exception as exc:
                if error_code(exc) != "ResourceExistsException":
                    raise
                self.client.put_secret_value(SecretId=name, SecretString=value)
        except Exception as exc:
            raise _failed(f"store secret {name}", exc) from None
        return f"secretsmanager:{name}"

    def delete(self, ref: str) -> bool:
        name = ref.removeprefix("secretsmanager:")
        try:
            # The default 30-day recovery window lets an operator undo a mistaken remove.
            self.client.delete_secret(SecretId=name)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise _failed(f"delete secret {name}", exc) from None
        return True


def _failed(action: str, exc: Exception) -> SecretError:
    """``could not <action>: <AWS error code>``: botocore's message may quote the value,
    so only its code (or the exception's type) is reported."""
    return SecretError(f"could not {action}: {error_code(exc) or type(exc).__name__}")


def _what(document: str | None) -> str:
    return "password" if document is None else "OAuth token source"
