"""A signed JWT assertion (RFC 7523, RS256): a Google service account's token request,
a Microsoft client's certificate credential.

``cryptography`` is imported here, when a service account signs, and nowhere else: the
probe's start and the other token sources never load it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from smtpwatch.core.errors import OAuthTokenError

__all__ = ["jwt_assertion"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_assertion(
    key_pem: str,
    key_id: str | None,
    claims: dict[str, Any],
    where: str,
    *,
    header_fields: dict[str, str] | None = None,
    field: str = "private_key",
    hint: str = "copy private_key from the service account's key JSON",
) -> str:
    """``header.claims.signature`` signed with the PEM RSA ``key_pem``; a key that cannot
    be used is an ``OAuthTokenError`` naming ``field``, never showing the key."""
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if key_id:
        header["kid"] = key_id
    header.update(header_fields or {})
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = _sign_rs256(key_pem, signing_input.encode("ascii"), where, field, hint)
    return f"{signing_input}.{_b64url(signature)}"


def _sign_rs256(key_pem: str, data: bytes, where: str, field: str, hint: str) -> bytes:
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError:
        raise OAuthTokenError(
            f"{where}: signing the token request's assertion needs the Python package "
            "'cryptography' (install smtpwatch with its oauth extra)"
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode("utf-8"), password=None)
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm):
        raise OAuthTokenError(
            f"{where}: oauth {field} cannot be read as an unencrypted PEM RSA key ({hint})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise OAuthTokenError(f"{where}: oauth {field} is not an RSA key (RS256 needs one)")
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
