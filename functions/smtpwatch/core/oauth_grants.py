"""Token sources for delegated access: a refresh token (Google, Microsoft) and a Google
service account with domain-wide delegation (a signed JWT assertion).

Both share the client-credentials source's cache, fetch lock and refetch. A refresh
token the provider rotates is kept for the process only (never written back, logged or
stored); ``invalid_grant`` says the operator must renew it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from smtpwatch.core.errors import OAuthTokenError, SecretError
from smtpwatch.core.oauth_token import (
    PROCESS_CACHE,
    ClientCredentials,
    TokenCache,
    post_for_token,
)

__all__ = ["GoogleServiceAccount", "RefreshToken", "grant_source"]

log = logging.getLogger("smtpwatch.oauth")

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_SCOPE = "https://mail.google.com/"
MICROSOFT_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
MICROSOFT_SCOPE = "https://outlook.office.com/SMTP.Send offline_access"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600  # Google's maximum
WARN_BEFORE = timedelta(days=14)  # a refresh token's known expiry is logged this long ahead
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}\Z")
_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}\Z")  # a refresh token as the provider sends it
_REFRESH_KEYS = ("provider", "token_url", "tenant", "client_id", "client_secret", "refresh_token")
_ACCOUNT_KEYS = ("client_email", "private_key", "private_key_id", "token_uri", "subject")
_KEYS = (*_REFRESH_KEYS, "refresh_token_expires_at", "scope", *_ACCOUNT_KEYS)
RENEW = (
    "the refresh token has expired or was revoked: sign in again to get a new one and "
    "store it in the token source's secret"
)


class _Rotated:
    """Refresh tokens the provider rotated, per secret, for this process only."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"_Rotated({len(self._tokens)} sources)"

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._tokens.get(key)

    def put(self, key: str, token: str) -> None:
        with self._lock:
            self._tokens[key] = token

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


ROTATED = _Rotated()


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class _GrantSource(ClientCredentials):
    """What the flows share with client credentials: ``get`` (cache, fetch lock,
    refetch) calls ``_fetch``; the constructor's fields are kept for ``with_options``."""

    def __init__(
        self,
        fields: Mapping[str, str],
        *,
        where: str,
        cache: TokenCache | None = None,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self._fields = dict(fields)
        self.where = where
        self.token_url = fields["token_url"]
        self.client_id = fields.get("client_email") or fields.get("client_id", "")
        self.scope = fields.get("scope", "")
        self.cache = cache or PROCESS_CACHE
        self.context = context
        self._last = ""
        self._key = "\n".join((type(self).__name__, self.token_url, self.scope, self._origin()))

    def _origin(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:  # no secret, ever
        return f"{type(self).__name__}(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def with_options(
        self, *, cache: TokenCache | None = None, context: ssl.SSLContext | None = None
    ) -> ClientCredentials:
        return type(self)(
            self._fields,
            where=self.where,
            cache=cache or self.cache,
            context=context or self.context,
        )


class RefreshToken(_GrantSource):
    """The refresh-token grant (RFC 6749 §6): delegated access to one mailbox."""

    def _origin(self) -> str:
        f = self._fields
        return _digest(f["client_id"], f.get("client_secret", ""), f["refresh_token"])

    def current(self) -> str:
        """The refresh token to send: the one the provider rotated to in this process,
        else the secret's."""
        return ROTATED.get(self._origin()) or self._fields["refresh_token"]

    def secrets(self) -> tuple[str, ...]:
        f = self._fields
        kept = (f.get("client_secret", ""), f["refresh_token"], self.current())
        return tuple(dict.fromkeys(s for s in kept if s))

    def _fetch(self, timeout: float) -> tuple[str, float]:
        sent = self.current()
        form = {"grant_type": "refresh_token", "client_id": self.client_id, "refresh_token": sent}
        if self._fields.get("client_secret"):
            form["client_secret"] = self._fields["client_secret"]
        if self.scope:
            form["scope"] = self.scope
        answer: dict[str, Any] = {}
        try:
            token, expires_in = post_for_token(
                self.token_url, urllib.parse.urlencode(form), timeout, self.context, answer
            )
        except OAuthTokenError as err:
            if ": invalid_grant" in str(err):
                raise OAuthTokenError(f"{err} ({RENEW}{self._expiry_note()})") from None
            raise
        self._warn_before_expiry()
        rotated = answer.get("refresh_token")
        if isinstance(rotated, str) and _TOKEN.match(rotated) and rotated != sent:
            ROTATED.put(self._origin(), rotated)
        return token, expires_in

    def expires_at(self) -> datetime | None:
        """When the secret says its refresh token expires (``refresh_token_expires_at``)."""
        text = self._fields.get("refresh_token_expires_at")
        return None if text is None else _instant(text)

    def _expiry_note(self) -> str:
        when = self.expires_at()
        return "" if when is None else f"; the secret says it expires {when:%Y-%m-%d %H:%M} UTC"

    def _warn_before_expiry(self) -> None:
        when = self.expires_at()
        if when is not None and when - datetime.now(UTC) <= WARN_BEFORE:
            log.warning(
                "%s: the refresh token expires %s UTC: get a new one and store it in the "
                "token source's secret before then",
                self.where,
                f"{when:%Y-%m-%d %H:%M}",
            )


def _instant(text: str) -> datetime:
    """A date (YYYY-MM-DD, its start) or an ISO 8601 time (UTC when no offset)."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class GoogleServiceAccount(_GrantSource):
    """A service account's signed JWT assertion (RFC 7523) for ``subject``'s mailbox."""

    _assertion = ""

    def _origin(self) -> str:
        f = self._fields
        return _digest(f["client_email"], f["subject"], f["private_key"])

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._fields["private_key"], self._assertion) if s)

    def claims(self, now: float) -> dict[str, Any]:
        iat = int(now)
        return {
            "iss": self._fields["client_email"],
            "sub": self._fields["subject"],
            "scope": self.scope,
            "aud": self.token_url,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_S,
        }

    def _fetch(self, timeout: float) -> tuple[str, float]:
        from smtpwatch.core.oauth_assertion import jwt_assertion

        f = self._fields
        self._assertion = jwt_assertion(
            f["private_key"], f.get("private_key_id"), self.claims(time.time()), self.where
        )
        form = {"grant_type": JWT_BEARER, "assertion": self._assertion}
        return post_for_token(self.token_url, urllib.parse.urlencode(form), timeout, self.context)


def grant_source(doc: Mapping[str, Any], where: str) -> ClientCredentials:
    """The ``refresh_token`` or ``google_service_account`` source of a secret's ``oauth``
    object; ``SecretError`` names the field that is wrong (never its value)."""
    keys = _KEYS
    fields: dict[str, str] = {}
    for key in keys:
        value = doc.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SecretError(f"{where}: oauth {key} must be a non-empty string")
        if value is not None:
            fields[key] = value.strip() if key != "private_key" else value
    if doc.get("flow") == "refresh_token":
        return RefreshToken(_refresh_fields(fields, where), where=where)
    return GoogleServiceAccount(_account_fields(fields, where), where=where)


def _needs(fields: Mapping[str, str], keys: tuple[str, ...], where: str, flow: str) -> None:
    for key in keys:
        if key not in fields:
            raise SecretError(f"{where}: oauth flow {flow} needs {key}")


def _https(fields: dict[str, str], key: str, where: str) -> None:
    url = urllib.parse.urlsplit(fields.get(key, ""))
    if url.scheme != "https" or not url.hostname or url.username or url.fragment:
        raise SecretError(f"{where}: oauth {key} must be https://HOST/PATH")
    fields["token_url"] = fields[key]


def _refresh_fields(fields: dict[str, str], where: str) -> dict[str, str]:
    _needs(fields, ("client_id", "refresh_token"), where, "refresh_token")
    if not _TOKEN.match(fields["refresh_token"]):
        raise SecretError(f"{where}: oauth refresh_token must be printable ASCII, no spaces")
    if "refresh_token_expires_at" in fields:
        try:
            _instant(fields["refresh_token_expires_at"])
        except ValueError:
            raise SecretError(
                f"{where}: oauth refresh_token_expires_at must be a date YYYY-MM-DD"
                " or an ISO 8601 time"
            ) from None
    provider = fields.get("provider", "microsoft" if "tenant" in fields else "")
    if provider not in ("", "google", "microsoft"):
        raise SecretError(f"{where}: oauth provider must be google or microsoft")
    if "token_url" not in fields:
        if provider == "google":
            fields["token_url"] = GOOGLE_TOKEN_URL
        elif provider == "microsoft":
            tenant = fields.get("tenant", "")
            if not _TENANT.match(tenant):
                raise SecretError(f"{where}: oauth tenant must be a tenant id or domain")
            fields["token_url"] = MICROSOFT_URL.format(tenant=tenant)
        else:
            raise SecretError(f"{where}: oauth needs provider, tenant or token_url")
    _https(fields, "token_url", where)
    default = {"google": GOOGLE_SCOPE, "microsoft": MICROSOFT_SCOPE}.get(provider, "")
    if default:
        fields.setdefault("scope", default)
    return fields


def _account_fields(fields: dict[str, str], where: str) -> dict[str, str]:
    flow = "google_service_account"
    _needs(fields, ("client_email", "private_key", "subject"), where, flow)
    key = fields["private_key"]
    if "-----BEGIN" not in key or "PRIVATE KEY-----" not in key:
        raise SecretError(f"{where}: oauth private_key is not PEM: copy it from the key JSON")
    if "@" not in fields["subject"]:
        raise SecretError(f"{where}: oauth subject must be the mailbox to log in as")
    fields.setdefault("token_uri", GOOGLE_TOKEN_URL)
    fields.setdefault("scope", GOOGLE_SCOPE)
    _https(fields, "token_uri", where)
    return fields
