"""The field table of ``Target``: every field once, in the documented order.

Each ``FieldSpec`` gives a field's name, its default (normalised form), its normaliser
(raw value → normalised value, or ``ConfigError`` naming the field), its kind, a
one-line help text, whether it is required and how it is stored. ``Target``'s slots,
defaults, normalisers and item form, and the CLI's field options, derive from ``FIELDS``.
"""

from __future__ import annotations

from types import MappingProxyType

from smtpwatch.core.coerce import to_bool, to_choice, to_float, to_int, to_text
from smtpwatch.core.parsing import HostsEntry, Nameserver, format_nameserver, parse_port
from smtpwatch.core.record import Record
from smtpwatch.core.target_validators import (
    DEFAULT_AUTH_METHODS,
    DNS_MODES,
    ENCRYPTION_ALIASES,
    ENCRYPTIONS,
    IP_FAMILIES,
    IP_FAMILY_ALIASES,
    MAX_INTERVAL,
    MAX_LOCATIONS,
    MIN_INTERVAL_LOCAL,
    validate_auth_methods,
    validate_ca_bundle,
    validate_dns_hosts,
    validate_ehlo_name,
    validate_host,
    validate_locations,
    validate_maintenance,
    validate_nameservers,
    validate_password_ref,
    validate_remind_every,
    validate_tags,
    validate_target_id,
    validate_token_ref,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from smtpwatch.core.maintenance import MaintenanceWindow

__all__ = ["DEFAULTS", "FIELDS", "FIELD_NAMES", "KINDS", "FieldSpec"]

# What a field holds, for readers that need more than the default's type (the CLI
# parses "list" and "map" values as JSON, "bool" values from yes/no words).
KINDS = ("text", "int", "float", "bool", "choice", "list", "map")


class FieldSpec(Record):
    """One field of ``Target``."""

    # Record: the slots are the constructor's order.
    __slots__ = ("name", "default", "normalize", "kind", "help", "required", "dump")  # noqa: RUF023
    name: str
    default: Any
    normalize: Callable[[Any], Any]
    kind: str
    help: str
    required: bool
    # normalised value → its item form (JSON and DynamoDB types); None: the value as is
    dump: Callable[[Any], Any] | None

    def __init__(
        self,
        name: str,
        default: Any,
        normalize: Callable[[Any], Any],
        kind: str,
        help: str,
        *,
        required: bool = False,
        dump: Callable[[Any], Any] | None = None,
    ) -> None:
        # Missing, None and "" mean the default for every field but a required one,
        # whose normaliser always runs (and says "is required").
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "normalize", normalize)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "help", help)
        object.__setattr__(self, "required", required)
        object.__setattr__(self, "dump", dump)


def _port(value: object) -> int:
    if isinstance(value, str):
        return parse_port(value)
    return to_int("port", value, 1, 65535, "a port number 1-65535")


def _warn_ms(value: object) -> int | None:
    # 0 is "off" like an empty value; otherwise up to the largest timeout.
    return to_int("warn_ms", value, 0, 300_000, "off (empty or 0) or 1 to 300000") or None


def _dump_seconds(value: float) -> float | int:
    # A whole number of seconds is stored as an int (120, not 120.0).
    return int(value) if float(value).is_integer() else value


def _dump_nameservers(value: tuple[Nameserver, ...]) -> list[str]:
    return [format_nameserver(ns) for ns in value]


def _dump_hosts(value: tuple[HostsEntry, ...]) -> list[str]:
    return [entry.to_line() for entry in value]


def _dump_windows(value: tuple[MaintenanceWindow, ...]) -> list[dict[str, Any]]:
    return [window.to_item() for window in value]


def _bool(name: str) -> Callable[[Any], bool]:
    return lambda value: to_bool(name, value)


def _int(name: str, low: int, high: int, what: str = "") -> Callable[[Any], int]:
    return lambda value: to_int(name, value, low, high, what)


def _text(name: str, limit: int) -> Callable[[Any], str]:
    return lambda value: to_text(name, value, limit)


def _choice(
    name: str, choices: tuple[str, ...], aliases: Mapping[str, str]
) -> Callable[[Any], str]:
    return lambda value: to_choice(name, value, choices, aliases)


F = FieldSpec
FIELDS: tuple[FieldSpec, ...] = (
    F(
        "target_id",
        "",
        validate_target_id,
        "text",
        "the target's id: letters, digits and . _ : @ -",
        required=True,
    ),
    F(
        "host",
        "",
        validate_host,
        "text",
        "host name or IP address of the SMTP server",
        required=True,
    ),
    F("name", "", _text("name", 200), "text", "display name (default: the host)"),
    F("port", None, _port, "int", "port (default: by encryption 587/465/25)"),
    F(
        "encryption",
        "explicit",
        _choice("encryption", ENCRYPTIONS, ENCRYPTION_ALIASES),
        "choice",
        "explicit (default), implicit, none, auto",
    ),
    F(
        "timeout_s",
        120.0,
        lambda value: to_float("timeout_s", value, 1, 300),
        "float",
        "overall deadline, 1-300 (120)",
        dump=_dump_seconds,
    ),
    F("login", False, _bool("login"), "bool", "log in (needs a username and a password_ref)"),
    F("username", None, _text("username", 256), "text", "login name"),
    F(
        "password_ref",
        None,
        validate_password_ref,
        "text",
        "where the password is: ssm:/path, secretsmanager:name, env:VAR, file:ID",
    ),
    F(
        "token_ref",
        None,
        validate_token_ref,
        "text",
        "OAuth 2.0 token source (instead of password_ref): ssm:, secretsmanager:, env:, file:",
    ),
    F(
        "auth_methods",
        DEFAULT_AUTH_METHODS,
        validate_auth_methods,
        "list",
        "e.g. CRAM-MD5,LOGIN,PLAIN (order; XOAUTH2,OAUTHBEARER with token_ref)",
        dump=list,
    ),
    F(
        "allow_plaintext_auth",
        False,
        _bool("allow_plaintext_auth"),
        "bool",
        "allow AUTH without TLS",
    ),
    F(
        "dns_mode",
        "device_cached",
        _choice("dns_mode", DNS_MODES, {}),
        "choice",
        "device_cached, non_cached, ttl_cached, external",
    ),
    F(
        "nameservers",
        (),
        validate_nameservers,
        "list",
        "nameservers to ask (IP, IP:PORT or [IPv6]:PORT); only with dns_mode external",
        dump=_dump_nameservers,
    ),
    F(
        "dns_hosts",
        (),
        validate_dns_hosts,
        "list",
        'hosts-file lines "IP NAME [NAME…]"',
        dump=_dump_hosts,
    ),
    F(
        "ip_family",
        "any",
        _choice("ip_family", IP_FAMILIES, IP_FAMILY_ALIASES),
        "choice",
        "any (default), ipv4, ipv6",
    ),
    F("tls_verify", True, _bool("tls_verify"), "bool", "verify the certificate (default)"),
    F("ca_bundle", None, validate_ca_bundle, "text", "PEM text of trusted CAs"),
    F(
        "cert_warn_days",
        14,
        _int("cert_warn_days", 0, 3650),
        "int",
        "warn days before expiry (14)",
    ),
    F("warn_ms", None, _warn_ms, "int", "warning when slower (default off)"),
    F("ehlo_name", None, validate_ehlo_name, "text", "name sent in EHLO"),
    F(
        "interval_s",
        300,
        _int("interval_s", MIN_INTERVAL_LOCAL, MAX_INTERVAL),
        "int",
        "seconds between checks (300)",
    ),
    F("enabled", True, _bool("enabled"), "bool", "probe this target (default)"),
    F(
        "failures_before_alert",
        1,
        _int("failures_before_alert", 1, 100),
        "int",
        "failed runs before DOWN (1)",
    ),
    F(
        "recheck_delay_s",
        10,
        _int("recheck_delay_s", 0, 120, "0 (off) to 120"),
        "int",
        "re-check delay, 0 = off (10)",
    ),
    F(
        "locations",
        (),
        validate_locations,
        "list",
        "where to check from (AWS regions), comma-separated (default: every deployed one)",
        dump=list,
    ),
    F(
        "quorum",
        0,
        _int("quorum", 0, MAX_LOCATIONS, f"0 (a majority) or 1 to {MAX_LOCATIONS}"),
        "int",
        "failing locations that make it down, 0 = a majority (0)",
    ),
    F(
        "alert_on_partial",
        False,
        _bool("alert_on_partial"),
        "bool",
        "warn when some locations fail, fewer than the quorum",
    ),
    F(
        "notify_recovery",
        True,
        _bool("notify_recovery"),
        "bool",
        "send recovery alerts (default)",
    ),
    F("remind_every_s", 0, validate_remind_every, "int", "reminder period, 0 = never"),
    F(
        "maintenance",
        (),
        validate_maintenance,
        "list",
        'windows: {"start": ISO, "end": ISO} or {"days": "sat,sun", "start": "02:00", '
        '"end": "04:00", "tz": "Europe/Berlin"}',
        dump=_dump_windows,
    ),
    # The default is shared: Target gives every target a fresh dict of its own.
    F(
        "tags",
        {},
        validate_tags,
        "map",
        "tags KEY=VALUE, sent as SNS message attributes",
        dump=dict,
    ),
)
del F

FIELD_NAMES: tuple[str, ...] = tuple(spec.name for spec in FIELDS)
# Every field's default in its normalised form, read-only.
DEFAULTS: Mapping[str, Any] = MappingProxyType({spec.name: spec.default for spec in FIELDS})
