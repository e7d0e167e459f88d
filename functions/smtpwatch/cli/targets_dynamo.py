"""The targets table on DynamoDB, as `smtpwatch targets` writes it.

Beyond the generic ``TargetStore`` port: conditional writes (``add`` never overwrites,
``update`` never resurrects) and a resumable, idempotent bulk import that writes only
the items whose content differs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from smtpwatch.adapters.aws_clients import error_code
from smtpwatch.adapters.dynamodb.codec import from_item, to_item
from smtpwatch.adapters.dynamodb.table import conditional, scan_as
from smtpwatch.cli.targets_backends import (
    ImportInterrupted,
    ImportReport,
    Progress,
    TargetExists,
    TargetMissing,
)
from smtpwatch.core.retry import RetryPolicy, attempts

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from smtpwatch.adapters.secret_store import SecretWriter

__all__ = ["DynamoTargets"]

BATCH_SIZE = 25  # BatchWriteItem's limit
BATCH_GET_SIZE = 100  # BatchGetItem's limit
BATCH_GET_MAX = 1000  # more ids than this: one scan instead of lookups
MAX_UNPROCESSED_ROUNDS = 12
# Throttled: waits drawn from [0, 0.05 s * 2**n], capped at 5 s (full jitter, AWS's
# advice for batch calls), so a large import settles to the table's capacity; at most
# 31.35 s of waiting per batch.
UNPROCESSED_RETRY = RetryPolicy(MAX_UNPROCESSED_ROUNDS + 1, base_s=0.05, cap_s=5.0, deadline_s=60.0)


class DynamoTargets:
    """Config items in the targets table (HASH ``target_id``) and, for ``remove``, the
    target's item in the state table: the ``Targets`` of ``--stack``/``--table``."""

    aws = True

    def __init__(
        self,
        table: str,
        *,
        state_table: str | None = None,
        secrets_prefix: str | None = None,
        region: str | None = None,
        description: str = "",
        client: DynamoDBClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table = table
        self.state_table = state_table
        self.secrets_prefix = secrets_prefix
        self.region = region
        self.description = description or f"DynamoDB table {table}"
        self._client = client
        self._sleep = sleep

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb", region_name=self.region)
        return self._client

    # -- single items ----------------------------------------------------------

    def get(self, target_id: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table, Key={"target_id": {"S": target_id}}, ConsistentRead=True
        )
        raw = response.get("Item")
        return None if raw is None else from_item(dict(raw))

    def iter_raw(self) -> Iterator[dict[str, Any]]:
        """Every item as DynamoDB attribute values (for exact comparison)."""
        return scan_as(self.client, self.table, dict, consistent=True)

    def items(self) -> Iterator[dict[str, Any]]:
        decoded = (from_item(raw) for raw in self.iter_raw())
        return iter(sorted(decoded, key=lambda item: str(item.get("target_id", ""))))

    def create(self, item: dict[str, Any]) -> None:
        """Put ``item`` only if no target has its id."""
        self._put(item, "attribute_not_exists(target_id)", TargetExists)

    def replace(self, item: dict[str, Any]) -> None:
        """Put ``item`` only if the target still exists (no resurrection by a late update)."""
        self._put(item, "attribute_exists(target_id)", TargetMissing)

    def _put(self, item: dict[str, Any], condition: str, error: type[Exception]) -> None:
        put = conditional(
            lambda: self.client.put_item(
                TableName=self.table, Item=to_item(item), ConditionExpression=condition
            )
        )
        if put is None:
            raise error(item["target_id"])

    def remove(self, target_id: str) -> bool:
        """Delete the target and its state (status, pending alert, due time). Results
        stay and expire through the results table's TTL: deleting them would cost a
        query and a write per result for nothing."""
        if not self._delete(self.table, target_id):
            return False
        if self.state_table:  # a re-added id starts as pending
            self._delete(self.state_table, target_id)
        return True

    def _delete(self, table: str, target_id: str) -> bool:
        response = self.client.delete_item(
            TableName=table, Key={"target_id": {"S": target_id}}, ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))

    def secret_writer(self, args: argparse.Namespace) -> SecretWriter:
        from smtpwatch.adapters.secret_store import SecretsManagerSecretWriter, SsmSecretWriter

        prefix = getattr(args, "secrets_prefix", None) or self.secrets_prefix or "/smtpwatch/"
        if getattr(args, "secret_store", "ssm") == "secretsmanager":
            return SecretsManagerSecretWriter(prefix, region=self.region)
        return SsmSecretWriter(prefix, region=self.region)

    def close(self) -> None:
        pass

    # -- bulk import -------------------------------------------------------------

    def import_items(
        self, items: Sequence[dict[str, Any]], progress: Progress | None = None
    ) -> ImportReport:
        """Write ``items`` (config only). Idempotent: items already stored with the same
        content are skipped. Raises ``ImportInterrupted`` when a write fails for good;
        what was written stays and a re-run converges."""
        # The Lambda functions' codec: an imported item is byte-for-byte what a re-import
        # compares against.
        wanted = [(item["target_id"], to_item(item)) for item in items]
        existing = self._existing([tid for tid, _ in wanted])
        todo = [(tid, raw) for tid, raw in wanted if existing.get(tid) != raw]
        new = sum(1 for tid, _ in todo if tid not in existing)
        unchanged = len(wanted) - len(todo)
        written = 0
        total = len(todo)
        # Progress counts every item of the file, the skipped unchanged ones first, so
        # it ends at the file's size like the local store's and the summary.
        if progress is not None:
            progress(unchanged, len(wanted))
        for start in range(0, total, BATCH_SIZE):
            batch = [{"PutRequest": {"Item": raw}} for _, raw in todo[start : start + BATCH_SIZE]]
            try:
                self._write_batch(batch)
            except Exception as exc:
                reason = error_code(exc) or str(exc) or type(exc).__name__
                raise ImportInterrupted(written, total, reason) from exc
            written += len(batch)
            if progress is not None:
                progress(unchanged + written, len(wanted))
        return ImportReport(total=len(wanted), written=written, unchanged=unchanged, new=new)

    def _existing(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored items with these ids, undecoded. A small file looks its ids up
        (BatchGetItem, 100 keys a call); a large one scans the table once, which takes
        fewer calls than 100-key lookups when most of the table is in the file."""
        if len(ids) > BATCH_GET_MAX:
            return {raw["target_id"]["S"]: raw for raw in self.iter_raw()}
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), BATCH_GET_SIZE):
            keys: list[Any] = [
                {"target_id": {"S": tid}} for tid in unique[start : start + BATCH_GET_SIZE]
            ]
            for _attempt in attempts(UNPROCESSED_RETRY, sleep=self._sleep):
                response: Any = self.client.batch_get_item(
                    RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
                )
                for raw in response.get("Responses", {}).get(self.table, []):
                    found[raw["target_id"]["S"]] = dict(raw)
                keys = list(
                    (response.get("UnprocessedKeys") or {}).get(self.table, {}).get("Keys", [])
                )
                if not keys:
                    break
            else:
                raise RuntimeError("lookups still unprocessed after retries (table throttled)")
        return found

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, list[Any]] = {self.table: requests}
        for _attempt in attempts(UNPROCESSED_RETRY, sleep=self._sleep):
            response = self.client.batch_write_item(RequestItems=pending)
            unprocessed = dict(response.get("UnprocessedItems") or {})
            if not unprocessed.get(self.table):
                return
            pending = {self.table: list(unprocessed[self.table])}
        raise RuntimeError(
            f"{len(pending[self.table])} items still unprocessed after {MAX_UNPROCESSED_ROUNDS} "
            "retries (table throttled)"
        )
