"""`smtpwatch targets add|list|show|update|remove|enable|disable|import|export`.

The local SQLite store by default; ``--stack NAME`` (table names from the stack's
outputs) or ``--table NAME`` for the deployed stack's DynamoDB tables. Every input —
options, ``--set field=value``, import files — goes through the one ``Target`` model,
so the CLI refuses exactly what the probe would refuse, with the same field names.
Errors are one line naming the field, exit 3, and nothing is written.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from smtpwatch.cli.backend import add_backend_arguments
from smtpwatch.cli.main import UsageError
from smtpwatch.cli.output import print_json, render_table
from smtpwatch.core.errors import ConfigError, SecretError
from smtpwatch.core.target import STATE_FIELDS, TARGET_FIELDS, Target, check_aws_limits

if TYPE_CHECKING:
    from smtpwatch.adapters.secret_store import SecretWriter
    from smtpwatch.cli.targets_dynamo import ImportReport
    from smtpwatch.local.sqlite_store import SqliteStore

EXIT_OK = 0
EXIT_FAILED = 1  # the store failed (AWS error, interrupted import): retry may help

PROGRESS_EVERY = 1000  # import progress line on stderr every N items


# ---------------------------------------------------------------------------
# Options for Target fields


@dataclass(frozen=True, slots=True)
class _FieldOption:
    field: str
    flags: tuple[str, ...]
    kind: str  # value | bool | append | tags | json | file
    metavar: str = ""
    help: str = ""


FIELD_OPTIONS: tuple[_FieldOption, ...] = (
    _FieldOption("name", ("--name",), "value", "TEXT", "display name (default: the host)"),
    _FieldOption("port", ("--port",), "value", "N", "port (default: by encryption 587/465/25)"),
    _FieldOption(
        "encryption", ("--encryption",), "value", "MODE", "explicit (default), implicit, none, auto"
    ),
    _FieldOption("timeout_s", ("--timeout-s",), "value", "S", "overall deadline, 1-300 (120)"),
    _FieldOption("login", ("--login",), "bool", help="log in (needs --username and a password)"),
    _FieldOption("username", ("--username", "--user"), "value", "NAME", "login name"),
    _FieldOption(
        "password_ref",
        ("--password-ref",),
        "value",
        "REF",
        "where the password is: ssm:/path, secretsmanager:name, env:VAR, file:ID",
    ),
    _FieldOption(
        "auth_methods", ("--auth-methods",), "value", "LIST", "e.g. CRAM-MD5,LOGIN,PLAIN (order)"
    ),
    _FieldOption(
        "allow_plaintext_auth", ("--allow-plaintext-auth",), "bool", help="allow AUTH without TLS"
    ),
    _FieldOption(
        "dns_mode",
        ("--dns-mode",),
        "value",
        "MODE",
        "device_cached, non_cached, ttl_cached, external",
    ),
    _FieldOption(
        "nameservers",
        ("--nameserver",),
        "append",
        "IP[:PORT]",
        "nameserver to ask (repeatable); implies --dns-mode external",
    ),
    _FieldOption(
        "dns_hosts", ("--dns-host",), "append", '"IP NAME [NAME…]"', "hosts-file line (repeatable)"
    ),
    _FieldOption("ip_family", ("--ip-family",), "value", "FAMILY", "any (default), ipv4, ipv6"),
    _FieldOption("tls_verify", ("--tls-verify",), "bool", help="verify the certificate (default)"),
    _FieldOption("ca_bundle", ("--ca-bundle",), "file", "FILE", "PEM file of trusted CAs"),
    _FieldOption(
        "cert_warn_days", ("--cert-warn-days",), "value", "DAYS", "warn days before expiry (14)"
    ),
    _FieldOption("warn_ms", ("--warn-ms",), "value", "MS", "warning when slower (default off)"),
    _FieldOption("ehlo_name", ("--ehlo-name",), "value", "NAME", "name sent in EHLO"),
    _FieldOption("interval_s", ("--interval-s",), "value", "S", "seconds between checks (300)"),
    _FieldOption("enabled", ("--enabled",), "bool", help="probe this target (default)"),
    _FieldOption(
        "failures_before_alert",
        ("--failures-before-alert",),
        "value",
        "N",
        "failed runs before DOWN (1)",
    ),
    _FieldOption(
        "recheck_delay_s", ("--recheck-delay-s",), "value", "S", "re-check delay, 0 = off (10)"
    ),
    _FieldOption(
        "notify_recovery", ("--notify-recovery",), "bool", help="send recovery alerts (default)"
    ),
    _FieldOption(
        "remind_every_s", ("--remind-every-s",), "value", "S", "reminder period, 0 = never"
    ),
    _FieldOption(
        "maintenance",
        ("--maintenance",),
        "json",
        "JSON",
        'window {"start": ISO, "end": ISO} or {"days": "sat,sun", "start": "02:00", '
        '"end": "04:00", "tz": "Europe/Berlin"} (repeatable)',
    ),
    _FieldOption(
        "tags", ("--tag",), "tags", "KEY=VALUE", "tag (repeatable; on update KEY= drops it)"
    ),
)

_BOOL_WORDS = {
    "true": "true", "yes": "true", "on": "true", "1": "true",
    "false": "false", "no": "false", "off": "false", "0": "false",
}  # fmt: skip
_STRUCTURED = frozenset({"tags", "maintenance", "dns_hosts", "nameservers", "auth_methods"})
_DEST = "field__"


def _add_field_options(parser: argparse.ArgumentParser, *, update: bool) -> None:
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


def _add_password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "password (stored as a secret bound to the host; the target keeps only the reference)"
    )
    how = group.add_mutually_exclusive_group()
    how.add_argument("--password-prompt", action="store_true", help="ask for the password")
    how.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
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


def _field_values(args: argparse.Namespace) -> dict[str, Any]:
    """The fields given as options, as raw values for ``Target``."""
    values: dict[str, Any] = {}
    for key, value in vars(args).items():
        if not key.startswith(_DEST):
            continue
        name = key[len(_DEST) :]
        opt = next((o for o in FIELD_OPTIONS if o.field == name), None)
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


def _set_values(pairs: Sequence[str]) -> dict[str, Any]:
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
        elif stripped.lower() in _BOOL_WORDS and _is_bool_field(name):
            value = _BOOL_WORDS[stripped.lower()]
        values[name] = value
    return values


def _is_bool_field(name: str) -> bool:
    return isinstance(Target._DEFAULTS.get(name), bool)


# ---------------------------------------------------------------------------
# Stores


class _Targets(Protocol):
    aws: bool
    description: str

    def get(self, target_id: str) -> dict[str, Any] | None: ...

    def items(self) -> Iterator[dict[str, Any]]: ...

    def create(self, item: dict[str, Any]) -> None: ...

    def replace(self, item: dict[str, Any]) -> None: ...

    def remove(self, target_id: str) -> bool: ...

    def import_items(
        self, items: list[dict[str, Any]], progress: Callable[[int, int], None]
    ) -> ImportReport: ...

    def secret_writer(self, args: argparse.Namespace) -> SecretWriter: ...

    def close(self) -> None: ...


class _Exists(Exception):
    pass


class _Missing(Exception):
    pass


class _SqliteTargets:
    aws = False

    def __init__(
        self,
        store: SqliteStore,
        description: str,
        close: Callable[[], None] | None = None,
        db_path: Path | None = None,
    ) -> None:
        self.store = store
        self.description = description
        self._close = close or store.close
        self.db_path = db_path or store.path

    def get(self, target_id: str) -> dict[str, Any] | None:
        return self.store.get_item(target_id)

    def items(self) -> Iterator[dict[str, Any]]:
        return self.store.iter_items()

    def create(self, item: dict[str, Any]) -> None:
        if self.store.get_item(item["target_id"]) is not None:
            raise _Exists(item["target_id"])
        self.store.put_items([item])

    def replace(self, item: dict[str, Any]) -> None:
        if self.store.get_item(item["target_id"]) is None:
            raise _Missing(item["target_id"])
        self.store.put_items([item])

    def remove(self, target_id: str) -> bool:
        if not self.store.delete_item(target_id):
            return False
        # Locally, state and history go with the target: nothing else would ever
        # expire them, and a new target with the same id must start fresh.
        self.store.purge(target_id)
        return True

    def import_items(
        self, items: list[dict[str, Any]], progress: Callable[[int, int], None]
    ) -> ImportReport:
        from smtpwatch.cli.targets_dynamo import ImportReport

        existing = {item.get("target_id"): item for item in self.store.iter_items()}
        unchanged = sum(1 for item in items if existing.get(item["target_id"]) == item)
        new = sum(1 for item in items if item["target_id"] not in existing)
        # One transaction: all of the file or, on any failure, nothing.
        written = self.store.put_items(items)
        progress(len(items), len(items))
        return ImportReport(total=len(items), written=written, unchanged=unchanged, new=new)

    def secret_writer(self, args: argparse.Namespace) -> SecretWriter:
        from smtpwatch.local.secrets import FileSecretStore, default_secrets_dir

        return FileSecretStore(default_secrets_dir(self.db_path))

    def close(self) -> None:
        self._close()


class _DynamoTargets:
    aws = True

    def __init__(
        self,
        table: str,
        *,
        state_table: str | None,
        secrets_prefix: str | None,
        region: str | None,
        description: str,
    ) -> None:
        from smtpwatch.cli.targets_dynamo import DynamoTargets

        self.table = DynamoTargets(table, state_table=state_table, region=region)
        self.secrets_prefix = secrets_prefix
        self.region = region
        self.description = description

    def get(self, target_id: str) -> dict[str, Any] | None:
        return self.table.get_item(target_id)

    def items(self) -> Iterator[dict[str, Any]]:
        return iter(sorted(self.table.iter_items(), key=lambda i: str(i.get("target_id", ""))))

    def create(self, item: dict[str, Any]) -> None:
        from smtpwatch.cli.targets_dynamo import TargetExists

        try:
            self.table.create(item)
        except TargetExists:
            raise _Exists(item["target_id"]) from None

    def replace(self, item: dict[str, Any]) -> None:
        from smtpwatch.cli.targets_dynamo import TargetMissing

        try:
            self.table.replace(item)
        except TargetMissing:
            raise _Missing(item["target_id"]) from None

    def remove(self, target_id: str) -> bool:
        if not self.table.delete(target_id):
            return False
        # State goes (a re-added id starts as pending); results expire by their TTL —
        # deleting them would cost a query and a write per result for nothing.
        self.table.delete_state(target_id)
        return True

    def import_items(
        self, items: list[dict[str, Any]], progress: Callable[[int, int], None]
    ) -> ImportReport:
        return self.table.import_items(items, progress=progress)

    def secret_writer(self, args: argparse.Namespace) -> SecretWriter:
        from smtpwatch.adapters.secret_store import SecretsManagerSecretWriter, SsmSecretWriter

        prefix = getattr(args, "secrets_prefix", None) or self.secrets_prefix or "/smtpwatch/"
        if getattr(args, "secret_store", "ssm") == "secretsmanager":
            return SecretsManagerSecretWriter(prefix, region=self.region)
        return SsmSecretWriter(prefix, region=self.region)

    def close(self) -> None:
        pass


def _open(args: argparse.Namespace) -> _Targets:
    stack = getattr(args, "stack", None)
    table = getattr(args, "table", None)
    if stack and table:
        raise UsageError("--stack and --table exclude each other")
    if (stack or table) and args.db:
        raise UsageError("--db is the local store; it cannot be combined with --stack/--table")
    if not (stack or table):
        from smtpwatch.cli.backend import open_backend

        # Only add and import create the database; the rest read a missing one as empty.
        backend = open_backend(args, create=args.action in ("add", "import"))
        return _SqliteTargets(
            backend.targets,  # type: ignore[arg-type]
            backend.description,
            backend.close,
            backend.db_path,
        )
    region = getattr(args, "region", None)
    if stack:
        from smtpwatch.cli.aws_backend import stack_outputs

        outputs = stack_outputs(stack, region)
        table = outputs.get("TargetsTableName")
        if not table:
            raise UsageError(
                f"--stack {stack}: its outputs name no TargetsTableName "
                f"(outputs: {', '.join(sorted(outputs)) or 'none'})"
            )
        return _DynamoTargets(
            table,
            state_table=outputs.get("StateTableName"),
            secrets_prefix=getattr(args, "secrets_prefix", None) or outputs.get("SecretsPrefix"),
            region=region,
            description=f"DynamoDB table {table} (stack {stack})",
        )
    return _DynamoTargets(
        str(table),
        state_table=getattr(args, "state_table", None),
        secrets_prefix=getattr(args, "secrets_prefix", None),
        region=region,
        description=f"DynamoDB table {table}",
    )


# ---------------------------------------------------------------------------
# Parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def sub(name: str, help_text: str) -> argparse.ArgumentParser:
        p = subs.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(command_prog=p.prog)  # errors name `smtpwatch targets add` (main)
        add_backend_arguments(p)
        return p

    p = sub("add", "add a target")
    p.add_argument("target_id", metavar="TARGET_ID")
    p.add_argument("host", metavar="HOST[:PORT]")
    _add_field_options(p, update=False)
    _add_password_options(p)

    p = sub("update", "change fields of a target")
    p.add_argument("target_id", metavar="TARGET_ID")
    _add_field_options(p, update=True)
    _add_password_options(p)

    p = sub("list", "list the targets")
    p.add_argument("--json", action="store_true", help="print the items as JSON")

    p = sub("show", "show one target")
    p.add_argument("target_id", metavar="TARGET_ID")
    p.add_argument("--json", action="store_true", help="print the item as JSON")

    p = sub("remove", "remove a target (with its state)")
    p.add_argument("target_id", metavar="TARGET_ID")

    for name, help_text in (
        ("enable", "probe a target again"),
        ("disable", "stop probing a target"),
    ):
        p = sub(name, help_text)
        p.add_argument("target_id", metavar="TARGET_ID")

    p = sub("import", "add or replace targets from a YAML or JSON list (all or nothing)")
    p.add_argument("file", metavar="FILE", help="YAML or JSON file ('-' for stdin)")
    p.add_argument("--format", choices=("yaml", "json"), help="default: from the file name")

    p = sub("export", "print every target as YAML or JSON (what import reads)")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml")
    # `--json` like list/show/status/history, so a user need not remember --format.
    p.add_argument("--json", dest="format", action="store_const", const="json", help="JSON")


def run(args: argparse.Namespace) -> int:
    handler = _ACTIONS[args.action]
    try:
        return handler(args)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    except SecretError as exc:
        print(f"smtpwatch targets {args.action}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.Error as exc:
        # The transaction was rolled back: nothing of this command was written.
        print(f"smtpwatch targets {args.action}: error: database: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        # AWS errors (no credentials, table missing, throttled for good): one line.
        if type(exc).__module__.startswith(("botocore", "boto3")):
            print(f"smtpwatch targets {args.action}: error: {_aws_message(exc)}", file=sys.stderr)
            return EXIT_FAILED
        raise


def _aws_message(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip().rstrip(":")
    return str(exc)


# ---------------------------------------------------------------------------
# Actions


def _validate(item: dict[str, Any], *, aws: bool) -> Target:
    target, _unknown = Target.from_item(item, strict=True)
    if aws:
        check_aws_limits(target)
    return target


def _read_password(args: argparse.Namespace, target_id: str) -> str | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise UsageError(f"--password-env: environment variable {args.password_env} is not set")
        return value
    if args.password_prompt:
        value = getpass.getpass(f"Password for {target_id}: ")
        if not value:
            raise UsageError("--password-prompt: empty password")
        return value
    return None


def _with_password(
    store: _Targets, args: argparse.Namespace, item: dict[str, Any], given: set[str]
) -> tuple[dict[str, Any], str | None]:
    """The item as it will be saved when a password is given (login on, the reference
    our secret will have), and the password. Validated before any secret is stored."""
    password = _read_password(args, item["target_id"])
    if password is None:
        return item, None
    if "password_ref" in given:
        raise UsageError("give either --password-ref or --password-prompt/--password-env, not both")
    if "login" in given and str(item.get("login")).lower() in ("false", "none"):
        raise UsageError("login: a password is given, so login cannot be false")
    item = dict(item, login=True)
    item["password_ref"] = store.secret_writer(args).ref_for(item["target_id"])
    return item, password


def _store_password(
    store: _Targets, args: argparse.Namespace, target: Target, password: str
) -> str:
    writer = store.secret_writer(args)
    if not store.aws:
        return writer.store(target_id=target.target_id, host=target.host, password=password)
    from smtpwatch.adapters.aws_secrets import unverified_reasons
    from smtpwatch.adapters.secret_store import AwsSecretWriter

    assert isinstance(writer, AwsSecretWriter)
    # The probe Lambda sends a password to a target whose TLS does not prove the
    # server's identity only if the secret allows it. Storing the password for such a
    # target right now is that consent; a later edit of the table is not.
    reasons = unverified_reasons(target)
    if reasons:
        print(
            f"note: the secret allows this target's unverified connection ({'; '.join(reasons)})",
            file=sys.stderr,
        )
    return writer.store(
        target_id=target.target_id,
        host=target.host,
        password=password,
        allow_unverified=bool(reasons),
    )


def _add(args: argparse.Namespace) -> int:
    from smtpwatch.core.parsing import parse_host_port

    store = _open(args)
    try:
        try:
            host, port = parse_host_port(args.host)
        except ConfigError as exc:  # "host: 0 is out of range" would blame the name
            raise UsageError(f"HOST[:PORT]: {exc.reason}") from None
        item: dict[str, Any] = {"target_id": args.target_id, "host": host}
        if port is not None:
            item["port"] = port
        fields = _field_values(args)
        fields.update(_set_values(args.set_values))
        if "target_id" in fields or "host" in fields:
            raise UsageError("give TARGET_ID and HOST[:PORT] as arguments, not with --set")
        _check_one_port(port, fields)
        _nameservers_imply_external(fields)
        item.update(fields)
        if "login" not in fields and ("username" in fields or "password_ref" in fields):
            # `--username U --password-ref REF` means "log in" (as with --password-env):
            # a target that kept both and never logged in would look healthy while
            # proving nothing about AUTH.
            item["login"] = True
            if not item.get("password_ref") and not (args.password_prompt or args.password_env):
                raise UsageError(
                    "--username: logging in needs a password: add --password-prompt, "
                    "--password-env VAR or --password-ref REF (or --no-login)"
                )
        item, password = _with_password(store, args, item, set(fields))
        target = _validate(item, aws=store.aws)
        if store.get(target.target_id) is not None:
            raise UsageError(
                f"target {target.target_id!r} already exists; change it with "
                f"`smtpwatch targets update {target.target_id} --set FIELD=VALUE`"
            )
        if password is not None:
            _store_password(store, args, target, password)
        try:
            store.create(target.to_item())
        except _Exists:
            raise UsageError(
                f"target {target.target_id!r} already exists (added meanwhile)"
            ) from None
        print(f"added {target.target_id} ({target.describe()}) to {store.description}")
        return EXIT_OK
    finally:
        store.close()


def _nameservers_imply_external(fields: dict[str, Any]) -> None:
    """--nameserver without --dns-mode means "ask these": dns_mode external, the only
    mode that uses them (with another mode given, the model refuses the pair)."""
    if fields.get("nameservers") and "dns_mode" not in fields:
        fields["dns_mode"] = "external"


def _check_one_port(in_host: int | None, fields: dict[str, Any]) -> None:
    """A port both in HOST:PORT and in --port (or --set port=) must be the same one:
    silently preferring either would probe a port the user did not mean."""
    if in_host is None or "port" not in fields:
        return
    from smtpwatch.core.parsing import parse_port

    try:
        other = parse_port(fields["port"])
    except ConfigError:
        return  # the model names the bad value
    if other != in_host:
        raise UsageError(f"--port: {other} conflicts with port {in_host} in HOST:PORT; give one")


def _update(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        current = store.get(args.target_id)
        if current is None:
            raise UsageError(_missing_message(args.target_id))
        fields = _field_values(args)
        fields.update(_set_values(args.set_values))
        if "target_id" in fields or "target_id" in args.unset:
            raise UsageError("target_id cannot change (export, edit and import under the new id)")
        _nameservers_imply_external(fields)
        if "host" in fields and isinstance(fields["host"], str):
            from smtpwatch.core.parsing import parse_host_port

            host, port = parse_host_port(fields["host"])
            fields["host"] = host
            _check_one_port(port, fields)
            if port is not None and "port" not in fields:
                fields["port"] = port
        # Attributes the model does not know (typed in the console, say) are dropped
        # with a note, also when the stored item is invalid and this update fixes it.
        dropped = sorted(k for k in current if k not in TARGET_FIELDS and k not in STATE_FIELDS)
        old = Target.from_item(current, strict=False)[0] if _valid(current) else None
        item = {k: v for k, v in current.items() if k not in dropped}
        if "tags" in fields and "tags" not in _set_values(args.set_values):
            # --tag on update changes single tags; `KEY=` removes one.
            merged = dict(item.get("tags") or {})
            for key, value in fields["tags"].items():
                if value:
                    merged[key] = value
                else:
                    merged.pop(key, None)
            fields["tags"] = merged
        item.update(fields)
        for name in args.unset:
            if name in ("host",):
                raise UsageError(f"--unset {name}: {name} is required")
            if name not in TARGET_FIELDS:
                Target.from_item({"target_id": "x", "host": "x", name: None}, strict=True)
            item.pop(name, None)
        if not fields and not args.unset and not (args.password_prompt or args.password_env):
            raise UsageError(
                "nothing to change: give --set FIELD=VALUE, --unset FIELD or a field option"
            )
        item, password = _with_password(store, args, item, set(fields))
        target = _validate(item, aws=store.aws)
        if dropped:
            print(
                f"note: dropped unknown attribute(s) {', '.join(dropped)} of {target.target_id}",
                file=sys.stderr,
            )
        if password is not None:
            _store_password(store, args, target, password)
        elif old is not None and old.host != target.host and target.password_ref:
            print(
                f"note: the password of {target.target_id} may be bound to {old.host}; store it "
                f"again for {target.host} with --password-prompt or --password-env",
                file=sys.stderr,
            )
        try:
            store.replace(target.to_item())
        except _Missing:
            raise UsageError(_missing_message(args.target_id)) from None
        print(f"updated {target.target_id} ({target.describe()})")
        return EXIT_OK
    finally:
        store.close()


def _valid(item: dict[str, Any]) -> bool:
    try:
        Target.from_item(item, strict=False)
    except ConfigError:
        return False
    return True


def _missing_message(target_id: str) -> str:
    return (
        f"no target {target_id!r} "
        "(see `smtpwatch targets list`; add it with `smtpwatch targets add`)"
    )


def _set_enabled(args: argparse.Namespace, enabled: bool) -> int:
    store = _open(args)
    try:
        current = store.get(args.target_id)
        if current is None:
            raise UsageError(_missing_message(args.target_id))
        word = "enabled" if enabled else "disabled"
        try:
            target, dropped = Target.from_item(current, strict=False)
        except ConfigError as exc:
            raise UsageError(
                f"{args.target_id} is stored with an invalid field ({exc}); fix it with "
                f"`smtpwatch targets update {args.target_id} --set ...`"
            ) from None
        if target.enabled == enabled:
            print(f"{target.target_id} is already {word}")
            return EXIT_OK
        item = {k: v for k, v in current.items() if k not in dropped}
        item["enabled"] = enabled
        target = _validate(item, aws=False)  # limits unchanged: only `enabled` moved
        try:
            store.replace(target.to_item())
        except _Missing:
            raise UsageError(_missing_message(args.target_id)) from None
        print(f"{target.target_id} {word}")
        return EXIT_OK
    finally:
        store.close()


def _remove(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        current = store.get(args.target_id)
        if current is None or not store.remove(args.target_id):
            raise UsageError(_missing_message(args.target_id))
        ref = current.get("password_ref")
        if isinstance(ref, str) and ref:
            try:
                # The writer of the reference's own kind (``remove`` has no --secret-store).
                kind = "secretsmanager" if ref.startswith("secretsmanager:") else "ssm"
                writer = store.secret_writer(argparse.Namespace(**vars(args), secret_store=kind))
                # Only the secret the CLI created for this very target: never a shared one.
                if ref == writer.ref_for(args.target_id):
                    writer.delete(ref)
            except (SecretError, UsageError):
                pass
        print(f"removed {args.target_id}")
        return EXIT_OK
    finally:
        store.close()


def _load(store: _Targets, target_id: str) -> tuple[dict[str, Any], Target | None, str | None]:
    item = store.get(target_id)
    if item is None:
        raise UsageError(_missing_message(target_id))
    try:
        target, _ = Target.from_item(item, strict=False)
    except ConfigError as exc:
        return item, None, str(exc)
    return item, target, None


def _show(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        item, target, problem = _load(store, args.target_id)
    finally:
        store.close()
    if args.json:
        print_json(target.to_item() if target is not None else item)
        return EXIT_OK
    if target is None:
        print(f"{args.target_id}: INVALID ({problem}); stored item:")
        print_json(item)
        return EXIT_OK
    full = target.to_item(full=True)
    print(f"{target.target_id}  {target.describe()}")
    for name in TARGET_FIELDS:
        value = full.get(name)
        default = (
            name not in ("target_id", "host") and getattr(target, name) == Target._DEFAULTS[name]
        )
        text = _human(name, value)
        if name == "port" and value is None:
            text = f"{target.effective_port} (by encryption)"
        elif name == "name" and value == target.host:
            text += "  (default: the host)"
        elif default:
            text += "  (default)"
        print(f"  {name:<22} {text}")
    return EXIT_OK


def _human(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if name == "ca_bundle" and isinstance(value, str):
        return f"PEM, {value.count('BEGIN CERTIFICATE')} certificate(s)"
    if name == "tags" and isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if name == "maintenance":
        return json.dumps(value) if value else "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _interval(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _list(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        items = list(store.items())
    finally:
        store.close()
    if args.json:
        out = []
        for item in items:
            try:
                out.append(Target.from_item(item, strict=False)[0].to_item())
            except ConfigError:
                out.append(item)
        print_json(out)
        return EXIT_OK
    rows = []
    for item in items:
        try:
            t, _ = Target.from_item(item, strict=False)
        except ConfigError as exc:
            rows.append([item.get("target_id"), item.get("host"), "INVALID", str(exc), "-", "-"])
            continue
        tags = ",".join(f"{k}={v}" for k, v in sorted(t.tags.items())) or "-"
        rows.append(
            [t.target_id, t.describe(), t.encryption, _interval(t.interval_s),
             "yes" if t.enabled else "no", tags]
        )  # fmt: skip
    if not rows:
        print(f"no targets in {store.description} (add one with `smtpwatch targets add ID HOST`)")
        return EXIT_OK
    print(render_table(["ID", "HOST:PORT", "ENCRYPTION", "INTERVAL", "ENABLED", "TAGS"], rows))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from smtpwatch.cli.targets_io import dump_items

    store = _open(args)
    try:
        raw_items = list(store.items())
    finally:
        store.close()
    out: list[dict[str, Any]] = []
    for item in raw_items:
        try:
            out.append(Target.from_item(item, strict=False)[0].to_item())
        except ConfigError as exc:
            # Exported as stored, so nothing is lost; import will name the problem.
            print(f"warning: {item.get('target_id')}: {exc}", file=sys.stderr)
            out.append(item)
    sys.stdout.write(dump_items(out, args.format))
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from smtpwatch.cli.targets_dynamo import ImportInterrupted
    from smtpwatch.cli.targets_io import (
        FileFormatError,
        error_lines,
        guess_format,
        parse_text,
        validate_items,
    )

    name = "stdin" if args.file == "-" else args.file
    text = _read_import_file(args.file, name)
    fmt = args.format or (None if args.file == "-" else guess_format(args.file))
    try:
        raw = parse_text(text, fmt=fmt)
    except FileFormatError as exc:
        raise UsageError(f"{name}: {exc}; nothing imported") from None
    # Which backend decides the limits, so open it (and fail on a bad --stack) first.
    store = _open(args)
    try:
        targets, errors = validate_items(raw, extra_check=check_aws_limits if store.aws else None)
        if errors:
            for line in error_lines(name, errors):
                print(line, file=sys.stderr)
            items_bad = len({e.item for e in errors})
            raise UsageError(
                f"{name}: {len(errors)} error(s) in {items_bad} of {len(raw)} item(s); "
                "nothing imported"
            )
        items = [t.to_item() for t in targets]
        if not items:
            print(f"{name}: no targets; nothing imported")
            return EXIT_OK
        shown = 0

        def progress(done: int, total: int) -> None:
            nonlocal shown
            # A line every PROGRESS_EVERY items and at the end: enough to see a
            # 10,000-target import move, without flooding a terminal.
            if done and (done == total or done - shown >= PROGRESS_EVERY):
                shown = done
                # "processed", not "written": unchanged items count too (the summary
                # below tells new, replaced and unchanged apart).
                print(f"import: {done}/{total} processed", file=sys.stderr, flush=True)

        try:
            report = store.import_items(items, progress)
        except ImportInterrupted as exc:
            print(
                f"smtpwatch targets import: error: {exc}; the targets written are complete — "
                "run the same command again to finish (it skips what is already there)",
                file=sys.stderr,
            )
            return EXIT_FAILED
        print(
            f"imported {report.total} target(s) into {store.description}: "
            f"{report.new} new, {report.total - report.new - report.unchanged} replaced, "
            f"{report.unchanged} unchanged"
        )
        return EXIT_OK
    finally:
        store.close()


def _read_import_file(path: str, name: str) -> str:
    """The import file's text, at most ``MAX_DOCUMENT_BYTES`` (stdin too)."""
    from smtpwatch.cli.file_input import MAX_DOCUMENT_BYTES, read_bounded

    try:
        data = read_bounded(path, limit=MAX_DOCUMENT_BYTES, label="import", regular_only=False)
    except UsageError as exc:
        raise UsageError(f"{exc}; nothing imported") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: cannot read ({exc}); nothing imported") from None


_ACTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "add": _add,
    "update": _update,
    "list": _list,
    "show": _show,
    "remove": _remove,
    "enable": lambda a: _set_enabled(a, True),
    "disable": lambda a: _set_enabled(a, False),
    "import": _import,
    "export": _export,
}
