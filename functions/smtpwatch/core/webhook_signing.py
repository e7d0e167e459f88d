"""Webhook signatures in the Standard Webhooks scheme (symmetric, ``v1``).

The secret is ``whsec_`` followed by base64 (the key is the decoded bytes). Each
request carries ``webhook-id`` (the alert's id: receivers dedupe retries on it),
``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``:
``v1,`` + base64 of HMAC-SHA256 over ``{id}.{timestamp}.{body}``. A receiver rejects
a timestamp far from its clock (replays) and compares in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["SECRET_PREFIX", "parse_secret", "sign", "signed_headers"]

SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 16  # shorter keys are guessable; the scheme's own examples use 24-64


def parse_secret(text: str) -> bytes:
    """The key of a ``whsec_…`` secret. ValueError (never quoting the text) otherwise."""
    encoded = text.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"webhook secret: expected {SECRET_PREFIX} followed by the base64 of at least "
            f"{MIN_KEY_BYTES} random bytes"
        )
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{msg_id}.{timestamp}.{body}``."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def signed_headers(key: bytes | None, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The ``webhook-*`` headers; without a key, the id and timestamp alone."""
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if key is not None:
        headers["webhook-signature"] = sign(key, msg_id, timestamp, body)
    return headers
