"""Microsoft identity platform client credentials with a certificate: the client proves
who it is with a JWT assertion (RS256, the certificate's thumbprint in ``x5t``) signed by
its private key instead of sending a client secret. The key is read, and ``cryptography``
imported, only when an assertion is signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any

from smtpwatch.core.errors import SecretError
from smtpwatch.core.oauth_grants import MICROSOFT_URL, _digest, _GrantSource, _https
from smtpwatch.core.oauth_token import ClientCredentials, post_for_token

__all__ = ["CLIENT_ASSERTION_TYPE", "ClientCertificate", "certificate_source"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 600  # Microsoft accepts at most 10 minutes
DEFAULT_SCOPE = "https://outlook.office365.com/.default"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}\Z")
_CERT = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)
_HINT = "the key of the certificate uploaded to the app registration, PEM"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class ClientCertificate(_GrantSource):
    """The client-credentials grant with a certificate credential (RFC 7523 §2.2)."""

    _assertion = ""

    def _origin(self) -> str:
        f = self._fields
        return _digest(f["client_id"], f["private_key"], f.get("x5t", ""), f.get("x5t#S256", ""))

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._fields["private_key"], self._assertion) if s)

    def header(self) -> dict[str, str]:
        return {k: self._fields[k] for k in ("x5t", "x5t#S256") if k in self._fields}

    def claims(self, now: float) -> dict[str, Any]:
        iat = int(now)
        return {
            "aud": self.token_url,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": str(uuid.uuid4()),
            "nbf": iat,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_S,
        }

    def _fetch(self, timeout: float) -> tuple[str, float]:
        from smtpwatch.core.oauth_assertion import jwt_assertion

        self._assertion = jwt_assertion(
            self._fields["private_key"],
            None,
            self.claims(time.time()),
            self.where,
            header_fields=self.header(),
            field="client_certificate.private_key",
            hint=_HINT,
        )
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "scope": self.scope,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self._assertion,
        }
        return post_for_token(self.token_url, urllib.parse.urlencode(form), timeout, self.context)


def certificate_source(doc: Mapping[str, Any], where: str) -> ClientCredentials:
    """The source of an ``oauth`` object with ``client_certificate`` ({private_key, and
    certificate or thumbprint}); ``SecretError`` names the field, never its value."""
    if doc.get("client_secret") is not None:
        raise SecretError(f"{where}: oauth has both client_secret and client_certificate: keep one")
    fields: dict[str, str] = {}
    for key in ("client_id", "token_url", "tenant", "scope"):
        value = doc.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SecretError(f"{where}: oauth {key} must be a non-empty string")
        if value is not None:
            fields[key] = value.strip()
    if "client_id" not in fields:
        raise SecretError(f"{where}: oauth needs client_id")
    if "token_url" not in fields:
        if not _TENANT.match(fields.get("tenant", "")):
            raise SecretError(f"{where}: oauth needs tenant (a tenant id or domain) or token_url")
        fields["token_url"] = MICROSOFT_URL.format(tenant=fields["tenant"])
    _https(fields, "token_url", where)
    fields.setdefault("scope", DEFAULT_SCOPE)
    fields.update(_credential(doc.get("client_certificate"), where))
    return ClientCertificate(fields, where=where)


def _credential(cert: Any, where: str) -> dict[str, str]:
    """The private key and the thumbprints (``x5t``, ``x5t#S256``) of ``client_certificate``."""
    name = "oauth client_certificate"
    if not isinstance(cert, Mapping):
        raise SecretError(f"{where}: {name} must be an object {{private_key, certificate}}")
    key = cert.get("private_key")
    if not isinstance(key, str) or "-----BEGIN" not in key or "PRIVATE KEY-----" not in key:
        raise SecretError(f"{where}: {name}.private_key must be the certificate's key, PEM")
    out = {"private_key": key}
    pem, thumbprint = cert.get("certificate"), cert.get("thumbprint")
    if pem is not None:
        match = _CERT.search(pem) if isinstance(pem, str) else None
        try:
            der = base64.b64decode(
                "".join((match.group(1) if match else "").split()), validate=True
            )
        except (binascii.Error, ValueError):
            der = b""
        if not der.startswith(b"\x30"):
            raise SecretError(f"{where}: {name}.certificate must be a PEM certificate")
        out["x5t"] = _b64url(hashlib.sha1(der, usedforsecurity=False).digest())
        out["x5t#S256"] = _b64url(hashlib.sha256(der).digest())
    if thumbprint is not None:
        hexits = re.sub(r"[\s:]", "", thumbprint) if isinstance(thumbprint, str) else ""
        if not re.fullmatch(r"[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}", hexits):
            raise SecretError(f"{where}: {name}.thumbprint must be the SHA-1 thumbprint, hex")
        kind = "x5t" if len(hexits) == 40 else "x5t#S256"
        value = _b64url(bytes.fromhex(hexits))
        if kind in out and out[kind] != value:
            raise SecretError(f"{where}: {name}.thumbprint is not the certificate's")
        out[kind] = value
    if pem is None and thumbprint is None:
        raise SecretError(f"{where}: {name} needs certificate or thumbprint")
    return out
