"""The stores a command reads and writes: the local SQLite database or DynamoDB tables.

``--db PATH`` (else ``$SMTPWATCH_DB``, else the user's data directory) is the default;
``--stack``/``--table`` choose DynamoDB (``cli.aws_backend``, which alone loads boto3).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from smtpwatch.cli.main import UsageError
from smtpwatch.ports import ResultStore, StateStore, TargetStore

if TYPE_CHECKING:
    from smtpwatch.local.sqlite_store import SqliteStore

__all__ = [
    "Backend",
    "add_backend_arguments",
    "open_backend",
    "open_local_store",
    "open_sqlite",
    "sqlite_backend",
]


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
    # The deployed locations of a stack (its region, then its ProbeRegions), when the
    # CLI read them (--stack); None otherwise. The local store is always one location.
    locations: tuple[str, ...] | None = None
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
        from smtpwatch.cli.aws_backend import MAX_PASSING_RESULT_S

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
        from smtpwatch.cli.aws_backend import open_dynamodb

        return open_dynamodb(args, set(need))
    return open_sqlite(db, create=create)


def open_local_store(db: str | None) -> SqliteStore:
    """The SQLite store of ``--db`` (else ``$SMTPWATCH_DB``, else the data dir)."""
    from smtpwatch.local.sqlite_store import SqliteStore, StoreError, resolve_db_path

    try:
        return SqliteStore(resolve_db_path(db))
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def open_sqlite(db: str | None, *, create: bool = True) -> Backend:
    """The SQLite backend of ``--db``; with ``create=False`` a missing database reads
    as empty and is not created."""
    from smtpwatch.local.sqlite_store import resolve_db_path

    path = resolve_db_path(db)
    if not create and not path.exists():
        return _empty_sqlite(path)
    store = open_local_store(db)
    return sqlite_backend(store, close=store.close)


def sqlite_backend(
    store: SqliteStore, *, path: Path | None = None, close: Callable[[], None] | None = None
) -> Backend:
    """``store`` behind all three ports; messages name ``path`` (default: the store's)."""
    path = store.path if path is None else path
    return Backend(
        kind="sqlite",
        description=f"SQLite {path}",
        targets=store,
        states=store,
        results=store,
        db_path=path,
        _close=close,
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

    return sqlite_backend(store, path=path, close=close)
