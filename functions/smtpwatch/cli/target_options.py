"""The command-line options of `smtpwatch targets add|update` for Target fields.

One option per field of the Target field table, in its order, with its help text; only
flags, metavar and the few help texts that name other options are written here.
``field_values`` and ``set_values`` turn the options into raw values for ``Target``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smtpwatch.cli.main import UsageError
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target_fields import FIELDS, FieldSpec

__all__ = [
    "FIELD_OPTIONS",
    "FieldOption",
    "add_field_options",
    "add_password_options",
    "field_values",
    "set_values",
]


@dataclass(frozen=True, slots=True)
class FieldOption:
    """How one Target field is given on the command line."""

    field: str
    flags: tuple[str, ...]
    kind: str  # value | bool | append | tags | json | file
    metavar: str = ""
    help: str = ""


@dataclass(frozen=True, slots=True)
class _Cli:
    """What the command line adds to a field: the metavar (default: the field's name in
    capitals), the flags (default ``--field-name``), the option's kind (default: bool for
    a bool field, else one value) and, where the field's own help does not fit an
    option, the option's help."""

    metavar: str = ""
    flags: tuple[str, ...] = ()
    kind: str = ""
    help: str = ""


# Only what differs from those defaults; a field not named here gets them all.
_CLI: dict[str, _Cli] = {
    "name": _Cli("TEXT"),
    "port": _Cli("N", ("-p", "--port")),
    "encryption": _Cli("MODE"),
    "timeout_s": _Cli("SECONDS", ("-t", "--timeout", "--timeout-s")),
    "login": _Cli(help="log in (needs --username and a password)"),
    "username": _Cli("NAME", ("--username", "--user")),
    "password_ref": _Cli("REF"),
    "token_ref": _Cli(
        "REF",
        help="OAuth 2.0 token source instead of a password: the secret (ssm:, "
        "secretsmanager:, env:, file:) holding its JSON document",
    ),
    "auth_methods": _Cli("LIST"),
    "dns_mode": _Cli("MODE"),
    "nameservers": _Cli(
        "IP[:PORT]",
        ("--nameserver",),
        "append",
        "nameserver to ask (repeatable); implies --dns-mode external",
    ),
    "dns_hosts": _Cli(
        '"IP NAME [NAME…]"', ("--dns-host",), "append", "hosts-file line (repeatable)"
    ),
    "ip_family": _Cli("FAMILY", help="any (default), ipv4 (also -4), ipv6 (also -6)"),
    "ca_bundle": _Cli("FILE", kind="file", help="PEM file of trusted CAs"),
    "cert_warn_days": _Cli("DAYS"),
    "warn_ms": _Cli("MS"),
    "ehlo_name": _Cli("NAME"),
    "interval_s": _Cli("SECONDS", ("--interval", "--interval-s")),
    "failures_before_alert": _Cli("N"),
    "recheck_delay_s": _Cli("SECONDS", ("--recheck-delay", "--recheck-delay-s")),
    "locations": _Cli("LIST"),
    "quorum": _Cli("N"),
    "remind_every_s": _Cli("SECONDS", ("--remind-every", "--remind-every-s")),
    "maintenance": _Cli(
        "JSON",
        kind="json",
        help='window {"start": ISO, "end": ISO} or {"days": "sat,sun", "start": "02:00", '
        '"end": "04:00", "tz": "Europe/Berlin"} (repeatable)',
    ),
    "tags": _Cli("KEY=VALUE", ("--tag",), "tags", "tag (repeatable; on update KEY= drops it)"),
}


def _option(spec: FieldSpec, cli: _Cli) -> FieldOption:
    kind = cli.kind or ("bool" if spec.kind == "bool" else "value")
    return FieldOption(
        spec.name,
        cli.flags or ("--" + spec.name.replace("_", "-"),),
        kind,
        "" if kind == "bool" else cli.metavar or spec.name.upper(),
        cli.help or spec.help,
    )


# Every field but the required ones (TARGET_ID and HOST[:PORT] are arguments).
FIELD_OPTIONS: tuple[FieldOption, ...] = tuple(
    _option(spec, _CLI.get(spec.name, _Cli())) for spec in FIELDS if not spec.required
)
_BY_FIELD = {opt.field: opt for opt in FIELD_OPTIONS}
_KIND = {spec.name: spec.kind for spec in FIELDS}

_BOOL_WORDS = {
    "true": "true", "yes": "true", "on": "true", "1": "true",
    "false": "false", "no": "false", "off": "false", "0": "false",
}  # fmt: skip
# Fields whose --set value may be a JSON list or map.
_STRUCTURED = frozenset(name for name, kind in _KIND.items() if kind in ("list", "map"))
_DEST = "field__"


def add_field_options(parser: argparse.ArgumentParser, *, update: bool) -> None:
    group = parser.add_argument_group(
        "target fields (--set FIELD=VALUE for any; empty means the default)"
    )
    if update:
        group.add_argument(
            "--host", dest=_DEST + "host", metavar="HOST[:PORT]", default=argparse.SUPPRESS,
            help="new host (and port)",
        )  # fmt: skip
    for opt in FIELD_OPTIONS:
        kwargs: dict[str, Any] = {"dest": _DEST + opt.field, "default": argparse.SUPPRESS}
        if opt.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif opt.kind in ("append", "tags", "json"):
            kwargs["action"] = "append"
        if opt.metavar:
            kwargs["metavar"] = opt.metavar
        if opt.field == "ip_family":
            _add_ip_family(group, opt, kwargs)
            continue
        group.add_argument(*opt.flags, help=opt.help, **kwargs)
    group.add_argument(
        "--set",
        dest="set_values",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set any field (JSON for lists/maps; empty value = default)",
    )
    if update:
        group.add_argument(
            "--unset", dest="unset", action="append", default=[], metavar="FIELD",
            help="back to the default",
        )  # fmt: skip


def _add_ip_family(group: Any, opt: FieldOption, kwargs: dict[str, Any]) -> None:
    """``--ip-family FAMILY`` and its short forms ``-4``/``-6``, as `probe` has them."""
    family = group.add_mutually_exclusive_group()
    family.add_argument(*opt.flags, help=opt.help, **kwargs)
    for flag, value in (("-4", "ipv4"), ("-6", "ipv6")):
        family.add_argument(
            flag, f"--use-{value}", dest=kwargs["dest"], action="store_const", const=value,
            default=argparse.SUPPRESS, help=f"--ip-family {value}",
        )  # fmt: skip
    # -4/-6 make argparse read a negative number as an option ("--cert-warn-days -1"
    # would be "expected one argument"): numbers are values again (the list is the
    # parser's), and the model names the option and its range.
    group._has_negative_number_optionals.clear()


def add_password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "password (stored as a secret bound to the host; the target keeps only the reference)"
    )
    how = group.add_mutually_exclusive_group()
    how.add_argument("--password-prompt", action="store_true", help="ask for the password")
    how.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
    how.add_argument(
        "--token-file",
        metavar="PATH",
        help="store the OAuth 2.0 token source document in PATH (mode 600; its hosts name "
        "the target's host) as the target's secret: sets token_ref",
    )
    group.add_argument(
        "--secret-store",
        choices=("ssm", "secretsmanager"),
        default="ssm",
        help="on AWS: SSM SecureString (default, no charge) or Secrets Manager",
    )
    group.add_argument(
        "--secrets-prefix",
        metavar="PREFIX",
        help="on AWS: where secrets go (default: the stack's SecretsPrefix, else /smtpwatch/)",
    )


def field_values(args: argparse.Namespace) -> dict[str, Any]:
    """The fields given as options, as raw values for ``Target``."""
    values: dict[str, Any] = {}
    for key, value in vars(args).items():
        if not key.startswith(_DEST):
            continue
        name = key[len(_DEST) :]
        opt = _BY_FIELD.get(name)
        if opt is None:
            values[name] = value
        elif opt.kind == "file":
            values[name] = _read_text_file(value, opt.flags[0])
        elif opt.kind == "json":
            windows: list[Any] = []
            for text in value:
                parsed = _json_value(name, text)
                windows.extend(parsed if isinstance(parsed, list) else [parsed])
            values[name] = windows
        elif opt.kind == "tags":
            values[name] = dict(_tag_pair(text) for text in value)
        else:
            values[name] = value
    return values


def _read_text_file(path: str, option: str) -> str:
    """A ``--ca-bundle`` file: a regular file of at most 1 MiB, read with that bound."""
    from smtpwatch.cli.file_input import MAX_CA_BUNDLE_BYTES, read_bounded

    data = read_bounded(path, limit=MAX_CA_BUNDLE_BYTES, label=option, regular_only=True)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{option}: {path} is not a UTF-8 text file") from None


def _json_value(field: str, text: str) -> Any:
    """A JSON option value through the same bounded reader as import files."""
    from smtpwatch.cli.documents import DocumentError, load_document

    try:
        return load_document(text, "json")
    except json.JSONDecodeError as exc:
        raise ConfigError(field, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except DocumentError as exc:
        raise ConfigError(field, exc.describe(items=False)) from None


def _tag_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("tags", f"{text!r}: expected KEY=VALUE")
    return key.strip(), value.strip()


def set_values(pairs: Sequence[str]) -> dict[str, Any]:
    """``--set FIELD=VALUE``: strings as the model reads them; JSON for lists and maps."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--set {pair!r}: expected FIELD=VALUE (e.g. --set timeout_s=30)")
        value: Any = text
        stripped = text.strip()
        if not stripped:
            value = None  # empty means the default, as in a stored item
        elif name in _STRUCTURED and stripped[:1] in "[{":
            value = _json_value(name, stripped)
        elif name == "tags":
            value = dict(_tag_pair(p) for p in stripped.split(",") if p.strip())
        elif name == "dns_hosts":
            value = [line for line in stripped.replace(";", "\n").splitlines() if line.strip()]
        elif name == "maintenance":
            value = _json_value(name, stripped)
        elif stripped.lower() in _BOOL_WORDS and _KIND.get(name) == "bool":
            value = _BOOL_WORDS[stripped.lower()]
        values[name] = value
    return values
