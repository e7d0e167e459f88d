"""`smtpwatch targets add|list|show|update|remove|enable|disable|import|export`.

The local SQLite store by default; ``--stack NAME`` or ``--table NAME`` for the deployed
stack's DynamoDB tables. Every input goes through the one ``Target`` model, so the CLI
refuses exactly what the probe would refuse; errors are one line naming the field, exit
3, and nothing is written. This module builds the parser and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Callable
from typing import Any

from smtpwatch.cli.backend import add_backend_arguments
from smtpwatch.cli.main import CommandError, UsageError
from smtpwatch.cli.output import add_json_argument
from smtpwatch.cli.target_options import add_field_options, add_password_options
from smtpwatch.cli.targets_edit_cmd import add, remove, set_enabled, update
from smtpwatch.cli.targets_file_cmd import export, import_file
from smtpwatch.cli.targets_list_cmd import list_targets, show
from smtpwatch.core.errors import ConfigError, SecretError

__all__ = ["add_arguments", "run"]

_ACTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "add": add,
    "update": update,
    "list": list_targets,
    "show": show,
    "remove": remove,
    "enable": lambda a: set_enabled(a, True),
    "disable": lambda a: set_enabled(a, False),
    "import": import_file,
    "export": export,
}


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
    add_field_options(p, update=False)
    add_password_options(p)
    add_json_argument(p, "print what was done as JSON (action, target_id, changed, target)")

    p = sub("update", "change fields of a target")
    p.add_argument("target_id", metavar="TARGET_ID")
    add_field_options(p, update=True)
    add_password_options(p)
    add_json_argument(p, "print what was done as JSON (action, target_id, changed, target)")

    p = sub("list", "list the targets")
    p.add_argument("--json", action="store_true", help="print the items as JSON")

    p = sub("show", "show one target")
    p.add_argument("target_id", metavar="TARGET_ID")
    p.add_argument("--json", action="store_true", help="print the item as JSON")

    p = sub("remove", "remove a target (with its state)")
    p.add_argument("target_id", metavar="TARGET_ID")
    add_json_argument(p, "print what was done as JSON (action, target_id, changed)")

    for name, help_text in (
        ("enable", "probe a target again"),
        ("disable", "stop probing a target"),
    ):
        p = sub(name, help_text)
        p.add_argument("target_id", metavar="TARGET_ID")
        add_json_argument(p, "print what was done as JSON (action, target_id, changed, target)")

    p = sub("import", "add or replace targets from a YAML or JSON list (all or nothing)")
    p.add_argument("file", metavar="FILE", help="YAML or JSON file ('-' for stdin)")
    p.add_argument(
        "--format", choices=("yaml", "json"), help="the file's format (default: from its name)"
    )
    add_json_argument(p, "print the import report as JSON (file, store, total, new, ...)")

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
        raise CommandError(str(exc)) from None
    except sqlite3.Error as exc:
        # The transaction was rolled back: nothing of this command was written.
        raise CommandError(f"database: {exc}") from None
    except Exception as exc:
        # AWS errors (no credentials, table missing, throttled for good): one line.
        if type(exc).__module__.startswith(("botocore", "boto3")):
            raise CommandError(_aws_message(exc)) from None
        raise


def _aws_message(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip().rstrip(":")
    return str(exc)
