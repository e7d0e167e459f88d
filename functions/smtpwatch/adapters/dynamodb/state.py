"""StateStore on DynamoDB: one state item per target, written only on a change,
conditional on the ``version`` read (a racing writer loses; nothing is merged)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from smtpwatch.adapters.dynamodb.codec import from_item, plain, to_item
from smtpwatch.adapters.dynamodb.table import conditional, scan
from smtpwatch.core.state import TargetState
from smtpwatch.service.dispatch_ports import is_bookkeeping_id

__all__ = ["DynamoStateStore"]


class DynamoStateStore:
    """The state items of the state table (its bookkeeping items: ``DynamoBookkeeping``)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def get_state(self, target_id: str, *, consistent: bool = True) -> TargetState | None:
        """``consistent=False``: half the read units, for the probe's first read (its
        writes are conditional on the version, so a stale read cannot win)."""
        resp = self._client.get_item(
            TableName=self._table, Key={"target_id": {"S": target_id}}, ConsistentRead=consistent
        )
        item = resp.get("Item")
        if item is None:
            return None
        return TargetState.from_dict(plain(from_item(item)))

    def save_state(self, state: TargetState) -> bool:
        values = {k: v for k, v in state.to_dict().items() if v is not None}
        prev = state.version - 1
        if prev <= 0:
            # First save: no item yet, or the dispatcher's first-dispatch stub (no version).
            condition = "attribute_not_exists(target_id) OR attribute_not_exists(version)"
            names: dict[str, str] | None = None
            vals: dict[str, Any] | None = None
        else:
            condition = "#v = :prev"
            names = {"#v": "version"}
            vals = {":prev": {"N": str(prev)}}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": to_item(values),
            "ConditionExpression": condition,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
            kwargs["ExpressionAttributeValues"] = vals
        return conditional(lambda: self._client.put_item(**kwargs)) is not None

    def iter_states(self) -> Iterator[TargetState]:
        for raw in self.iter_raw():
            if not is_bookkeeping_id(str(raw.get("target_id", "#"))):
                yield TargetState.from_dict(plain(raw))

    def iter_raw(
        self, *, segments: int = 1, projection: tuple[str, ...] = ()
    ) -> Iterator[dict[str, Any]]:
        """Every item, bookkeeping included, decoded but not interpreted; only the
        ``projection`` attributes when given."""
        return scan(self._client, self._table, segments=segments, projection=projection)
