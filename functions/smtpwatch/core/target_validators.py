"""Per-field validators of a target, and the values and limits they allow.

Each ``validate_<field>(value)`` returns the field's normalised value or raises
``ConfigError(field, message)`` naming what is allowed. The target's field table
(``core/target_fields.py``) pairs them with the fields. Stdlib only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from smtpwatch.core.coerce import (
    CONTROL,
    PLAIN_LIMIT,
    is_decimal,
    is_empty,
    show,
    string_list,
    to_int,
    to_number,
    to_text,
)
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.parsing import (
    HostsEntry,
    Nameserver,
    is_valid_hostname,
    normalize_host,
    parse_hosts_text,
    parse_nameserver,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from typing import Any

    from smtpwatch.core.maintenance import MaintenanceWindow

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_AUTH_METHODS",
    "DEFAULT_PORTS",
    "DNS_MODES",
    "ENCRYPTIONS",
    "ENCRYPTION_ALIASES",
    "IP_FAMILIES",
    "IP_FAMILY_ALIASES",
    "MAX_INTERVAL",
    "MAX_LOCATIONS",
    "MAX_STORED_TAGS",
    "MAX_TAGS",
    "MIN_INTERVAL_AWS",
    "MIN_INTERVAL_LOCAL",
    "OAUTH_METHODS",
    "validate_auth_methods",
    "validate_ca_bundle",
    "validate_dns_hosts",
    "validate_ehlo_name",
    "validate_host",
    "validate_locations",
    "validate_maintenance",
    "validate_nameservers",
    "validate_password_ref",
    "validate_remind_every",
    "validate_tags",
    "validate_target_id",
    "validate_token_ref",
]

ENCRYPTIONS = ("explicit", "implicit", "none", "auto")
DEFAULT_PORTS = {"explicit": 587, "implicit": 465, "none": 25, "auto": 25}
ENCRYPTION_ALIASES = {"starttls": "explicit", "smtps": "implicit", "ssl": "implicit"}
DNS_MODES = ("device_cached", "non_cached", "ttl_cached", "external")
IP_FAMILIES = ("any", "ipv4", "ipv6")
IP_FAMILY_ALIASES = {"ip4": "ipv4", "ip6": "ipv6"}
AUTH_METHODS = ("CRAM-MD5", "LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER", "SIMPLE")
DEFAULT_AUTH_METHODS = ("CRAM-MD5", "LOGIN", "PLAIN")
# The mechanisms that send an OAuth 2.0 access token (token_ref), and their default.
OAUTH_METHODS = ("XOAUTH2", "OAUTHBEARER")
# The spec's "SSL/TLS" entry is the STARTTLS fallback, which is always on.
_AUTH_DROPPED = frozenset({"SSL/TLS", "SSL", "TLS", "STARTTLS"})

MIN_INTERVAL_LOCAL = 10
# The dispatcher runs once a minute; a shorter interval cannot be honoured on AWS.
MIN_INTERVAL_AWS = 60
MAX_INTERVAL = 7 * 24 * 3600
# SNS allows 10 message attributes; event, status, target_id and locations_failed take 4.
MAX_TAGS = 6
# Before locations_failed, a target could have 7: a stored one still loads (its last tag
# is no message attribute), but no input gives more than MAX_TAGS.
MAX_STORED_TAGS = 7
MAX_LOCATIONS = 16  # as core.result.limits.MAX_LOCATIONS: a verdict keeps 16 votes
MAX_LOCATION_NAME = 64  # as a result's location (--location, SMTPWATCH_LOCATION)
MAX_NAMESERVERS = 10
MAX_DNS_HOSTS = 200
MAX_CA_BUNDLE = 300_000  # characters; a DynamoDB item holds 400 KB in all
RESERVED_TAG_KEYS = frozenset({"event", "status", "target_id", "locations_failed"})
_STORED_RESERVED = frozenset({"event", "status", "target_id"})  # before locations_failed

_TARGET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")
# The patterns below are kept as text: ``re`` compiles (and caches) one the first time a
# field that needs it is validated, so ``smtpwatch probe``, which seldom has tags, a CA
# bundle or a password reference, does not compile them at every start.
_TAG_KEY = r"^[A-Za-z0-9_.-]{1,128}\Z"
# A CA bundle is lines of text: tabs and line breaks are its own.
_PEM_CONTROL = (
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    r"\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
_PEM_CERT = r"-----BEGIN CERTIFICATE-----\s*[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----"
_PASSWORD_REF = {
    "ssm": (r"^[A-Za-z0-9_.\-/]{1,2048}\Z", "ssm:/path/to/parameter"),
    "secretsmanager": (r"^[A-Za-z0-9/_+=.@:\-]{1,2048}\Z", "secretsmanager:name"),
    "env": (r"^[A-Za-z_][A-Za-z0-9_]{0,254}\Z", "env:VARIABLE"),
    "file": (r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z", "file:ID"),
}


def validate_target_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("target_id", "is required (letters, digits and . _ : @ -)")
    text = value.strip()
    if not _TARGET_ID.match(text):
        raise ConfigError(
            "target_id",
            f"{show(text)} is not allowed: start with a letter or digit, then up to 127 of "
            "letters, digits and . _ : @ -",
        )
    return text


def validate_host(value: object) -> str:
    if is_empty(value):
        raise ConfigError("host", "is required (a host name or an IP address)")
    return normalize_host(value, field="host")


def validate_auth_methods(value: object) -> tuple[str, ...]:
    if isinstance(value, str | list | tuple | set | frozenset):
        items = string_list("auth_methods", value, split=r"[\s,;]+")
    else:
        raise ConfigError("auth_methods", "must be a list such as ['CRAM-MD5', 'LOGIN', 'PLAIN']")
    methods: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError("auth_methods", f"{show(item)} is not a method name")
        text = item.strip().upper().replace("_", "-")
        if not text:
            continue
        if text in _AUTH_DROPPED:
            continue
        if text not in AUTH_METHODS:
            raise ConfigError(
                "auth_methods",
                f"{show(item)} is not supported; choose from {', '.join(AUTH_METHODS)}",
            )
        if text not in methods:
            methods.append(text)
    if not methods:
        raise ConfigError(
            "auth_methods", f"names no usable method; choose from {', '.join(AUTH_METHODS)}"
        )
    return tuple(methods)


def validate_password_ref(value: object) -> str:
    return _validate_ref("password_ref", "password", value)


def validate_token_ref(value: object) -> str:
    """Where the token source's secret document is (the provider's endpoint, client id
    and client secret live in it, never in the target)."""
    return _validate_ref("token_ref", "secret", value)


def _validate_ref(field: str, what: str, value: object) -> str:
    allowed = "ssm:/path, secretsmanager:name, env:VAR or file:ID"
    if not isinstance(value, str):
        raise ConfigError(field, f"must be a reference ({allowed}), never the {what}")
    text = value.strip()
    kind, sep, rest = text.partition(":")
    entry = _PASSWORD_REF.get(kind.lower()) if sep else None
    if entry is None:
        # Never echo the value: someone may have typed the password itself here.
        raise ConfigError(
            field, f"must be a reference: {allowed} (the {what} itself does not go here)"
        )
    pattern, example = entry
    if not re.match(pattern, rest):
        raise ConfigError(field, f"malformed {kind.lower()} reference; expected {example}")
    return f"{kind.lower()}:{rest}"


def validate_nameservers(value: object) -> tuple[Nameserver, ...]:
    if isinstance(value, Nameserver):
        value = [value]
    items = string_list("nameservers", value, split=r"[\s,;]+")
    if len(items) > MAX_NAMESERVERS:
        raise ConfigError("nameservers", f"at most {MAX_NAMESERVERS} entries")
    result: list[Nameserver] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        ns = parse_nameserver(item, field="nameservers")
        if ns not in result:
            result.append(ns)
    return tuple(result)


def validate_dns_hosts(value: object) -> tuple[HostsEntry, ...]:
    if isinstance(value, HostsEntry):
        value = [value]
    if isinstance(value, set | frozenset):
        value = sorted(value, key=str)
    entries = parse_hosts_text(value, field="dns_hosts")
    if len(entries) > MAX_DNS_HOSTS:
        raise ConfigError("dns_hosts", f"at most {MAX_DNS_HOSTS} lines")
    return entries


def validate_ca_bundle(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError("ca_bundle", "must be PEM text (-----BEGIN CERTIFICATE----- ...)")
    if len(value) > MAX_CA_BUNDLE:
        raise ConfigError("ca_bundle", f"is too long (at most {MAX_CA_BUNDLE} characters)")
    if "PRIVATE KEY-----" in value:
        raise ConfigError("ca_bundle", "contains a private key; give only CA certificates")
    if re.search(_PEM_CONTROL, value):
        raise ConfigError("ca_bundle", "must not contain control characters (PEM is lines of text)")
    if not re.search(_PEM_CERT, value):
        raise ConfigError(
            "ca_bundle",
            "must be PEM text with at least one -----BEGIN CERTIFICATE----- block "
            "(the file's content, not its path)",
        )
    return value.strip() + "\n"


def validate_ehlo_name(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError("ehlo_name", "must be a host name or an address literal like [192.0.2.1]")
    text = value.strip()
    if len(text) > 255:
        raise ConfigError("ehlo_name", "is too long")
    if "%" in text:  # a zone id is local to this machine: no EHLO address literal has one
        raise ConfigError("ehlo_name", "an address literal has no zone id ('%...')")
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
    raise ConfigError(
        "ehlo_name",
        f"{show(text)} is not a host name or an address literal "
        "like [192.0.2.1] / [IPv6:2001:db8::1]",
    )


def validate_tags(value: object, *, stored: bool = False) -> dict[str, str]:
    """``stored``: a stored item's tags, which may still have what an earlier version
    allowed (7 keys, one named locations_failed)."""
    if not isinstance(value, Mapping):
        raise ConfigError("tags", "must be a map of string keys to string values")
    limit, reserved = (MAX_STORED_TAGS, _STORED_RESERVED) if stored else (MAX_TAGS, None)
    if len(value) > limit:
        raise ConfigError("tags", f"at most {MAX_TAGS} keys (they become SNS message attributes)")
    tags: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not re.match(_TAG_KEY, key):
            raise ConfigError(
                "tags",
                f"key {show(key)} is not allowed: 1-128 of letters, digits, _ - . "
                "(an SNS message attribute name)",
            )
        lower = key.lower()
        if (
            key.startswith(".")
            or key.endswith(".")
            or ".." in key
            or lower.startswith(("aws.", "amazon."))
        ):
            raise ConfigError(
                "tags",
                f"key {show(key)} is not allowed: no leading/trailing or double '.', "
                "no 'AWS.' or 'Amazon.' prefix",
            )
        if key in (reserved or RESERVED_TAG_KEYS):
            raise ConfigError(
                "tags", f"key {key!r} is reserved (event, status, target_id, locations_failed)"
            )
        if (isinstance(raw, int | float) or is_decimal(raw)) and not isinstance(raw, bool):
            # A console user may store a tag as a Number; whole numbers read as digits.
            number = to_number("tags", raw)
            if abs(number) >= PLAIN_LIMIT or number != number.to_integral_value():
                raise ConfigError("tags", f"value of {key!r} must be a string")
            raw = str(int(number))
        if not isinstance(raw, str):
            raise ConfigError("tags", f"value of {key!r} must be a string")
        text = raw.strip()
        if not text:
            raise ConfigError("tags", f"value of {key!r} is empty (SNS refuses empty attributes)")
        if len(text) > 256 or CONTROL.search(text):
            raise ConfigError(
                "tags", f"value of {key!r} must be one line of at most 256 characters"
            )
        tags[key] = text
    return tags


def validate_locations(value: object) -> tuple[str, ...]:
    """Location names (a region on AWS), each named once, at most ``MAX_LOCATIONS``; a
    string is split on commas. Empty: every deployed location."""
    items = string_list("locations", value, split=r",")
    if len(items) > MAX_LOCATIONS:
        raise ConfigError("locations", f"at most {MAX_LOCATIONS} locations ({len(items)} given)")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError("locations", f"{show(item)} is not a location name")
        name = to_text("locations", item, MAX_LOCATION_NAME)
        if not name:
            raise ConfigError("locations", "a location name must not be empty")
        if name in names:
            raise ConfigError("locations", f"{show(name)} is named twice")
        names.append(name)
    return tuple(names)


def validate_remind_every(value: object) -> int:
    seconds = to_int("remind_every_s", value, 0, 30 * 86400, "0 (never) or 60 to 2592000")
    if 0 < seconds < 60:
        raise ConfigError(
            "remind_every_s", f"{seconds} is too short; allowed: 0 (never) or 60 to 2592000"
        )
    return seconds


def validate_maintenance(value: Any) -> tuple[MaintenanceWindow, ...]:
    # Imported on first use: most targets (and `smtpwatch probe`) have no windows.
    from smtpwatch.core.maintenance import parse_maintenance

    return parse_maintenance(value)
