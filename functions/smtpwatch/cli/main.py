"""`smtpwatch` command line: dispatches to one module per command (``COMMANDS``).

Only the module of the command being run is imported, so `smtpwatch probe`, started
once per check by a monitoring system, loads nothing of the other commands (no boto3).
"""

from __future__ import annotations

import argparse
import os
import sys

from smtpwatch.core.safe_text import guard

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

# command -> (module, one-line help). Each module defines:
#   def add_arguments(parser: argparse.ArgumentParser) -> None
#   def run(args: argparse.Namespace) -> int
COMMANDS: dict[str, tuple[str, str]] = {
    "probe": ("smtpwatch.cli.probe_cmd", "probe one SMTP server now (a Nagios-style check)"),
    "targets": ("smtpwatch.cli.targets_cmd", "add, list, change and remove targets"),
    "run": ("smtpwatch.cli.run_cmd", "probe due targets on schedule on this machine"),
    "status": ("smtpwatch.cli.status_cmd", "state of every target"),
    "history": ("smtpwatch.cli.history_cmd", "uptime and timings of one target"),
    "serve": ("smtpwatch.cli.serve_cmd", "serve /metrics and a JSON API from the local store"),
    "alerts": ("smtpwatch.cli.alerts_cmd", "alert delivery (alerts test)"),
    "demo": ("smtpwatch.cli.demo_cmd", "run a self-contained demo on loopback servers"),
    "completion": (
        "smtpwatch.cli.completion_cmd",
        "print a shell completion script (bash, zsh, fish)",
    ),
}

EXIT_USAGE = 3  # monitoring-plugin UNKNOWN: also bad usage


class CliError(Exception):
    """An error a command reports as ``prog: error: message`` (and as JSON under
    --json), exit ``exit_code``. ``details``: lines printed before it (an import file's
    errors), listed in the JSON error too."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details = list(details)


class UsageError(CliError):
    """Bad input from the user: printed as one line, exit 3."""


class CommandError(CliError):
    """A command that could not do its work (a database or AWS error): exit 1."""

    exit_code = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _usage_exit(self.prog, message)


_json_errors = [False]  # --json on the command line: errors as a JSON document too


def _usage_exit(prog: str, message: str) -> NoReturn:
    # One line like every other usage error: the usage of a command with thirty
    # options would bury the message (and a Nagios check shows only one line).
    raise SystemExit(_fail(prog, f"{message} (see {prog} --help)", EXIT_USAGE))


def _fail(
    prog: str, message: str, code: int, details: Sequence[str] = (), *, line: str = ""
) -> int:
    """An error: ``prog: error: message`` on stderr, after ``details``; under --json
    also ``{"error": {"command", "message", "exit_code"[, "details"]}}`` on one line of
    stdout, so that stdout holds JSON whatever happened."""
    for detail in details:
        print(detail, file=sys.stderr)
    print(line or f"{prog}: error: {message}", file=sys.stderr)
    if _json_errors[0]:
        import json  # only on this path: never on a probe's start

        doc: dict[str, object] = {"command": prog, "message": message, "exit_code": code}
        if details:
            doc["details"] = list(details)
        print(json.dumps({"error": doc}, ensure_ascii=False))
    return code


def _refuse_undecodable(args: Sequence[str]) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates ("\\udcff"), which no
    store, JSON document or terminal can take: refuse them here, once, for every
    command, before anything is read or written."""
    for position, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "backslashreplace").decode("utf-8")
            _usage_exit("smtpwatch", f"argument {position} is not valid UTF-8: {shown}")


def _top_parser() -> _Parser:
    parser = _Parser(prog="smtpwatch", description="Monitor SMTP servers.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Everything the command prints goes through one terminal-safe formatter (server
    # text and names may carry escape sequences): see core.safe_text for why here.
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None:
        sys.stdout = guard(sys.stdout)
    if sys.stderr is not None:
        sys.stderr = guard(sys.stderr)
    code = _main(argv)
    # An exception (a usage exit, a traceback) leaves the guards in place, so that
    # what Python prints for it on the way out is guarded too.
    sys.stdout, sys.stderr = saved
    return code


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    _json_errors[0] = "--json" in args_list
    top = _top_parser()
    _refuse_undecodable(args_list)
    if not args_list or args_list[0] in ("-h", "--help"):
        top.print_help()
        print("\ncommands:")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:<9} {help_text}")
        return 0 if args_list else EXIT_USAGE
    if args_list[0] == "--version":
        from smtpwatch import __version__  # the one version source (pyproject reads it)

        print(__version__)
        return 0
    command = args_list[0]
    if command not in COMMANDS:
        top.error(f"unknown command {command!r} (choose from {', '.join(COMMANDS)})")
    module_name, help_text = COMMANDS[command]
    # __import__, not importlib.import_module: one package less to load at every start.
    module = sys.modules.get(module_name) or __import__(module_name, fromlist=["run"])
    parser = _Parser(prog=f"smtpwatch {command}", description=help_text)
    module.add_arguments(parser)
    args, extra = parser.parse_known_args(args_list[1:])
    # A subcommand (`targets add`) sets command_prog, so that its errors name it whether
    # the parser or the command finds them (argparse reports an unknown option of a
    # subcommand from the top parser).
    prog = str(getattr(args, "command_prog", parser.prog))
    if extra:
        _usage_exit(prog, f"unrecognized arguments: {' '.join(extra)}")
    aws_options = [option for dest, option in AWS_OPTIONS if getattr(args, dest, None)]
    if aws_options and not _aws_extra_installed():
        return _needs_aws_extra(aws_options[0])
    try:
        code = int(module.run(args))
        sys.stdout.flush()  # a closed pipe shows up here, not at exit as a traceback
        return code
    except CliError as exc:
        return _fail(prog, str(exc), exc.exit_code, exc.details)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in AWS_PACKAGES:
            raise
        return _needs_aws_extra(aws_options[0] if aws_options else f"smtpwatch {command}")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_left()


# The options served by boto3/Powertools, which come with the `aws` extra: the base
# install (probe, local mode) has neither. (attribute name, option)
AWS_OPTIONS = (
    ("stack", "--stack"),
    ("table", "--table"),
    ("state_table", "--state-table"),
    ("results_table", "--results-table"),
    ("sns_topic_arn", "--sns-topic-arn"),
    ("secrets_prefix", "--secrets-prefix"),
)
AWS_PACKAGES = ("boto3", "botocore", "aws_lambda_powertools")


def _aws_extra_installed() -> bool:
    from importlib.util import find_spec  # only when an AWS option was given

    return all(find_spec(name) is not None for name in AWS_PACKAGES)


def _needs_aws_extra(what: str) -> int:
    """One line instead of a ModuleNotFoundError traceback, before anything is done."""
    message = f"{what} needs the AWS extra: pip install 'smtpwatch[aws]'"
    return _fail("smtpwatch", message, EXIT_USAGE, line=f"smtpwatch: {message}")


EXIT_BROKEN_PIPE = 141  # what a shell reports for a process ended by SIGPIPE


def _reader_left() -> int:
    """`smtpwatch status --json | head`: the reader went away, which is not an error
    worth a traceback. Point stdout at /dev/null so the exit's final flush is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    raise SystemExit(main())
