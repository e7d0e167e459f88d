"""The target model: one validated, immutable ``Target`` for every source.

DynamoDB items typed in the console, ``put-item`` JSON, the CLI's options and the SQLite
store all go through ``Target(**fields)`` (or ``Target.from_item``). Input is normalized:
missing, ``None`` and ``""`` (and empty lists) mean the default; numbers may be
``Decimal`` (DynamoDB) or numeric strings; booleans may be the strings ``"true"`` /
``"false"``. Every bad value raises ``ConfigError(field, message)`` naming the field and
what is allowed — never another exception.

Stdlib only: the dispatcher Lambda imports this on every tick.
"""

from __future__ import annotations

import ipaddress
import math
import re
import sys
from collections.abc import Callable, Mapping

from smtpwatch.core.errors import ConfigError
from smtpwatch.core.parsing import (
    HostsEntry,
    Nameserver,
    format_nameserver,
    is_ip_literal,
    is_valid_hostname,
    normalize_host,
    parse_hosts_text,
    parse_nameserver,
    parse_port,
)
from smtpwatch.core.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms)
if TYPE_CHECKING:
    from decimal import Decimal
    from typing import Any, ClassVar

    from smtpwatch.core.maintenance import MaintenanceWindow

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_AUTH_METHODS",
    "DEFAULT_PORTS",
    "DNS_MODES",
    "ENCRYPTIONS",
    "IP_FAMILIES",
    "MIN_INTERVAL_AWS",
    "MIN_INTERVAL_LOCAL",
    "STATE_FIELDS",
    "TARGET_FIELDS",
    "HostsEntry",
    "Nameserver",
    "Target",
    "check_aws_limits",
    "parse_ehlo_name",
]

ENCRYPTIONS = ("explicit", "implicit", "none", "auto")
DEFAULT_PORTS = {"explicit": 587, "implicit": 465, "none": 25, "auto": 25}
_ENCRYPTION_ALIASES = {"starttls": "explicit", "smtps": "implicit", "ssl": "implicit"}
DNS_MODES = ("device_cached", "non_cached", "ttl_cached", "external")
IP_FAMILIES = ("any", "ipv4", "ipv6")
AUTH_METHODS = ("CRAM-MD5", "LOGIN", "PLAIN", "SIMPLE")
DEFAULT_AUTH_METHODS = ("CRAM-MD5", "LOGIN", "PLAIN")
# The spec's "SSL/TLS" entry is the STARTTLS fallback, which is always on.
_AUTH_DROPPED = frozenset({"SSL/TLS", "SSL", "TLS", "STARTTLS"})

MIN_INTERVAL_LOCAL = 10
# The dispatcher runs once a minute; a shorter interval cannot be honoured on AWS.
MIN_INTERVAL_AWS = 60
MAX_INTERVAL = 7 * 24 * 3600
MAX_TAGS = 7  # SNS allows 10 message attributes; event, status and target_id take 3
MAX_NAMESERVERS = 10
MAX_DNS_HOSTS = 200
MAX_CA_BUNDLE = 300_000  # characters; a DynamoDB item holds 400 KB in all
RESERVED_TAG_KEYS = frozenset({"event", "status", "target_id"})

_TARGET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")
_TAG_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}\Z")
# Control characters (C0, DEL, C1), line and paragraph separators, the bidirectional
# overrides and isolates (text that reads differently from what it is) and lone
# surrogates (not text at all): never in a field that is printed or stored.
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
# A CA bundle is lines of text: tabs and line breaks are its own.
_PEM_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s*[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")
_PASSWORD_REF = {
    "ssm": (re.compile(r"^[A-Za-z0-9_.\-/]{1,2048}\Z"), "ssm:/path/to/parameter"),
    "secretsmanager": (re.compile(r"^[A-Za-z0-9/_+=.@:\-]{1,2048}\Z"), "secretsmanager:name"),
    "env": (re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}\Z"), "env:VARIABLE"),
    "file": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z"), "file:ID"),
}
_MAX_STR = 4096


def _err(name: str, message: str) -> ConfigError:
    return ConfigError(name, message)


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset | dict):
        return len(value) == 0
    return False


# ---- scalar normalizers ------------------------------------------------------------


def _is_decimal(value: object) -> bool:
    # No Decimal exists unless the decimal module was imported (by a caller or here).
    decimal = sys.modules.get("decimal")
    return decimal is not None and isinstance(value, decimal.Decimal)


def _number(name: str, value: object) -> Decimal:
    """Any accepted numeric spelling as a finite Decimal."""
    # Imported here: plain ints and floats in range never get here (see _int/_float),
    # and decimal costs ~1.3 ms at every start of `smtpwatch probe`.
    from decimal import Decimal, InvalidOperation

    if isinstance(value, bool):
        raise _err(name, "must be a number, not true/false")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _err(name, "must be a finite number")
        return Decimal(value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 40:
            raise _err(name, f"{text[:20]!r}… is not a number")
        try:
            number = Decimal(text)
        except (InvalidOperation, ValueError):
            raise _err(name, f"{text!r} is not a number") from None
    else:
        raise _err(name, "must be a number")
    if not number.is_finite():
        raise _err(name, "must be a finite number")
    return number


def _int(name: str, value: object, low: int, high: int, what: str = "") -> int:
    if type(value) is int and low <= value <= high:
        return value  # the common case, without Decimal
    number = _number(name, value)
    allowed = what or f"a whole number from {low} to {high}"
    # Range first: int() of Decimal("1e999999") would be a huge computation.
    if number < low or number > high:
        raise _err(name, f"{_num_text(number)} is out of range; allowed: {allowed}")
    if number != number.to_integral_value():
        raise _err(name, f"{_num_text(number)} is not a whole number; allowed: {allowed}")
    return int(number)


def _float(name: str, value: object, low: float, high: float) -> float:
    # The common case without Decimal; False for NaN, and infinities are out of range.
    if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
        return float(value)
    from decimal import Decimal

    number = _number(name, value)
    if number < Decimal(str(low)) or number > Decimal(str(high)):
        raise _err(name, f"{_num_text(number)} is out of range; allowed: {low:g} to {high:g}")
    return float(number)


def _num_text(number: Decimal) -> str:
    """A number for a message or a tag: plain digits where whole and not huge."""
    if abs(number) < _PLAIN_LIMIT and number == number.to_integral_value():
        return str(int(number))
    text = str(number)
    return text if len(text) <= 24 else text[:23] + "…"


_PLAIN_LIMIT = 10**18  # compares exactly with a Decimal


def _bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "true":
            return True
        if text == "false":
            return False
    raise _err(name, "must be true or false")


def _choice(name: str, value: object, choices: tuple[str, ...], aliases: Mapping[str, str]) -> str:
    if isinstance(value, str):
        text = value.strip().lower().replace("-", "_")
        text = aliases.get(text, text)
        if text in choices:
            return text
    raise _err(name, f"{_show(value)} is not allowed; choose one of: {', '.join(choices)}")


def _text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise _err(name, "must be a string")
    text = value.strip()
    if len(text) > limit:
        raise _err(name, f"is too long (at most {limit} characters)")
    if _CONTROL.search(text):
        raise _err(name, "must not contain control characters or line breaks")
    return text


def _show(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _string_list(name: str, value: object, *, split: str) -> list[object]:
    """A list/set/tuple as a list, or a string split on ``split`` (a regex)."""
    if isinstance(value, str):
        return [p for p in re.split(split, value) if p.strip()]
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, list | tuple):
        return list(value)
    raise _err(name, "must be a list of strings (or one string)")


# ---- field normalizers -------------------------------------------------------------


def _target_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err("target_id", "is required (letters, digits and . _ : @ -)")
    text = value.strip()
    if not _TARGET_ID.match(text):
        raise _err(
            "target_id",
            f"{_show(text)} is not allowed: start with a letter or digit, then up to 127 of "
            "letters, digits and . _ : @ -",
        )
    return text


def _host(value: object) -> str:
    if _is_empty(value):
        raise _err("host", "is required (a host name or an IP address)")
    return normalize_host(value, field="host")


def _auth_methods(value: object) -> tuple[str, ...]:
    if isinstance(value, str | list | tuple | set | frozenset):
        items = _string_list("auth_methods", value, split=r"[\s,;]+")
    else:
        raise _err("auth_methods", "must be a list such as ['CRAM-MD5', 'LOGIN', 'PLAIN']")
    methods: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise _err("auth_methods", f"{_show(item)} is not a method name")
        text = item.strip().upper().replace("_", "-")
        if not text:
            continue
        if text in _AUTH_DROPPED:
            continue
        if text not in AUTH_METHODS:
            raise _err(
                "auth_methods",
                f"{_show(item)} is not supported; choose from {', '.join(AUTH_METHODS)}",
            )
        if text not in methods:
            methods.append(text)
    if not methods:
        raise _err("auth_methods", f"names no usable method; choose from {', '.join(AUTH_METHODS)}")
    return tuple(methods)


def _password_ref(value: object) -> str:
    allowed = "ssm:/path, secretsmanager:name, env:VAR or file:ID"
    if not isinstance(value, str):
        raise _err("password_ref", f"must be a reference ({allowed}), never the password")
    text = value.strip()
    kind, sep, rest = text.partition(":")
    entry = _PASSWORD_REF.get(kind.lower()) if sep else None
    if entry is None:
        # Never echo the value: someone may have typed the password itself here.
        raise _err(
            "password_ref", f"must be a reference: {allowed} (the password itself does not go here)"
        )
    pattern, example = entry
    if not pattern.match(rest):
        raise _err("password_ref", f"malformed {kind.lower()} reference; expected {example}")
    return f"{kind.lower()}:{rest}"


def _nameservers(value: object) -> tuple[Nameserver, ...]:
    if isinstance(value, Nameserver):
        value = [value]
    items = _string_list("nameservers", value, split=r"[\s,;]+")
    if len(items) > MAX_NAMESERVERS:
        raise _err("nameservers", f"at most {MAX_NAMESERVERS} entries")
    result: list[Nameserver] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        ns = parse_nameserver(item, field="nameservers")
        if ns not in result:
            result.append(ns)
    return tuple(result)


def _dns_hosts(value: object) -> tuple[HostsEntry, ...]:
    if isinstance(value, HostsEntry):
        value = [value]
    if isinstance(value, set | frozenset):
        value = sorted(value, key=str)
    entries = parse_hosts_text(value, field="dns_hosts")
    if len(entries) > MAX_DNS_HOSTS:
        raise _err("dns_hosts", f"at most {MAX_DNS_HOSTS} lines")
    return entries


def _ca_bundle(value: object) -> str:
    if not isinstance(value, str):
        raise _err("ca_bundle", "must be PEM text (-----BEGIN CERTIFICATE----- ...)")
    if len(value) > MAX_CA_BUNDLE:
        raise _err("ca_bundle", f"is too long (at most {MAX_CA_BUNDLE} characters)")
    if "PRIVATE KEY-----" in value:
        raise _err("ca_bundle", "contains a private key; give only CA certificates")
    if _PEM_CONTROL.search(value):
        raise _err("ca_bundle", "must not contain control characters (PEM is lines of text)")
    if not _PEM_CERT.search(value):
        raise _err(
            "ca_bundle",
            "must be PEM text with at least one -----BEGIN CERTIFICATE----- block "
            "(the file's content, not its path)",
        )
    return value.strip() + "\n"


def _ehlo_name(value: object) -> str:
    if not isinstance(value, str):
        raise _err("ehlo_name", "must be a host name or an address literal like [192.0.2.1]")
    text = value.strip()
    if len(text) > 255:
        raise _err("ehlo_name", "is too long")
    if "%" in text:  # a zone id is local to this machine: no EHLO address literal has one
        raise _err("ehlo_name", "an address literal has no zone id ('%...')")
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1]
        if inner[:5].lower() == "ipv6:":
            try:
                return f"[IPv6:{ipaddress.IPv6Address(inner[5:])}]"
            except ValueError:
                pass
        else:
            try:
                return f"[{ipaddress.IPv4Address(inner)}]"
            except ValueError:
                pass
    else:
        # A bare address is written as the RFC 5321 address literal it must be.
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            if is_valid_hostname(text):
                return text.rstrip(".")
        else:
            if address.version == 4:
                return f"[{address}]"
            return f"[IPv6:{address}]"
    raise _err(
        "ehlo_name",
        f"{_show(text)} is not a host name or an address literal "
        "like [192.0.2.1] / [IPv6:2001:db8::1]",
    )


def parse_ehlo_name(value: object) -> str:
    """An EHLO name as a target's ``ehlo_name`` takes it (a host name or an address
    literal), for options that set the default one; ``ConfigError`` otherwise."""
    return _ehlo_name(value)


def _tags(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _err("tags", "must be a map of string keys to string values")
    if len(value) > MAX_TAGS:
        raise _err("tags", f"at most {MAX_TAGS} keys (they become SNS message attributes)")
    tags: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not _TAG_KEY.match(key):
            raise _err(
                "tags",
                f"key {_show(key)} is not allowed: 1-128 of letters, digits, _ - . "
                "(an SNS message attribute name)",
            )
        lower = key.lower()
        if (
            key.startswith(".")
            or key.endswith(".")
            or ".." in key
            or lower.startswith(("aws.", "amazon."))
        ):
            raise _err(
                "tags",
                f"key {_show(key)} is not allowed: no leading/trailing or double '.', "
                "no 'AWS.' or 'Amazon.' prefix",
            )
        if key in RESERVED_TAG_KEYS:
            raise _err("tags", f"key {key!r} is reserved (event, status, target_id)")
        if (isinstance(raw, int | float) or _is_decimal(raw)) and not isinstance(raw, bool):
            # A console user may store a tag as a Number; whole numbers read as digits.
            number = _number("tags", raw)
            if abs(number) >= _PLAIN_LIMIT or number != number.to_integral_value():
                raise _err("tags", f"value of {key!r} must be a string")
            raw = str(int(number))
        if not isinstance(raw, str):
            raise _err("tags", f"value of {key!r} must be a string")
        text = raw.strip()
        if not text:
            raise _err("tags", f"value of {key!r} is empty (SNS refuses empty attributes)")
        if len(text) > 256 or _CONTROL.search(text):
            raise _err("tags", f"value of {key!r} must be one line of at most 256 characters")
        tags[key] = text
    return tags


# ---- the model ---------------------------------------------------------------------


class Target(Record):
    """One monitored SMTP server (docs/design.md#data-model). Construct with keyword arguments:
    ``Target(**fields)`` validates and normalizes every field (see the module doc); an
    unknown keyword is a ``ConfigError`` naming it, with a "did you mean" hint.

    Immutable (``replace(**changes)`` returns a validated copy). A hand-written class,
    not a dataclass: see ``core/record.py`` (``smtpwatch probe`` starts fast).
    """

    # The documented field order: to_item(), repr and TARGET_FIELDS follow it.
    __slots__ = (  # noqa: RUF023
        "target_id",
        "host",
        "name",
        "port",
        "encryption",
        "timeout_s",
        "login",
        "username",
        "password_ref",
        "auth_methods",
        "allow_plaintext_auth",
        "dns_mode",
        "nameservers",
        "dns_hosts",
        "ip_family",
        "tls_verify",
        "ca_bundle",
        "cert_warn_days",
        "warn_ms",
        "ehlo_name",
        "interval_s",
        "enabled",
        "failures_before_alert",
        "recheck_delay_s",
        "notify_recovery",
        "remind_every_s",
        "maintenance",
        "tags",
    )
    target_id: str
    host: str
    name: str
    port: int | None
    encryption: str
    timeout_s: float
    login: bool
    username: str | None
    password_ref: str | None
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
    notify_recovery: bool
    remind_every_s: int
    maintenance: tuple[MaintenanceWindow, ...]
    tags: dict[str, str]

    _DEFAULTS: ClassVar[dict[str, Any]]  # every field's default (normalized form)

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
            notify_recovery: bool = True,
            remind_every_s: int = 0,
            maintenance: tuple[MaintenanceWindow, ...] = (),
            tags: Mapping[str, str] | None = None,
        ) -> None: ...

    else:

        def __init__(self, **fields: Any) -> None:
            unknown = sorted(key for key in fields if key not in _TARGET_FIELD_SET)
            if unknown:
                raise ConfigError(_field_label(unknown[0]), _unknown_message(unknown))
            raw = dict(_DEFAULTS)
            raw.update(fields)
            for key, value in _normalize(raw).items():
                object.__setattr__(self, key, value)

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
                raise ConfigError("target", f"attribute name {_show(key)} is not a string")
            if key in _TARGET_FIELD_SET:
                known[key] = value
            elif key not in _IGNORED_FIELDS:
                unknown.append(key)
        unknown.sort()
        if unknown and strict:
            raise ConfigError(_field_label(unknown[0]), _unknown_message(unknown))
        return cls(**known), unknown

    def to_item(self, *, full: bool = False) -> dict[str, Any]:
        """The user fields, JSON- and DynamoDB-friendly (lists, str, int, bool; a float
        only where a value is not whole). Defaults are left out unless ``full`` —
        ``target_id`` and ``host`` are always present."""
        item: dict[str, Any] = {}
        for name in TARGET_FIELDS:
            value = getattr(self, name)
            if not full and name not in ("target_id", "host"):
                if name == "name" and value == self.host:
                    continue
                if value == _DEFAULTS[name]:
                    continue
            item[name] = _dump(name, value)
        return item

    def describe(self) -> str:
        """``host:port`` as alerts and logs show it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.effective_port}"


def _dump(name: str, value: Any) -> Any:
    if name == "timeout_s":
        return int(value) if float(value).is_integer() else value
    if name == "nameservers":
        return [format_nameserver(ns) for ns in value]
    if name == "dns_hosts":
        return [entry.to_line() for entry in value]
    if name == "maintenance":
        return [window.to_item() for window in value]
    if name == "auth_methods":
        return list(value)
    if name == "tags":
        return dict(value)
    return value


TARGET_FIELDS: tuple[str, ...] = Target.__slots__
_TARGET_FIELD_SET = frozenset(TARGET_FIELDS)
# Every field's default (normalized form); "tags" gets a fresh dict per target.
_DEFAULTS: dict[str, Any] = {
    "target_id": "",
    "host": "",
    "name": "",
    "port": None,
    "encryption": "explicit",
    "timeout_s": 120.0,
    "login": False,
    "username": None,
    "password_ref": None,
    "auth_methods": DEFAULT_AUTH_METHODS,
    "allow_plaintext_auth": False,
    "dns_mode": "device_cached",
    "nameservers": (),
    "dns_hosts": (),
    "ip_family": "any",
    "tls_verify": True,
    "ca_bundle": None,
    "cert_warn_days": 14,
    "warn_ms": None,
    "ehlo_name": None,
    "interval_s": 300,
    "enabled": True,
    "failures_before_alert": 1,
    "recheck_delay_s": 10,
    "notify_recovery": True,
    "remind_every_s": 0,
    "maintenance": (),
    "tags": {},
}
Target._DEFAULTS = _DEFAULTS

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
    return _show(name, 60) if name else "target"


def _unknown_message(unknown: list[str]) -> str:
    import difflib  # ~1.7 ms with heapq: only for a "did you mean" hint

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


def _maintenance(value: Any) -> tuple[MaintenanceWindow, ...]:
    # Imported on first use: most targets (and `smtpwatch probe`) have no windows.
    from smtpwatch.core.maintenance import parse_maintenance

    return parse_maintenance(value)


def _normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """Every field validated and normalized, then the rules between fields."""
    v: dict[str, Any] = {}
    defaults = _DEFAULTS
    for name in TARGET_FIELDS:
        value = raw[name]
        if name in ("target_id", "host"):
            v[name] = _NORMALIZERS[name](value)
            continue
        default = defaults[name]
        # Fast path: most fields of most items are absent, i.e. already the default (the
        # dispatcher builds every target on every tick).
        if (value is default or (type(value) is type(default) and value == default)) or (
            _is_empty(value)
        ):
            # tags: a fresh dict per target, never the shared default.
            v[name] = {} if name == "tags" else default
            continue
        v[name] = _NORMALIZERS[name](value)
    if not v["name"]:
        v["name"] = v["host"]
    _check_rules(v)
    return v


def _check_rules(v: dict[str, Any]) -> None:
    if v["login"]:
        if not v["username"]:
            raise _err("username", "is required when login is true")
        if not v["password_ref"]:
            raise _err(
                "password_ref",
                "is required when login is true "
                "(ssm:/path, secretsmanager:name, env:VAR or file:ID)",
            )
        if v["encryption"] == "none" and not v["allow_plaintext_auth"]:
            raise _err(
                "allow_plaintext_auth",
                "encryption 'none' with login would send the password unencrypted; use "
                "explicit, implicit or auto, or set allow_plaintext_auth: true to allow it",
            )
    if v["dns_mode"] == "external" and not v["nameservers"]:
        raise _err(
            "nameservers", "dns_mode 'external' needs at least one nameserver (IP or [IP]:PORT)"
        )
    if v["nameservers"] and v["dns_mode"] != "external":
        # Kept but never asked, they would look configured while the probe uses another
        # resolver.
        raise _err("nameservers", f"only used with dns_mode external (dns_mode is {v['dns_mode']})")
    if is_ip_literal(v["host"]) and v["ip_family"] != "any":
        version = ipaddress.ip_address(v["host"]).version
        if f"ipv{version}" != v["ip_family"]:
            raise _err(
                "ip_family",
                f"is {v['ip_family']} but host {v['host']} is an IPv{version} address",
            )


def _remind_every(value: object) -> int:
    seconds = _int("remind_every_s", value, 0, 30 * 86400, "0 (never) or 60 to 2592000")
    if 0 < seconds < 60:
        raise _err("remind_every_s", f"{seconds} is too short; allowed: 0 (never) or 60 to 2592000")
    return seconds


_NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "target_id": _target_id,
    "host": _host,
    "name": lambda x: _text("name", x, 200),
    "port": lambda x: (
        parse_port(x) if isinstance(x, str) else _int("port", x, 1, 65535, "a port number 1-65535")
    ),
    "encryption": lambda x: _choice("encryption", x, ENCRYPTIONS, _ENCRYPTION_ALIASES),
    "timeout_s": lambda x: _float("timeout_s", x, 1, 300),
    "login": lambda x: _bool("login", x),
    "username": lambda x: _text("username", x, 256),
    "password_ref": _password_ref,
    "auth_methods": _auth_methods,
    "allow_plaintext_auth": lambda x: _bool("allow_plaintext_auth", x),
    "dns_mode": lambda x: _choice("dns_mode", x, DNS_MODES, {}),
    "nameservers": _nameservers,
    "dns_hosts": _dns_hosts,
    "ip_family": lambda x: _choice("ip_family", x, IP_FAMILIES, {"ip4": "ipv4", "ip6": "ipv6"}),
    "tls_verify": lambda x: _bool("tls_verify", x),
    "ca_bundle": _ca_bundle,
    "cert_warn_days": lambda x: _int("cert_warn_days", x, 0, 3650),
    # 0 is "off" like an empty value; otherwise up to the largest timeout.
    "warn_ms": lambda x: _int("warn_ms", x, 0, 300_000, "off (empty or 0) or 1 to 300000") or None,
    "ehlo_name": _ehlo_name,
    "interval_s": lambda x: _int("interval_s", x, MIN_INTERVAL_LOCAL, MAX_INTERVAL),
    "enabled": lambda x: _bool("enabled", x),
    "failures_before_alert": lambda x: _int("failures_before_alert", x, 1, 100),
    "recheck_delay_s": lambda x: _int("recheck_delay_s", x, 0, 120, "0 (off) to 120"),
    "notify_recovery": lambda x: _bool("notify_recovery", x),
    "remind_every_s": _remind_every,
    "maintenance": _maintenance,
    "tags": _tags,
}


def check_aws_limits(target: Target) -> None:
    """The extra limits of the serverless deployment (the dispatcher ticks once a
    minute; a Lambda function has neither the local secret store nor per-target
    environment variables)."""
    if target.interval_s < MIN_INTERVAL_AWS:
        raise _err(
            "interval_s",
            f"{target.interval_s} is too short on AWS (the dispatcher runs once a minute); "
            f"allowed: {MIN_INTERVAL_AWS} to {MAX_INTERVAL}",
        )
    ref = target.password_ref or ""
    if ref.startswith(("file:", "env:")):
        raise _err(
            "password_ref",
            f"{ref.split(':', 1)[0]}: references work only locally; on AWS use ssm:/path "
            "or secretsmanager:name",
        )
