"""Helpers shared by the CLI commands: backend selection, JSON output, tables, times.

Backend selection: the local SQLite store by default (``--db PATH``, else
``$SMTPWATCH_DB``, else the user's data directory); ``--stack NAME`` reads the
DynamoDB table names (and the alert topic) from the CloudFormation stack's outputs;
``--table NAME`` (+ ``--state-table``/``--results-table``) names them directly.
``Backend.passing_result_s`` is how often a passing check that changes nothing is
stored (``PassingResultSeconds``; 0 = every check): 0 for SQLite, the stack's output
with ``--stack`` (3600, the template default, for a stack deployed before that
output), 3600 with ``--table``; a command that offers ``--passing-result-seconds``
(history) overrides it for either.
boto3 is imported only when an AWS backend is chosen, so local commands stay light.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from smtpwatch.cli.main import UsageError
from smtpwatch.core.schedule import parse_ts as parse_time
from smtpwatch.core.schedule import utc_now
from smtpwatch.ports import AlertSink, ResultStore, StateStore, TargetStore

if TYPE_CHECKING:
    from smtpwatch.local.sqlite_store import SqliteStore

__all__ = [
    "DEFAULT_PASSING_RESULT_S",
    "Backend",
    "add_backend_arguments",
    "add_json_argument",
    "add_sink_arguments",
    "bounded_number",
    "format_ago",
    "format_ms",
    "iso_z",
    "open_backend",
    "open_local_store",
    "parse_duration",
    "parse_since",
    "parse_time",
    "print_json",
    "render_table",
    "sinks_from_args",
    "stack_outputs",
    "to_jsonable",
    "utc_now",
]


# ---------------------------------------------------------------------------
# Backend selection


@dataclass
class Backend:
    """The three stores of one backend, plus what else the backend knows."""

    kind: str  # "sqlite" | "dynamodb"
    description: str  # for messages: "SQLite /path/db" or "DynamoDB stack NAME"
    targets: TargetStore
    states: StateStore
    results: ResultStore
    topic_arn: str | None = None  # the stack's alert topic, if known
    secrets_prefix: str | None = None  # the stack's secrets prefix, if known
    region: str | None = None
    db_path: Path | None = None  # SQLite only
    # PassingResultSeconds: a passing check that changes nothing is stored once per
    # this many seconds (0: every check is stored, as in the local store).
    passing_result_s: int = 0
    _close: Callable[[], None] | None = field(default=None, repr=False)

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add_backend_arguments(parser: argparse.ArgumentParser, *, aws: bool = True) -> None:
    """``--db`` (SQLite, the default backend) and, unless ``aws=False``, ``--stack``/``--table``."""
    group = parser.add_argument_group("store (default: the local SQLite database)")
    group.add_argument(
        "--db",
        metavar="PATH",
        help="SQLite database (default: $SMTPWATCH_DB, else "
        "$XDG_DATA_HOME/smtpwatch/smtpwatch.db or ~/.local/share/smtpwatch/smtpwatch.db)",
    )
    if not aws:
        return
    group.add_argument(
        "--stack", metavar="NAME", help="use the deployed AWS stack NAME (tables from its outputs)"
    )
    group.add_argument(
        "--table", metavar="NAME", help="DynamoDB targets table (instead of --stack)"
    )
    group.add_argument("--state-table", metavar="NAME", help="DynamoDB state table (with --table)")
    group.add_argument(
        "--results-table", metavar="NAME", help="DynamoDB results table (with --table)"
    )
    group.add_argument("--region", metavar="REGION", help="AWS region (default: from the profile)")


def open_backend(
    args: argparse.Namespace, *, need: Iterable[str] = ("targets",), create: bool = True
) -> Backend:
    """Open the backend chosen by ``add_backend_arguments``'s options.

    ``need`` names the stores the command uses ("targets", "states", "results"): with
    ``--table`` the missing table options are reported as one usage error.
    ``create=False`` (commands that only read): a missing SQLite database reads as
    empty and is not created — `status --db /typo/x.db` must not leave a new
    directory and database behind.
    """
    stack = getattr(args, "stack", None)
    table = getattr(args, "table", None)
    db = getattr(args, "db", None)
    if stack and table:
        raise UsageError("--stack and --table exclude each other")
    if (stack or table) and db:
        raise UsageError("--db is the local store; it cannot be combined with --stack/--table")
    passing = getattr(args, "passing_result_seconds", None)
    if passing is not None:
        if not 0 <= passing <= MAX_PASSING_RESULT_S:
            raise UsageError(
                f"--passing-result-seconds: must be 0 to {MAX_PASSING_RESULT_S}, not {passing}"
            )
        if not (stack or table):
            raise UsageError(
                "--passing-result-seconds applies to --stack/--table "
                "(the local store keeps every check)"
            )
    if stack or table:
        return _open_dynamodb(args, set(need))
    return _open_sqlite(db, create=create)


def open_local_store(db: str | None) -> SqliteStore:
    """The SQLite store of ``--db`` (else ``$SMTPWATCH_DB``, else the data dir)."""
    from smtpwatch.local.sqlite_store import SqliteStore, StoreError, resolve_db_path

    try:
        return SqliteStore(resolve_db_path(db))
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def _open_sqlite(db: str | None, *, create: bool = True) -> Backend:
    from smtpwatch.local.sqlite_store import resolve_db_path

    path = resolve_db_path(db)
    if not create and not path.exists():
        return _empty_sqlite(path)
    store = open_local_store(db)
    return Backend(
        kind="sqlite",
        description=f"SQLite {store.path}",
        targets=store,
        states=store,
        results=store,
        db_path=store.path,
        _close=store.close,
    )


def _empty_sqlite(path: Path) -> Backend:
    """An empty store standing in for the missing database at ``path`` (a throwaway
    file: the commands read it like any other, and messages name ``path``)."""
    import shutil
    import tempfile

    from smtpwatch.local.sqlite_store import SqliteStore

    tmp = tempfile.mkdtemp(prefix="smtpwatch-empty-")
    store = SqliteStore(Path(tmp) / "empty.db")

    def close() -> None:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)

    return Backend(
        kind="sqlite",
        description=f"SQLite {path}",
        targets=store,
        states=store,
        results=store,
        db_path=path,
        _close=close,
    )


# Output keys we look for in the stack (the template's names first; then any output
# whose key mentions the table, so a renamed output still works).
_OUTPUT_KEYS: dict[str, tuple[str, ...]] = {
    "targets": ("TargetsTableName", "TargetsTable"),
    "states": ("StateTableName", "StateTable"),
    "results": ("ResultsTableName", "ResultsTable"),
    "topic": ("AlertTopicArn", "AlertTopic"),
    "secrets_prefix": ("SecretsPrefix",),
    "passing_result_s": ("PassingResultSeconds",),
}

# template.yaml's PassingResultSeconds default: what a stack deployed before the stack
# had that output stores (and the assumption for bare --table names); and its maximum.
DEFAULT_PASSING_RESULT_S = 3600
MAX_PASSING_RESULT_S = 86400


def stack_outputs(stack: str, region: str | None = None) -> dict[str, str]:
    """The CloudFormation stack's outputs as {OutputKey: OutputValue}."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cfn = boto3.client("cloudformation", region_name=region)
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        msg = exc.response.get("Error", {}).get("Message", str(exc))
        raise UsageError(f"--stack {stack}: {msg}") from None
    except BotoCoreError as exc:
        raise UsageError(f"--stack {stack}: {exc}") from None
    if not stacks:
        raise UsageError(f"--stack {stack}: no such stack")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _pick_output(outputs: dict[str, str], what: str) -> str | None:
    for key in _OUTPUT_KEYS[what]:
        if key in outputs:
            return outputs[key]
    if what == "passing_result_s":
        return None  # no loose match: a guessed output would silently skew uptime
    stem = _OUTPUT_KEYS[what][-1].lower()
    for key, value in outputs.items():
        if stem in key.lower():
            return value
    return None


def _open_dynamodb(args: argparse.Namespace, need: set[str]) -> Backend:
    region = getattr(args, "region", None)
    topic: str | None = None
    prefix: str | None = None
    override: int | None = getattr(args, "passing_result_seconds", None)
    passing = DEFAULT_PASSING_RESULT_S if override is None else override
    if args.stack:
        outputs = stack_outputs(args.stack, region)
        names = {w: _pick_output(outputs, w) for w in ("targets", "states", "results")}
        topic = _pick_output(outputs, "topic")
        prefix = _pick_output(outputs, "secrets_prefix")
        if override is None:
            passing = _passing_output(args.stack, _pick_output(outputs, "passing_result_s"))
        description = f"DynamoDB (stack {args.stack})"
        missing = [w for w in sorted(need) if not names.get(w)]
        if missing:
            raise UsageError(
                f"--stack {args.stack}: its outputs name no {'/'.join(missing)} table "
                f"(outputs: {', '.join(sorted(outputs)) or 'none'})"
            )
    else:
        names = {
            "targets": args.table,
            "states": getattr(args, "state_table", None),
            "results": getattr(args, "results_table", None),
        }
        description = f"DynamoDB (table {args.table})"
        option = {"states": "--state-table", "results": "--results-table"}
        missing = [option[w] for w in ("states", "results") if w in need and not names[w]]
        if missing:
            raise UsageError(f"--table also needs {' and '.join(missing)} for this command")

    # Imported here: the local commands never load boto3.
    import boto3

    from smtpwatch.adapters import dynamodb

    client = boto3.client("dynamodb", region_name=region)
    targets = dynamodb.DynamoTargetStore(client, names["targets"]) if names["targets"] else None
    states = dynamodb.DynamoStateStore(client, names["states"]) if names["states"] else None
    results = dynamodb.DynamoResultStore(client, names["results"]) if names["results"] else None
    return Backend(
        kind="dynamodb",
        description=description,
        targets=targets if targets is not None else _Missing("targets", "--table"),
        states=states if states is not None else _Missing("state", "--state-table"),
        results=results if results is not None else _Missing("results", "--results-table"),
        topic_arn=topic,
        secrets_prefix=prefix,
        region=region,
        passing_result_s=passing,
    )


def _passing_output(stack: str, value: str | None) -> int:
    """The stack's PassingResultSeconds output; the template default when the stack
    predates that output."""
    if value is None:
        return DEFAULT_PASSING_RESULT_S
    try:
        seconds = int(value) if len(value) <= 12 else -1
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= MAX_PASSING_RESULT_S:
        raise UsageError(
            f"--stack {stack}: output PassingResultSeconds {value!r} is not a number of "
            "seconds (give --passing-result-seconds N)"
        )
    return seconds


class _Missing:
    """Stands in for a table the user did not name; any use is a usage error."""

    def __init__(self, what: str, option: str) -> None:
        self._what = what
        self._option = option

    def __getattr__(self, name: str) -> Any:
        raise UsageError(f"no DynamoDB {self._what} table given (use --stack or {self._option})")


# ---------------------------------------------------------------------------
# Alert sinks (run, alerts test, demo)


MAX_WEBHOOK_TIMEOUT_S = 300


def add_sink_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("alerts (always printed to the console)")
    group.add_argument(
        "--sns-topic-arn", metavar="ARN", help="also publish alerts to this SNS topic"
    )
    group.add_argument(
        "--webhook",
        metavar="URL",
        action="append",
        default=[],
        help="also POST each alert's JSON document to URL (repeatable)",
    )
    group.add_argument(
        "--webhook-timeout",
        metavar="S",
        type=bounded_number(0, MAX_WEBHOOK_TIMEOUT_S, low_open=True),
        default=10.0,
        help="seconds to wait for a webhook (default: 10)",
    )


def sinks_from_args(
    args: argparse.Namespace, *, console: AlertSink, region: str | None = None
) -> list[tuple[str, AlertSink]]:
    """(name, sink) pairs: the console first, then the optional SNS topic and webhooks."""
    from smtpwatch.local.sinks import WebhookSink, sns_sink

    sinks: list[tuple[str, AlertSink]] = [("console", console)]
    topic = getattr(args, "sns_topic_arn", None)
    if topic:
        if not topic.startswith("arn:") or ":sns:" not in topic:
            raise UsageError(f"--sns-topic-arn: {topic!r} is not an SNS topic ARN")
        sinks.append((f"sns {topic}", sns_sink(topic, region=region)))
    for url in getattr(args, "webhook", None) or ():
        try:
            hook = WebhookSink(url, timeout_s=args.webhook_timeout)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        sinks.append((f"webhook {hook.display_url}", hook))
    return sinks


# ---------------------------------------------------------------------------
# Output


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def to_jsonable(value: Any) -> Any:
    """Decimal (DynamoDB), tuples, sets, datetimes and objects with ``to_dict`` → JSON types."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso_z(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_jsonable(to_dict())
    return value


def print_json(value: Any, *, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    # One write, not json.dump's one per token (300,000 for 10,000 targets, each
    # through the terminal guard).
    text = json.dumps(to_jsonable(value), indent=2, sort_keys=False, ensure_ascii=False)
    out.write(text + "\n")


def render_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int = 60
) -> str:
    """Plain aligned columns (no box drawing: output is often piped or grepped).

    Cells longer than ``max_width`` are cut with an ellipsis; None prints as "-".
    """
    body = [[_cell(v, max_width) for v in row] for row in rows]
    head = [str(h) for h in headers]
    widths = [len(h) for h in head]
    for row in body:
        for i, cell in enumerate(row):
            if i < len(widths):
                widths[i] = max(widths[i], len(cell))
            else:
                widths.append(len(cell))
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)).rstrip()]
    for row in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())
    return "\n".join(lines)


def _cell(value: Any, max_width: int) -> str:
    text = "-" if value is None else str(value)
    text = " ".join(text.split())  # one line per row, whatever a server sent
    if len(text) > max_width:
        text = text[: max_width - 1] + "…"
    return text


def format_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


# ---------------------------------------------------------------------------
# Times (everything is UTC; ISO-8601 with "Z" on the wire). ``parse_time`` and
# ``utc_now`` are core.schedule's: a "Z" or offset time, a naive time or a date (UTC).


def iso_z(moment: datetime) -> str:
    """ISO-8601 UTC with a "Z", second precision unless there are microseconds."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# A duration: at most 12 digits (and 6 decimals) before the unit, so that float() and
# timedelta() never see a number they cannot hold; the caller sets the longest allowed.
_DURATION = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,6})?)\s*(s|sec|m|min|h|d|w)\s*\Z", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SINCE_DAYS = 3650  # history looks back at most ten years
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # far from datetime's end: no overflow ahead


def parse_duration(text: str, *, option: str, max_days: float) -> float | None:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` as seconds; None when ``text`` is not
    written as a duration. Longer than ``max_days`` is a ``UsageError`` naming ``option``."""
    m = _DURATION.match(text)
    if not m:
        return None
    seconds = float(m.group(1)) * _UNIT_S[m.group(2).lower()]
    if seconds > max_days * 86400:
        raise UsageError(f"{option}: {text.strip()!r} is longer than {max_days:g} days")
    return seconds


def parse_since(text: str, *, now: datetime | None = None, option: str = "--since") -> datetime:
    """``24h``, ``30m``, ``7d``, ``2w``, ``90s`` ago (at most ``MAX_SINCE_DAYS``), or an
    ISO-8601 time/date in the years 1970 to 8999."""
    now = now or utc_now()
    seconds = parse_duration(text, option=option, max_days=MAX_SINCE_DAYS)
    if seconds is not None:
        return now - timedelta(seconds=seconds)
    try:
        moment = parse_time(text)
    except (ValueError, OverflowError):
        raise UsageError(
            f"{option}: {text[:40]!r} is neither a duration (30m, 24h, 7d) nor an ISO-8601 time"
        ) from None
    if not _EPOCH <= moment < _LATEST:
        raise UsageError(f"{option}: {text[:40]!r} is out of range (years 1970 to 8999)")
    return moment


def bounded_number(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type=``: a finite number in ``[low, high]`` (``(low, high]`` with
    ``low_open``). NaN, infinities and 1e308 never reach the code that would sleep or
    compute a date with them."""
    import math

    allowed = f"more than {low:g} up to {high:g}" if low_open else f"{low:g} to {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number ({allowed})") from None
        in_range = (low < value if low_open else low <= value) and value <= high
        if not (math.isfinite(value) and in_range):
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is out of range ({allowed})")
        return value

    return parse


def format_ago(iso: str | None, *, now: datetime | None = None) -> str:
    """ "3m ago" style, for humans; "-" when unknown."""
    if not iso:
        return "-"
    try:
        then = parse_time(iso)
    except ValueError:
        return iso
    seconds = int(((now or utc_now()) - then).total_seconds())
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _span(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 90 * 60:
        return f"{seconds // 60}m"
    if seconds < 36 * 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"
