"""The target model: one validated, immutable ``Target`` for every source.

DynamoDB items, ``put-item`` JSON, the CLI's options and the SQLite store all go through
``Target(**fields)`` (or ``Target.from_item``): missing, ``None`` and ``""`` mean the
default, and every bad value raises ``ConfigError(field, message)`` naming the field.
The fields are listed once, in ``core/target_fields.py``. Stdlib only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from smtpwatch.core.coerce import is_empty, show
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.parsing import HostsEntry, Nameserver, is_ip_literal
from smtpwatch.core.record import Record
from smtpwatch.core.target_fields import DEFAULTS, FIELD_NAMES, FIELDS
from smtpwatch.core.target_validators import (
    DEFAULT_AUTH_METHODS,
    DEFAULT_PORTS,
    MAX_INTERVAL,
    MIN_INTERVAL_AWS,
    OAUTH_METHODS,
    validate_ehlo_name,
    validate_tags,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from smtpwatch.core.maintenance import MaintenanceWindow

__all__ = [
    "STATE_FIELDS",
    "TARGET_FIELDS",
    "Target",
    "check_aws_limits",
    "parse_ehlo_name",
]


class Target(Record):
    """One monitored SMTP server (docs/design.md#data-model). Construct with keyword arguments:
    ``Target(**fields)`` validates and normalizes every field (see the module doc); an
    unknown keyword is a ``ConfigError`` naming it, with a "did you mean" hint.

    Immutable (``replace(**changes)`` returns a validated copy). A hand-written class,
    not a dataclass: see ``core/record.py`` (``smtpwatch probe`` starts fast).
    """

    # The documented field order (the table's): to_item(), repr and TARGET_FIELDS follow it.
    __slots__ = FIELD_NAMES
    target_id: str
    host: str
    name: str
    port: int | None
    encryption: str
    timeout_s: float
    login: bool
    username: str | None
    password_ref: str | None
    token_ref: str | None
    auth_methods: tuple[str, ...]
    allow_plaintext_auth: bool
    dns_mode: str
    nameservers: tuple[Nameserver, ...]
    dns_hosts: tuple[HostsEntry, ...]
    ip_family: str
    tls_verify: bool
    ca_bundle: str | None
    cert_warn_days: int
    warn_ms: int | None
    ehlo_name: str | None
    interval_s: int
    enabled: bool
    failures_before_alert: int
    recheck_delay_s: int
    locations: tuple[str, ...]
    quorum: int
    alert_on_partial: bool
    notify_recovery: bool
    remind_every_s: int
    maintenance: tuple[MaintenanceWindow, ...]
    tags: dict[str, str]

    _DEFAULTS: ClassVar[Mapping[str, Any]] = DEFAULTS  # every field's default (normalized form)

    if TYPE_CHECKING:
        # The typed signature for mypy; at run time every field goes through the
        # validation below, whatever its spelling (Decimal, numeric strings ...).
        def __init__(
            self,
            *,
            target_id: str = "",
            host: str = "",
            name: str = "",
            port: int | None = None,
            encryption: str = "explicit",
            timeout_s: float = 120.0,
            login: bool = False,
            username: str | None = None,
            password_ref: str | None = None,
            token_ref: str | None = None,
            auth_methods: tuple[str, ...] = DEFAULT_AUTH_METHODS,
            allow_plaintext_auth: bool = False,
            dns_mode: str = "device_cached",
            nameservers: tuple[Nameserver, ...] = (),
            dns_hosts: tuple[HostsEntry, ...] = (),
            ip_family: str = "any",
            tls_verify: bool = True,
            ca_bundle: str | None = None,
            cert_warn_days: int = 14,
            warn_ms: int | None = None,
            ehlo_name: str | None = None,
            interval_s: int = 300,
            enabled: bool = True,
            failures_before_alert: int = 1,
            recheck_delay_s: int = 10,
            locations: tuple[str, ...] = (),
            quorum: int = 0,
            alert_on_partial: bool = False,
            notify_recovery: bool = True,
            remind_every_s: int = 0,
            maintenance: tuple[MaintenanceWindow, ...] = (),
            tags: Mapping[str, str] | None = None,
        ) -> None: ...

    else:

        def __init__(self, **fields: Any) -> None:
            self._build(fields, stored=False)

    def _build(self, fields: dict[str, Any], *, stored: bool) -> None:
        unknown = sorted(key for key in fields if key not in _TARGET_FIELD_SET)
        if unknown:
            raise ConfigError(_field_label(unknown[0]), _unknown_message(unknown))
        raw = dict(DEFAULTS)
        raw.update(fields)
        for key, value in _normalize(raw, stored=stored).items():
            object.__setattr__(self, key, value)

    @classmethod
    def _stored(cls, fields: dict[str, Any]) -> Target:
        """A target as stored: its tags may still be what an earlier version allowed
        (``validate_tags(stored=True)``); everything else is validated as input."""
        target = cls.__new__(cls)
        target._build(fields, stored=True)
        return target

    def replace(self, **changes: Any) -> Target:
        """A validated copy with ``changes``; a stored target's tags that no input may
        give any more are kept as long as ``changes`` leaves them alone."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        if "tags" in changes:
            return type(self)(**fields)
        return type(self)._stored(fields)

    __replace__ = replace

    # Tags are a dict: hash on the identity fields (equal targets share them).
    def __hash__(self) -> int:
        return hash((self.target_id, self.host, self.port, self.encryption))

    def __repr__(self) -> str:
        # Only what differs from the defaults, and the CA bundle summarized: a repr goes
        # into log lines. (No secret is held: password_ref is a reference.)
        item = self.to_item()
        if self.ca_bundle is not None:
            count = self.ca_bundle.count("-----BEGIN CERTIFICATE-----")
            item["ca_bundle"] = f"<PEM, {count} certificate(s)>"
        return f"Target({', '.join(f'{k}={v!r}' for k, v in item.items())})"

    @property
    def effective_port(self) -> int:
        """``port``, or the default of the encryption (587 / 465 / 25 / 25)."""
        return self.port if self.port is not None else DEFAULT_PORTS[self.encryption]

    @classmethod
    def from_item(cls, item: Mapping[Any, Any], *, strict: bool) -> tuple[Target, list[str]]:
        """A target from a stored item or a user's dict.

        State attributes (``status``, ``last_result`` …) are ignored. Unknown attribute
        names raise a ``ConfigError`` with a suggestion when ``strict`` (the CLI), else
        they are returned so the caller can log them (a stored item is still probed).
        """
        if not isinstance(item, Mapping):
            raise ConfigError("target", "must be a map of attribute names to values")
        known: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in item.items():
            if not isinstance(key, str):
                raise ConfigError("target", f"attribute name {show(key)} is not a string")
            if key in _TARGET_FIELD_SET:
                known[key] = value
            elif key not in _IGNORED_FIELDS:
                unknown.append(key)
        unknown.sort()
        if unknown and strict:
            raise ConfigError(_field_label(unknown[0]), _unknown_message(unknown))
        return (cls(**known) if strict else cls._stored(known)), unknown

    def to_item(self, *, full: bool = False) -> dict[str, Any]:
        """The user fields, JSON- and DynamoDB-friendly (lists, str, int, bool; a float
        only where a value is not whole). Defaults are left out unless ``full`` —
        ``target_id`` and ``host`` are always present."""
        item: dict[str, Any] = {}
        for spec in FIELDS:
            name = spec.name
            value = getattr(self, name)
            if not full and not spec.required:
                if name == "name" and value == self.host:
                    continue
                if value == spec.default:
                    continue
            item[name] = value if spec.dump is None else spec.dump(value)
        return item

    def describe(self) -> str:
        """``host:port`` as alerts and logs show it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.effective_port}"


TARGET_FIELDS: tuple[str, ...] = Target.__slots__
_TARGET_FIELD_SET = frozenset(TARGET_FIELDS)

# State attributes (docs/design.md#data-model, plus the store's bookkeeping) that may
# share an item with the config in some stores; never user fields.
STATE_FIELDS: tuple[str, ...] = (
    "status",
    "last_result",
    "consecutive_failures",
    "last_checked_at",
    "last_change_at",
    "next_due_at",
    "pending_alert",
    "last_alert_at",
    "last_scheduled_at",
    "last_alert_event",
    "alerted",
    "warning_kinds",
    "version",
)
_IGNORED_FIELDS = frozenset(STATE_FIELDS)


def _field_label(name: str) -> str:
    """An unknown attribute's name as an error names it: as typed when it is a short
    printable name, else quoted and escaped (it may hold control characters)."""
    if name.isprintable() and 0 < len(name) <= 60:
        return name
    return show(name, 60) if name else "target"


def _unknown_message(unknown: list[str]) -> str:
    import difflib  # ~1 ms with heapq (bench/import_cost.py): only for a "did you mean" hint

    parts = []
    for key in unknown[:5]:
        close = difflib.get_close_matches(key, TARGET_FIELDS, n=1, cutoff=0.6)
        if not close:
            close = [f for f in TARGET_FIELDS if f.startswith(key + "_")][:1]
        hint = f" (did you mean {close[0]}?)" if close else ""
        parts.append(f"{key[:60]!r}{hint}")
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    noun = "attribute" if len(unknown) == 1 else "attributes"
    return f"unknown {noun} {', '.join(parts)}{more}"


def _normalize(raw: dict[str, Any], *, stored: bool = False) -> dict[str, Any]:
    """Every field validated and normalized, then the rules between fields (``stored``:
    the tags of a stored item, see ``validate_tags``)."""
    v: dict[str, Any] = {}
    for spec in FIELDS:
        name = spec.name
        value = raw[name]
        if spec.required:
            v[name] = spec.normalize(value)
            continue
        default = spec.default
        # Fast path: most fields of most items are absent, i.e. already the default (the
        # dispatcher builds every target on every tick).
        if (value is default or (type(value) is type(default) and value == default)) or (
            is_empty(value)
        ):
            # tags: a fresh dict per target, never the shared default.
            v[name] = {} if name == "tags" else default
            continue
        if stored and name == "tags":
            v[name] = validate_tags(value, stored=True)
            continue
        v[name] = spec.normalize(value)
    if not v["name"]:
        v["name"] = v["host"]
    given = raw["auth_methods"]  # left out: the credential's default mechanisms
    _check_rules(v, given is not DEFAULT_AUTH_METHODS and not is_empty(given))
    return v


def _check_rules(v: dict[str, Any], methods_given: bool) -> None:
    _check_credential_rules(v, methods_given)
    if v["login"]:
        if not v["username"]:
            raise ConfigError("username", "is required when login is true")
        if not v["password_ref"] and not v["token_ref"]:
            raise ConfigError(
                "password_ref",
                "is required when login is true "
                "(ssm:/path, secretsmanager:name, env:VAR or file:ID; token_ref for OAuth)",
            )
        if v["encryption"] == "none" and not v["allow_plaintext_auth"]:
            raise ConfigError(
                "allow_plaintext_auth",
                "encryption 'none' with login would send the password unencrypted; use "
                "explicit, implicit or auto, or set allow_plaintext_auth: true to allow it",
            )
    if v["locations"] and v["quorum"] > len(v["locations"]):
        raise ConfigError(
            "quorum",
            f"{v['quorum']} is more than the {len(v['locations'])} locations named; allowed: "
            f"0 (a majority) or 1 to {len(v['locations'])}",
        )
    if v["dns_mode"] == "external" and not v["nameservers"]:
        raise ConfigError(
            "nameservers", "dns_mode 'external' needs at least one nameserver (IP or [IP]:PORT)"
        )
    if v["nameservers"] and v["dns_mode"] != "external":
        # Kept but never asked, they would look configured while the probe uses another
        # resolver.
        raise ConfigError(
            "nameservers", f"only used with dns_mode external (dns_mode is {v['dns_mode']})"
        )
    if is_ip_literal(v["host"]) and v["ip_family"] != "any":
        version = ipaddress.ip_address(v["host"]).version
        if f"ipv{version}" != v["ip_family"]:
            raise ConfigError(
                "ip_family",
                f"is {v['ip_family']} but host {v['host']} is an IPv{version} address",
            )


def _check_credential_rules(v: dict[str, Any], methods_given: bool) -> None:
    """A password or a token source, never both; the mechanisms match the credential
    (an access token is never sent as a password, nor a password as a token), also
    when the password mechanisms named are exactly their default list."""
    methods = v["auth_methods"]
    oauth = [m for m in methods if m in OAUTH_METHODS]
    if v["token_ref"]:
        if v["password_ref"]:
            raise ConfigError("token_ref", "cannot be used together with password_ref")
        if not methods_given:
            v["auth_methods"] = methods = OAUTH_METHODS
        others = [m for m in methods if m not in OAUTH_METHODS and m != "SIMPLE"]
        if others:
            raise ConfigError(
                "auth_methods",
                f"{', '.join(others)} would send the access token as a password; with "
                f"token_ref use {', '.join(OAUTH_METHODS)}",
            )
    elif oauth:
        raise ConfigError("auth_methods", f"{', '.join(oauth)} needs a token_ref")


def parse_ehlo_name(value: object) -> str:
    """An EHLO name as a target's ``ehlo_name`` takes it (a host name or an address
    literal), for options that set the default one; ``ConfigError`` otherwise."""
    return validate_ehlo_name(value)


def check_aws_limits(target: Target) -> None:
    """The extra limits of the serverless deployment (the dispatcher ticks once a
    minute; a Lambda function has neither the local secret store nor per-target
    environment variables)."""
    if target.interval_s < MIN_INTERVAL_AWS:
        raise ConfigError(
            "interval_s",
            f"{target.interval_s} is too short on AWS (the dispatcher runs once a minute); "
            f"allowed: {MIN_INTERVAL_AWS} to {MAX_INTERVAL}",
        )
    for field in ("password_ref", "token_ref"):
        ref = getattr(target, field) or ""
        if ref.startswith(("file:", "env:")):
            raise ConfigError(
                field,
                f"{ref.split(':', 1)[0]}: references work only locally; on AWS use ssm:/path "
                "or secretsmanager:name",
            )
