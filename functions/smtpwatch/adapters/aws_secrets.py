"""SecretResolver on AWS: SSM SecureString (``ssm:/path``) and Secrets Manager
(``secretsmanager:name``), read through Powertools Parameters with caching.

A secret names the hosts it may be sent to: its value is ``encode_secret()``'s JSON
(``password``, ``hosts``, ``allow_unverified``), or the plain password with the tag
``smtpwatch:hosts``. A secret naming no host is never sent; ``TargetSecretResolver``
withholds it from a target whose TLS does not prove the host, unless it allows that.
Only names under ``SECRETS_PREFIX`` are read; ``env:`` and ``file:`` are local-only.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smtpwatch.core.errors import SecretError

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = [
    "HOSTS_TAG",
    "UNVERIFIED_TAG",
    "AwsSecretResolver",
    "SecretValue",
    "TargetSecretResolver",
    "encode_secret",
    "host_allowed",
    "unverified_reasons",
]

HOSTS_TAG = "smtpwatch:hosts"
UNVERIFIED_TAG = "smtpwatch:allow-unverified"
DEFAULT_MAX_AGE_S = 300  # a rotated secret is re-read at once after auth_failed anyway


@dataclass(frozen=True, slots=True)
class SecretValue:
    password: str = field(repr=False)
    hosts: tuple[str, ...] = ()
    allow_unverified: bool = False


def encode_secret(password: str, hosts: Iterable[str], *, allow_unverified: bool = False) -> str:
    """The JSON value to store in SSM or Secrets Manager for a password bound to hosts."""
    host_list = [h.strip() for h in hosts if h and h.strip()]
    if not host_list:
        raise ValueError("a secret must name at least one host it may be sent to")
    doc: dict[str, Any] = {"password": password, "hosts": host_list}
    if allow_unverified:
        doc["allow_unverified"] = True
    return json.dumps(doc)


def _norm_host(host: str) -> str:
    h = host.strip().lower().rstrip(".")
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    try:
        return ipaddress.ip_address(h).compressed
    except ValueError:
        return h


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """``host`` is one of ``patterns`` (exact, case-insensitive; ``*.d`` = one label + d)."""
    h = _norm_host(host)
    for raw in patterns:
        p = _norm_host(raw)
        if not p:
            continue
        if p.startswith("*."):
            head, _, rest = h.partition(".")
            if head and head != "*" and rest == p[2:]:
                return True
        elif h == p:
            return True
    return False


def unverified_reasons(target: Target) -> list[str]:
    """Target settings under which TLS does not prove the server is the named host."""
    reasons = []
    if not target.tls_verify:
        reasons.append("tls_verify is off")
    if target.ca_bundle:
        reasons.append("the target brings its own ca_bundle")
    if target.allow_plaintext_auth or target.encryption == "none":
        reasons.append("plaintext AUTH is allowed")
    return reasons


def _parse_value(ref: str, text: str) -> tuple[str, tuple[str, ...] | None, bool]:
    """(password, hosts or None when the value names none, allow_unverified)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            # A token source's document ("oauth") is handed on whole, hosts included.
            password = stripped if "oauth" in doc else doc.get("password")
            if not isinstance(password, str) or not password:
                raise SecretError(f"{ref}: JSON secret has no 'password' string")
            hosts_raw = doc.get("hosts")
            if isinstance(hosts_raw, str):
                hosts_raw = hosts_raw.split()
            hosts: tuple[str, ...] | None = None
            if isinstance(hosts_raw, list):
                hosts = tuple(str(h) for h in hosts_raw if str(h).strip())
            return password, hosts, doc.get("allow_unverified") is True
    return text, None, False


class AwsSecretResolver:
    """Reads and caches secrets; checks the prefix and the host binding."""

    def __init__(
        self,
        *,
        prefix: str,
        ssm_client: Any | None = None,
        secrets_client: Any | None = None,
        max_age_s: int = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prefix = prefix.strip()
        self._ssm_client = ssm_client
        self._secrets_client = secrets_client
        self._max_age_s = max_age_s
        self._clock = clock
        self._ssm: Any = None  # Powertools providers, created on first use (cold start)
        self._sm: Any = None
        self._tags: dict[str, tuple[float, tuple[str, ...] | None, bool]] = {}

    # --- SecretResolver protocol
    def resolve(self, ref: str, *, host: str, refresh: bool = False) -> str:
        value = self.lookup(ref, refresh=refresh)
        check_host(ref, value, host)
        return value.password

    # --- the full value, for TargetSecretResolver
    def lookup(self, ref: str, *, refresh: bool = False) -> SecretValue:
        scheme, sep, name = ref.partition(":")
        scheme = scheme.strip().lower()
        name = name.strip()
        if not sep or not name:
            raise SecretError(f"{ref!r}: expected ssm:/path or secretsmanager:name")
        if scheme in ("env", "file"):
            raise SecretError(
                f"{scheme}: secrets are for local use only; on AWS use ssm:/path "
                "(SecureString) or secretsmanager:name"
            )
        if scheme == "ssm":
            self._check_prefix(ref, name)
            text = self._fetch_ssm(ref, name, refresh)
        elif scheme == "secretsmanager":
            self._check_prefix(ref, _secret_name(name))
            text = self._fetch_secret(ref, name, refresh)
        else:
            raise SecretError(
                f"{ref!r}: unknown secret scheme {scheme!r} (ssm: or secretsmanager:)"
            )
        password, hosts, allow_unverified = _parse_value(ref, text)
        if hosts is None:  # a plain value: the binding is on the tag
            hosts, allow_unverified = self._tag_binding(scheme, name, refresh)
        return SecretValue(password=password, hosts=hosts or (), allow_unverified=allow_unverified)

    def _check_prefix(self, ref: str, name: str) -> None:
        prefix = self._prefix.lstrip("/")
        if not prefix:
            raise SecretError(f"{ref}: SECRETS_PREFIX is not set; no secret may be read")
        bare = name.lstrip("/")
        ok = bare.startswith(prefix)
        if ok and prefix[-1].isalnum():  # "smtpwatch" must not admit "smtpwatchevil/x"
            ok = len(bare) > len(prefix) and bare[len(prefix)] == "/"
        if not ok:
            raise SecretError(f"{ref}: not under this stack's secrets prefix {self._prefix!r}")

    def _fetch_ssm(self, ref: str, name: str, refresh: bool) -> str:
        from aws_lambda_powertools.utilities.parameters import SSMProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        if self._ssm is None:
            self._ssm = SSMProvider(boto3_client=self._ssm_client)
        try:
            value = self._ssm.get(name, max_age=self._max_age_s, decrypt=True, force_fetch=refresh)
        except GetParameterError as exc:
            raise SecretError(f"{ref}: cannot read the SSM parameter ({_reason(exc)})") from None
        if not isinstance(value, str) or not value:
            raise SecretError(f"{ref}: the SSM parameter is empty")
        return value

    def _fetch_secret(self, ref: str, name: str, refresh: bool) -> str:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        if self._sm is None:
            self._sm = SecretsProvider(boto3_client=self._secrets_client)
        try:
            value = self._sm.get(name, max_age=self._max_age_s, force_fetch=refresh)
        except GetParameterError as exc:
            raise SecretError(f"{ref}: cannot read the secret ({_reason(exc)})") from None
        if isinstance(value, bytes):
            raise SecretError(f"{ref}: binary secrets are not supported; store a string")
        if not isinstance(value, str) or not value:
            raise SecretError(f"{ref}: the secret is empty")
        return value

    def _tag_binding(self, scheme: str, name: str, refresh: bool) -> tuple[tuple[str, ...], bool]:
        key = f"{scheme}:{name}"
        now = self._clock()
        cached = self._tags.get(key)
        if cached and not refresh and now - cached[0] < self._max_age_s:
            return cached[1] or (), cached[2]
        tags: dict[str, str] = {}
        try:
            if scheme == "ssm":
                client = self._ssm_client or self._ssm.client
                resp = client.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)
                tags = {t["Key"]: t["Value"] for t in resp.get("TagList", ())}
            else:
                client = self._secrets_client or self._sm.client
                resp = client.describe_secret(SecretId=name)
                tags = {t["Key"]: t["Value"] for t in resp.get("Tags", ())}
        except Exception as exc:  # no tag permission or no such secret: names no host
            raise SecretError(
                f"{scheme}:{name}: plain secret and its {HOSTS_TAG} tag cannot be read "
                f"({type(exc).__name__})"
            ) from None
        hosts = tuple(tags.get(HOSTS_TAG, "").replace(",", " ").split())
        unverified = tags.get(UNVERIFIED_TAG, "").strip().lower() == "true"
        self._tags[key] = (now, hosts, unverified)
        return hosts, unverified


def check_host(ref: str, value: SecretValue, host: str) -> None:
    if not value.hosts:
        raise SecretError(
            f"{ref}: the secret names no host it may be sent to; store JSON "
            f'{{"password": ..., "hosts": ["{host}"]}} or tag it {HOSTS_TAG}={host}'
        )
    if not host_allowed(host, value.hosts):
        raise SecretError(f"{ref}: the secret may not be sent to {host} (not in its hosts)")


class TargetSecretResolver:
    """The resolver one probe invocation uses: host binding plus the target's trust."""

    def __init__(self, inner: AwsSecretResolver, target: Target) -> None:
        self._inner = inner
        self._target = target

    def resolve(self, ref: str, *, host: str, refresh: bool = False) -> str:
        value = self._inner.lookup(ref, refresh=refresh)
        check_host(ref, value, host)
        # The binding names the target's host; the address comes from DNS/dns_hosts, so
        # only a verified certificate proves the peer is that host.
        if host != self._target.host:
            check_host(ref, value, self._target.host)
        reasons = unverified_reasons(self._target)
        if reasons and not value.allow_unverified:
            raise SecretError(
                f"{ref}: not sent: {'; '.join(reasons)} — the server's identity is not "
                'proven; the secret must allow it ("allow_unverified": true)'
            )
        return value.password


def _secret_name(name: str) -> str:
    """The secret's name from a name or an ARN (``...:secret:NAME-6chars``)."""
    if name.startswith("arn:"):
        tail = name.split(":secret:", 1)[-1]
        head, dash, suffix = tail.rpartition("-")
        return head if dash and len(suffix) == 6 else tail
    return name


def _reason(exc: Exception) -> str:
    # Powertools wraps the botocore error; its text holds the error code and the name,
    # never the value. Keep it to one short line.
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
