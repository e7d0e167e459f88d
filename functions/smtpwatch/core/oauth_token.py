"""OAuth 2.0 access tokens for SMTP login: the client-credentials flow and a ready token.

One POST to the token endpoint the secret names (stdlib ``http.client``): TLS verified,
no redirect followed, the answer bounded in size and in time by the probe's deadline.
Tokens are cached per process until shortly before they expire. Errors are
``OAuthTokenError`` with the provider's error code and description, never a secret.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from hashlib import sha256
from typing import Any

from smtpwatch.core.errors import OAuthTokenError, SecretError
from smtpwatch.core.safe_text import one_line
from smtpwatch.core.server_text import printable

__all__ = [
    "MAX_RESPONSE",
    "ClientCredentials",
    "ReadyToken",
    "TokenCache",
    "parse_oauth_document",
    "token_source_of_secret",
]

MAX_RESPONSE = 64 * 1024  # bytes of a token endpoint's answer read, at most
EXPIRY_MARGIN_S = 300.0  # a cached token is refetched this long before it expires
_MICROSOFT_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
_MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}\Z")


def token_source_of_secret(text: str, where: str) -> ClientCredentials:
    """The token source of a secret's value: ``{"oauth": {...}, "hosts": [...]}``
    (the resolver has checked the hosts against the target's host)."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "oauth" not in doc:
        raise SecretError(f'{where}: expected a JSON document {{"oauth": {{...}}, "hosts": [...]}}')
    if not doc.get("hosts"):
        raise SecretError(f"{where}: the token source names no host ('hosts')")
    return parse_oauth_document(doc["oauth"], where)


def parse_oauth_document(doc: Any, where: str) -> ClientCredentials:
    """The token source of a secret's ``oauth`` object; ``SecretError`` names what is
    wrong (never a value)."""
    if not isinstance(doc, Mapping):
        raise SecretError(f"{where}: 'oauth' must be an object")
    flow = doc.get("flow", "client_credentials")
    if flow in ("refresh_token", "google_service_account"):
        from smtpwatch.core.oauth_grants import grant_source  # only these flows load it

        return grant_source(doc, where)
    if flow != "client_credentials":
        raise SecretError(f"{where}: oauth flow {str(flow)[:40]!r} is not supported")
    if "client_certificate" in doc:
        from smtpwatch.core.oauth_certificate import certificate_source  # loaded only then

        return certificate_source(doc, where)
    fields: dict[str, str] = {}
    for key in ("client_id", "client_secret", "token_url", "tenant", "scope"):
        value = doc.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SecretError(f"{where}: oauth {key} must be a non-empty string")
        if value is not None:
            fields[key] = value.strip()
    for key in ("client_id", "client_secret"):
        if key not in fields:
            raise SecretError(f"{where}: oauth needs {key}")
    if "tenant" in fields and "token_url" not in fields:
        if not _TENANT.match(fields["tenant"]):
            raise SecretError(f"{where}: oauth tenant must be a tenant id or domain")
        fields["token_url"] = _MICROSOFT_URL.format(tenant=fields["tenant"])
    url = urllib.parse.urlsplit(fields.get("token_url", ""))
    if url.scheme != "https" or not url.hostname or url.username or url.fragment:
        raise SecretError(f"{where}: oauth needs token_url https://HOST/PATH (or tenant)")
    return ClientCredentials(
        token_url=fields["token_url"],
        client_id=fields["client_id"],
        client_secret=fields["client_secret"],
        scope=fields.get("scope", _MICROSOFT_SCOPE),
    )


class TokenCache:
    """Access tokens by source, until ``EXPIRY_MARGIN_S`` before they expire."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._fetching: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def fetch_lock(self, key: str) -> threading.Lock:
        """Held while one check fetches ``key``'s token: the others wait and reuse it."""
        with self._lock:
            return self._fetching.setdefault(key, threading.Lock())

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._tokens.get(key)
        if entry is None or self.clock() >= entry[1]:
            return None
        return entry[0]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()

    def put(self, key: str, token: str, expires_in: float) -> None:
        keep = max(0.0, expires_in - min(EXPIRY_MARGIN_S, expires_in / 2))
        with self._lock:
            self._tokens[key] = (token, self.clock() + keep)


PROCESS_CACHE = TokenCache()


class ClientCredentials:
    """The client-credentials grant (RFC 6749 §4.4) at ``token_url``."""

    can_refresh = True

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        cache: TokenCache | None = None,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.cache = cache or PROCESS_CACHE
        self.context = context
        self._last = ""  # the token this source gave last
        parts = (token_url, client_id, scope, sha256(client_secret.encode()).hexdigest())
        self._key = "\n".join(parts)

    def __repr__(self) -> str:  # no client secret, ever
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def with_options(
        self, *, cache: TokenCache | None = None, context: ssl.SSLContext | None = None
    ) -> ClientCredentials:
        return ClientCredentials(
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self._secret,
            scope=self.scope,
            cache=cache or self.cache,
            context=context or self.context,
        )

    def secrets(self) -> tuple[str, ...]:
        return (self._secret,)

    def get(self, *, timeout: float, refresh: bool) -> tuple[str, bool]:
        """The cached token, else one fetched; ``refresh``: not the token this source
        gave last (the server rejected it), unless another check has fetched a newer one
        meanwhile. One fetch per source at a time: concurrent checks wait for it."""
        deadline = time.monotonic() + timeout
        if not refresh:
            token = self.cache.get(self._key)
            if token is not None:
                self._last = token
                return token, False
        lock = self.cache.fetch_lock(self._key)
        if not lock.acquire(timeout=max(0.0, timeout)):
            host = urllib.parse.urlsplit(self.token_url).hostname
            raise OAuthTokenError(f"token endpoint {host}: no answer within the probe's deadline")
        try:
            token = self.cache.get(self._key)
            if token is not None and not (refresh and token == self._last):
                self._last = token
                return token, False
            token, expires_in = self._fetch(deadline - time.monotonic())
            self.cache.put(self._key, token, expires_in)
            self._last = token
            return token, True
        finally:
            lock.release()

    def _fetch(self, timeout: float) -> tuple[str, float]:
        """One token request (the other flows' sources override it)."""
        form = {"grant_type": "client_credentials", "client_id": self.client_id}
        form.update(client_secret=self._secret, scope=self.scope)
        body = urllib.parse.urlencode(form)
        return post_for_token(self.token_url, body, timeout, self.context)


class ReadyToken:
    """An access token given as it is (``smtpwatch probe --oauth-token-env``)."""

    can_refresh = False

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "ReadyToken(***)"

    def secrets(self) -> tuple[str, ...]:
        return ()

    def get(self, *, timeout: float, refresh: bool) -> tuple[str, bool]:
        return self._token, False


def post_for_token(
    url: str,
    body: str,
    timeout: float,
    context: ssl.SSLContext | None,
    answer: dict[str, Any] | None = None,
) -> tuple[str, float]:
    """``(access token, expires_in seconds)`` from one POST of ``body`` to ``url``;
    ``answer`` (when given) receives the JSON answer's other fields (a rotated
    refresh token)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    where = f"token endpoint {host}"
    deadline = time.monotonic() + timeout
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: _DeadlineConnection | None = None
    try:
        context = context or ssl.create_default_context()
        conn = _DeadlineConnection(host, parts.port or 443, deadline, context)
        conn.request(
            "POST",
            path,
            body=body.encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "User-Agent": "smtpwatch",
            },
        )
        response = conn.getresponse()
        data = response.read(MAX_RESPONSE + 1)
        status = response.status
    except TimeoutError:
        raise OAuthTokenError(f"{where}: no answer within the probe's deadline") from None
    except ssl.SSLCertVerificationError as err:
        reason = err.verify_message or err.reason or "verification failed"
        raise OAuthTokenError(f"{where}: TLS certificate not trusted: {reason}") from None
    except ssl.SSLError as err:
        raise OAuthTokenError(f"{where}: TLS error: {err.reason or err.strerror}") from None
    except (http.client.HTTPException, ValueError):
        raise OAuthTokenError(f"{where}: not an HTTP answer") from None
    except OSError as err:
        raise OAuthTokenError(f"{where}: {err.strerror or type(err).__name__}") from None
    finally:
        if conn is not None:
            conn.close()
    if len(data) > MAX_RESPONSE:
        raise OAuthTokenError(f"{where}: answer larger than {MAX_RESPONSE // 1024} KB")
    return _token_of(where, status, data, {} if answer is None else answer)


def _token_of(where: str, status: int, data: bytes, doc: dict[str, Any]) -> tuple[str, float]:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        doc.update(parsed)
    if 300 <= status < 400:
        raise OAuthTokenError(f"{where} answered HTTP {status}: redirects are not followed")
    if status != 200:
        code = _word(doc.get("error"), 60)
        text = _word(doc.get("error_description"), 300)
        detail = f"{code}: {text}" if code and text else code or text or "no error code"
        raise OAuthTokenError(f"{where} answered HTTP {status}: {detail}")
    token = doc.get("access_token")
    if not isinstance(token, str) or not token or not token.isascii() or " " in token:
        raise OAuthTokenError(f"{where} answered 200 without an access_token")
    kind = doc.get("token_type", "Bearer")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise OAuthTokenError(f"{where} gave a token of type {_word(kind, 40)!r}, not Bearer")
    try:
        expires_in = float(doc.get("expires_in", 3600))
    except (TypeError, ValueError):
        expires_in = 0.0  # used once, never cached
    return token, max(0.0, min(expires_in, 86400.0))


def _word(value: object, limit: int) -> str:
    """A provider's text on one line, printable, cut (the guard masks it later too)."""
    if not isinstance(value, str | int):
        return ""
    return printable(one_line(str(value)))[:limit]


class _DeadlineConnection(http.client.HTTPSConnection):
    """``HTTPSConnection`` whose every connect, send and read shares one deadline."""

    def __init__(self, host: str, port: int, deadline: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=_left(deadline), context=context)
        self.deadline = deadline

    def connect(self) -> None:
        self.timeout = _left(self.deadline)
        super().connect()
        self.sock = _DeadlineSocket(self.sock, self.deadline)


class _DeadlineSocket:
    """A socket whose reads and writes time out at the deadline, however slowly the
    peer drips bytes (``http.client`` reads through ``makefile``). As with a real
    socket, ``close`` waits until the reader made by ``makefile`` is closed too."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._readers = 0
        self._closed = False

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(_left(self._deadline))
        self._sock.sendall(data)

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        self._sock.settimeout(_left(self._deadline))
        return self._sock.recv_into(buffer, nbytes)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        self._readers += 1
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:  # what SocketIO.close calls
        self._readers -= 1
        if self._closed and self._readers <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._readers <= 0:
            self._sock.close()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline reached")
    return left
