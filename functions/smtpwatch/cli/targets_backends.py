"""Where `smtpwatch targets` keeps targets: the local SQLite store or a DynamoDB table.

``open_targets`` picks the store from ``--db``/``--stack``/``--table``; both stores
offer the ``Targets`` protocol the subcommand handlers use.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from smtpwatch.cli.main import UsageError

if TYPE_CHECKING:
    from smtpwatch.adapters.secret_store import SecretWriter
    from smtpwatch.local.sqlite_store import SqliteStore

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "ImportInterrupted",
    "ImportReport",
    "Progress",
    "SqliteTargets",
    "TargetExists",
    "TargetMissing",
    "Targets",
    "open_targets",
    "opened",
]

EXIT_OK = 0
EXIT_FAILED = 1  # the store failed (AWS error, interrupted import): retry may help

Progress = Callable[[int, int], None]  # (done, total)


class TargetExists(Exception):
    """``create``: a target with this id is stored already."""


class TargetMissing(Exception):
    """``replace``: the target is no longer stored."""


class ImportInterrupted(Exception):
    """The import stopped part-way; what was written stays and a re-run finishes it."""

    def __init__(self, written: int, total: int, reason: str) -> None:
        self.written = written
        self.total = total
        self.reason = reason
        super().__init__(f"stopped after {written} of {total} items were written: {reason}")


@dataclass(frozen=True, slots=True)
class ImportReport:
    total: int
    written: int
    unchanged: int
    new: int


class Targets(Protocol):
    """The target items of one store, as the subcommands read and write them."""

    aws: bool  # the AWS limits apply
    description: str  # for messages: "SQLite /path/db", "DynamoDB table T"

    def get(self, target_id: str) -> dict[str, Any] | None: ...

    def items(self) -> Iterator[dict[str, Any]]:
        """Every item, by target id."""
        ...

    def create(self, item: dict[str, Any]) -> None:
        """Store a new target; ``TargetExists`` if its id is taken."""
        ...

    def replace(self, item: dict[str, Any]) -> None:
        """Store a changed target; ``TargetMissing`` if it was removed meanwhile."""
        ...

    def remove(self, target_id: str) -> bool:
        """Remove the target with its state; False when there was none."""
        ...

    def import_items(self, items: list[dict[str, Any]], progress: Progress) -> ImportReport: ...

    def secret_writer(self, args: argparse.Namespace) -> SecretWriter: ...

    def close(self) -> None: ...


class SqliteTargets:
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
        self._put(item, stored=False, error=TargetExists)

    def replace(self, item: dict[str, Any]) -> None:
        self._put(item, stored=True, error=TargetMissing)

    def _put(self, item: dict[str, Any], *, stored: bool, error: type[Exception]) -> None:
        """Put ``item`` if the target is (``stored``) or is not yet in the store."""
        if (self.store.get_item(item["target_id"]) is not None) != stored:
            raise error(item["target_id"])
        self.store.put_items([item])

    def remove(self, target_id: str) -> bool:
        # Locally, state and history go with the target: nothing else would ever
        # expire them, and a new target with the same id must start fresh.
        found = self.store.delete_item(target_id)
        if found:
            self.store.purge(target_id)
        return found

    def import_items(self, items: list[dict[str, Any]], progress: Progress) -> ImportReport:
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


def open_targets(args: argparse.Namespace) -> Targets:
    """The store the options name: SQLite unless ``--stack`` or ``--table``."""
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
        return SqliteTargets(
            backend.targets,  # type: ignore[arg-type]
            backend.description,
            backend.close,
            backend.db_path,
        )
    from smtpwatch.cli.targets_dynamo import DynamoTargets

    region = getattr(args, "region", None)
    prefix = getattr(args, "secrets_prefix", None)
    if not stack:
        return DynamoTargets(
            str(table),
            state_table=getattr(args, "state_table", None),
            secrets_prefix=prefix,
            region=region,
            description=f"DynamoDB table {table}",
        )
    from smtpwatch.cli.aws_backend import stack_outputs

    outputs = stack_outputs(stack, region)
    table = outputs.get("TargetsTableName")
    if not table:
        raise UsageError(
            f"--stack {stack}: its outputs name no TargetsTableName "
            f"(outputs: {', '.join(sorted(outputs)) or 'none'})"
        )
    return DynamoTargets(
        table,
        state_table=outputs.get("StateTableName"),
        secrets_prefix=prefix or outputs.get("SecretsPrefix"),
        region=region,
        description=f"DynamoDB table {table} (stack {stack})",
    )


@contextmanager
def opened(args: argparse.Namespace) -> Iterator[Targets]:
    """``open_targets``, closed when the block ends."""
    store = open_targets(args)
    try:
        yield store
    finally:
        store.close()
