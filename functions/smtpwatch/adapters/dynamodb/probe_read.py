"""What the probe Lambda reads for one check: its target item and its state.

``read_target_and_state``: both in one BatchGetItem, unprocessed keys retried.
``delivered_item``: the item the event carries in DynamoDB's typed JSON, decoded.
``PrereadStates``: the check's StateStore, answering its first read with the state
read already.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from smtpwatch.adapters.dynamodb.codec import from_item, plain
from smtpwatch.core.retry import RetryPolicy, attempts
from smtpwatch.core.state import TargetState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from smtpwatch.adapters.dynamodb.state import DynamoStateStore
    from smtpwatch.adapters.dynamodb.targets import DynamoTargetStore
    from smtpwatch.ports import StateStore

__all__ = ["PrereadStates", "delivered_item", "read_target_and_state"]

BATCH_ATTEMPTS = 3
# Waits of at most 0.05 s and 0.1 s: then the keys left are read one by one.
BATCH_RETRY = RetryPolicy(BATCH_ATTEMPTS, base_s=0.05, cap_s=0.2, deadline_s=1.0)


def read_target_and_state(
    client: DynamoDBClient,
    target_id: str,
    *,
    targets: DynamoTargetStore,
    states: DynamoStateStore,
    targets_table: str,
    state_table: str,
) -> tuple[dict[str, Any] | None, TargetState | None]:
    """The target item (decoded) and the state, in one BatchGetItem (one round trip
    instead of two; the read units are the same). Keys left unprocessed (throttling)
    after a few tries are read one by one, through the stores."""
    tt, st = targets_table, state_table
    if tt == st:  # one table for both (not the template's layout): the plain reads
        return targets.get_item(target_id), states.get_state(target_id)
    key = {"target_id": {"S": target_id}}
    # Both eventually consistent (0.5 read units each, for the cost goal). A stale
    # state does little harm: every state write is conditional on the version (a
    # conflict re-reads consistently and decides again) and every stored result on
    # its key, so staleness can delay a change by one check, or publish an alert that
    # was sent a moment before once more under the same alert_id (delivery is
    # at-least-once anyway), but never lose an update or count a check twice. Probe
    # events are not retried (MaximumRetryAttempts 0), and a duplicate delivery runs
    # concurrently, when consistency cannot help.
    request: dict[str, Any] = {tt: {"Keys": [key]}, st: {"Keys": [key]}}
    found: dict[str, Any] = {}
    for _attempt in attempts(BATCH_RETRY):
        resp = client.batch_get_item(RequestItems=request)
        for table, items in (resp.get("Responses") or {}).items():
            if items:
                found[table] = items[0]
        request = dict(resp.get("UnprocessedKeys") or {})
        if not request:
            break
    item = from_item(found[tt]) if tt in found else None
    state = TargetState.from_dict(plain(from_item(found[st]))) if st in found else None
    if tt in request:
        item = targets.get_item(target_id)
    if st in request:
        state = states.get_state(target_id)
    return item, state


_WIRE_SCALARS: dict[str, type] = {"S": str, "N": str, "BOOL": bool}


def _wire_value(av: Any) -> bool:
    """Whether ``av`` is one AttributeValue as JSON can carry it (no ``B``/``BS``: the
    dispatcher never sends those)."""
    if not isinstance(av, Mapping) or len(av) != 1:
        return False
    ((kind, raw),) = av.items()
    if kind in _WIRE_SCALARS:
        return isinstance(raw, _WIRE_SCALARS[kind])
    if kind == "NULL":
        return raw is True
    if kind == "M":
        return isinstance(raw, Mapping) and all(
            isinstance(k, str) and _wire_value(v) for k, v in raw.items()
        )
    if kind == "L":
        return isinstance(raw, list) and all(_wire_value(v) for v in raw)
    if kind in ("SS", "NS"):
        return isinstance(raw, list) and all(isinstance(v, str) for v in raw)
    return False


def delivered_item(raw: object, target_id: str) -> tuple[dict[str, Any] | None, str]:
    """``(item, "")``: the event's target item decoded, or ``(None, why not)`` when it
    cannot be used (not wire form, another target's item); the caller then reads the
    table."""
    if not isinstance(raw, Mapping):
        return None, "not a JSON object"
    if raw.get("target_id") != {"S": target_id}:
        return None, "its target_id is not the event's"
    try:
        if all(isinstance(k, str) and _wire_value(v) for k, v in raw.items()):
            return from_item(dict(raw)), ""
        return None, "not in DynamoDB's typed JSON form"
    except Exception as exc:  # {"N": "soon"}; nesting deeper than recursion allows
        return None, f"undecodable: {type(exc).__name__}"


_UNSET: Any = object()


class PrereadStates:
    """The StateStore for one check: the first ``get_state`` of the target answers with
    the state already read (with the target item, or alone when the event brought the
    item); every later read (after a conflict) and every write go to the table."""

    def __init__(self, store: StateStore, target_id: str, state: TargetState | None) -> None:
        self._store = store
        self._target_id = target_id
        self._state: TargetState | None = state

    def get_state(self, target_id: str) -> TargetState | None:
        if target_id == self._target_id and self._state is not _UNSET:
            state, self._state = self._state, _UNSET
            return state
        return self._store.get_state(target_id)

    def save_state(self, state: TargetState) -> bool:
        return bool(self._store.save_state(state))

    def iter_states(self) -> Iterator[TargetState]:
        return self._store.iter_states()
