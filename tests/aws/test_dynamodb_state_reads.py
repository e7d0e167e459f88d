"""How the state store reads on DynamoDB (moto, tables from template.yaml): a check's
state read is strongly consistent unless asked otherwise, and a projected scan returns
only the attributes asked for."""

from __future__ import annotations

from typing import Any

from smtpwatch.adapters.dynamodb import DynamoStateStore
from smtpwatch.core.state import TargetState, TargetStatus


def _consistent_reads(ddb: Any) -> list[bool | None]:
    """The ConsistentRead parameter of every GetItem the client sends from now on."""
    seen: list[bool | None] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params.get("ConsistentRead"))

    ddb.meta.events.register("provide-client-params.dynamodb.GetItem", record)
    return seen


def test_a_state_read_is_strongly_consistent_unless_asked_otherwise(
    ddb: Any, tables: dict[str, str]
) -> None:
    # A check decides on the state it reads: a stale read could announce an alert twice.
    store = DynamoStateStore(ddb, tables["StateTable"])
    store.save_state(TargetState("mx1", status=TargetStatus.UP, version=1))
    seen = _consistent_reads(ddb)
    assert store.get_state("mx1") is not None
    store.get_state("mx1", consistent=False)  # the probe's first, cheaper read
    assert seen == [True, False]


def test_a_projected_scan_returns_only_the_attributes_asked_for(
    ddb: Any, tables: dict[str, str]
) -> None:
    store = DynamoStateStore(ddb, tables["StateTable"])
    store.save_state(
        TargetState("mx1", status=TargetStatus.DOWN, consecutive_failures=3, version=1)
    )
    items = list(store.iter_raw(projection=("target_id", "version")))
    assert items == [{"target_id": "mx1", "version": 1}]
    full = list(store.iter_raw(segments=2))
    assert len(full) == 1 and full[0]["status"] == "down"
