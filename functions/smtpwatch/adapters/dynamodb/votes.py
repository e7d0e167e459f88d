"""Votes, open slots and location health on DynamoDB, in the stack's own two tables.

Open slot ``#slot#<target>#<slot>`` (state table; the claim is its conditional delete),
vote ``#vote#<target>`` / ``<slot>#<location>`` (results table, the results' codec,
put once), health ``#location#<name>`` (state table, conditional on ``version``) and
per-tick counts ``#loctick#<tick>``. Nothing read from a vote item is trusted."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from smtpwatch.adapters.dynamodb.codec import from_item, plain
from smtpwatch.adapters.dynamodb.table import conditional
from smtpwatch.adapters.result_codec import ITEM_LIMIT, decode_item, encode_item, item_size
from smtpwatch.core.alerting.location import LOCATION_TARGET_PREFIX
from smtpwatch.core.locations import MAX_LOCATIONS, OpenSlot
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.retry import RetryPolicy, attempts
from smtpwatch.core.schedule import parse_ts
from smtpwatch.service.location_health import HEALTH_STATUSES, LocationCounts, LocationHealth

__all__ = [
    "LOCATION_PREFIX",
    "LOCTICK_PREFIX",
    "SLOT_PREFIX",
    "VOTE_PREFIX",
    "DynamoLocationHealthStore",
    "DynamoVoteStore",
    "slot_of",
]

log = logging.getLogger("smtpwatch.vote")

SLOT_PREFIX = "#slot#"
VOTE_PREFIX = "#vote#"
LOCATION_PREFIX = LOCATION_TARGET_PREFIX
LOCTICK_PREFIX = "#loctick#"
_SLOT_TTL_S = 86_400  # an open slot outlives its deadline by a day (a sweep that stopped)
_TICK_TTL_S = 3_600
_VOTE_TTL_S = 2 * 86_400  # a vote outlives its slot by two days (the verdict keeps it)
_MAX_NAME = 64  # a location's name, at most (``parse_location``)
_MAX_TEXT = 64  # a slot's timestamps, a correlation id, a health item's texts
_VOTE_BYTES = 2 * ITEM_LIMIT  # a vote item larger than this is not ours: not decoded
_PENDING_BYTES = 16_384  # a location alert's document (a few hundred bytes in fact)
_NEWER_SLOTS = 4  # newer slots looked at before a late slot's verdict is applied
_BATCH = RetryPolicy(10, base_s=0.05, cap_s=2.0, deadline_s=30.0)


def slot_item_id(target_id: str, scheduled_at: str) -> str:
    return f"{SLOT_PREFIX}{target_id}#{scheduled_at}"


class DynamoVoteStore:
    """``VoteStore``: open slots in the state table, votes in the results table (one
    item per slot and location, at most 1 KB: one write unit, like a result)."""

    def __init__(
        self,
        client: Any,
        state_table: str,
        results_table: str,
        *,
        retention_s: int = 30 * 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._states = state_table
        self._results = results_table
        self._retention_s = retention_s
        self._clock = clock

    # --- open slots (the dispatcher)
    def open_slot(self, slot: OpenSlot) -> None:
        self._client.put_item(TableName=self._states, Item=_slot_item(slot))

    def open_slots(self, slots: Sequence[OpenSlot]) -> None:
        """``open_slot`` for many, 25 per request; throttled ones are sent again."""
        items = [{"PutRequest": {"Item": _slot_item(s)}} for s in slots]
        for start in range(0, len(items), 25):
            pending = items[start : start + 25]
            for _attempt in attempts(_BATCH, sleep=time.sleep):
                resp = self._client.batch_write_item(RequestItems={self._states: pending})
                pending = resp.get("UnprocessedItems", {}).get(self._states, [])
                if not pending:
                    break
            if pending:
                raise RuntimeError(f"DynamoDB {self._states}: {len(pending)} slots not opened")

    def claim(self, target_id: str, scheduled_at: str) -> bool:
        """The conditional delete of the open slot: it succeeds for one caller only."""
        deleted = conditional(
            lambda: self._client.delete_item(
                TableName=self._states,
                Key={"target_id": {"S": slot_item_id(target_id, scheduled_at)}},
                ConditionExpression="attribute_exists(target_id)",
            )
        )
        return deleted is not None

    # --- votes
    def put_vote(self, target_id: str, scheduled_at: str, result: ProbeResult) -> bool:
        location = result.location
        if not _name_ok(location):
            raise ValueError("a vote needs its location (1 to 64 characters)")
        own = result.replace(target_id=VOTE_PREFIX + target_id, locations=())
        item = encode_item(
            own, ts=f"{scheduled_at}#{location}", expires_at=self._vote_ttl(scheduled_at)
        )
        put = conditional(
            lambda: self._client.put_item(
                TableName=self._results,
                Item=item,
                ConditionExpression="attribute_not_exists(ts)",
            )
        )
        return put is not None

    def _vote_ttl(self, scheduled_at: str) -> int:
        """A vote goes ``_VOTE_TTL_S`` after its slot (or with the results, if sooner):
        the verdict keeps what it says of each location; the raw vote is for diagnosis."""
        keep = min(_VOTE_TTL_S, self._retention_s)
        try:
            return int(parse_ts(scheduled_at).timestamp()) + keep
        except ValueError:
            return int(self._clock()) + keep

    def votes(self, target_id: str, scheduled_at: str) -> dict[str, ProbeResult]:
        prefix = f"{scheduled_at}#"
        resp = self._client.query(
            TableName=self._results,
            KeyConditionExpression="target_id = :t AND begins_with(ts, :p)",
            ExpressionAttributeValues={
                ":t": {"S": VOTE_PREFIX + target_id},
                ":p": {"S": prefix},
            },
            ConsistentRead=True,
            Limit=MAX_LOCATIONS,
        )
        if resp.get("LastEvaluatedKey"):
            log.warning(
                "more than %d votes for one slot: the rest ignored",
                MAX_LOCATIONS,
                extra={"target_id": target_id, "scheduled_at": scheduled_at},
            )
        found: dict[str, ProbeResult] = {}
        for item in resp.get("Items", ())[:MAX_LOCATIONS]:
            vote = _vote_of(item, target_id, prefix)
            if vote is not None:
                found[vote.location] = vote
        return found

    def decided_after(self, target_id: str, scheduled_at: str) -> str | None:
        """One consistent Query of the target's votes after the slot (nearest first,
        bounded), then a consistent read of each newer slot's open item, nearest first
        (at most ``_NEWER_SLOTS``): the first one gone (claimed) is returned."""
        resp = self._client.query(
            TableName=self._results,
            KeyConditionExpression="target_id = :t AND ts > :after",
            ExpressionAttributeValues={
                ":t": {"S": VOTE_PREFIX + target_id},
                ":after": {"S": f"{scheduled_at}$"},  # after every "<slot>#<location>"
            },
            ProjectionExpression="ts",
            ConsistentRead=True,
            Limit=2 * MAX_LOCATIONS,
        )
        newer: list[str] = []
        for item in resp.get("Items", ()):
            ts = (item.get("ts") or {}).get("S")
            at = ts.split("#", 1)[0] if isinstance(ts, str) else ""
            if at > scheduled_at and len(at) <= _MAX_TEXT and at not in newer:
                newer.append(at)
        for at in newer[:_NEWER_SLOTS]:
            open_item = self._client.get_item(
                TableName=self._states,
                Key={"target_id": {"S": slot_item_id(target_id, at)}},
                ProjectionExpression="target_id",
                ConsistentRead=True,
            )
            if "Item" not in open_item:
                return at
        return None


class DynamoLocationHealthStore:
    """``LocationHealthStore``: ``#location#<name>`` items and ``#loctick#`` counters."""

    def __init__(self, client: Any, table: str, *, clock: Callable[[], float] = time.time):
        self._client = client
        self._table = table
        self._clock = clock

    def get_location(self, location: str) -> LocationHealth | None:
        resp = self._client.get_item(
            TableName=self._table,
            Key={"target_id": {"S": LOCATION_PREFIX + location}},
            ConsistentRead=True,
        )
        item = resp.get("Item")
        return None if item is None else _health_of(location, item)

    def save_location(self, health: LocationHealth) -> bool:
        item: dict[str, Any] = {
            "target_id": {"S": LOCATION_PREFIX + health.location},
            "status": {"S": health.status},
            "version": {"N": str(health.version)},
        }
        for key in ("since", "as_of"):
            value = getattr(health, key)
            if value:
                item[key] = {"S": value}
        if health.pending:
            item["pending"] = {"S": json.dumps(dict(health.pending), separators=(",", ":"))}
        if health.version <= 1:
            condition, values = "attribute_not_exists(#v)", None
        else:
            condition, values = "#v = :prev", {":prev": {"N": str(health.version - 1)}}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#v": "version"},
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        return conditional(lambda: self._client.put_item(**kwargs)) is not None

    def add_location_counts(
        self, bucket: str, *, dispatched: Mapping[str, int], failed: Mapping[str, int]
    ) -> None:
        adds = [("d:" + k, n) for k, n in dispatched.items()]
        adds += [("f:" + k, n) for k, n in failed.items()]
        adds = [(name, n) for name, n in adds if n and _name_ok(name[2:])][: 2 * MAX_LOCATIONS]
        if not adds:
            return
        names = {f"#a{i}": name for i, (name, _) in enumerate(adds)}
        values: dict[str, Any] = {f":n{i}": {"N": str(int(n))} for i, (_, n) in enumerate(adds)}
        values[":exp"] = {"N": str(int(self._clock()) + _TICK_TTL_S)}
        self._client.update_item(
            TableName=self._table,
            Key={"target_id": {"S": LOCTICK_PREFIX + bucket}},
            UpdateExpression="ADD "
            + ", ".join(f"#a{i} :n{i}" for i in range(len(adds)))
            + " SET expires_at = :exp",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def location_counts(self, bucket: str) -> LocationCounts:
        resp = self._client.get_item(
            TableName=self._table,
            Key={"target_id": {"S": LOCTICK_PREFIX + bucket}},
            ConsistentRead=True,
        )
        dispatched: dict[str, int] = {}
        failed: dict[str, int] = {}
        for name, value in _numbers(resp.get("Item") or {}):
            book = dispatched if name.startswith("d:") else failed
            if name[:2] in ("d:", "f:") and _name_ok(name[2:]) and len(book) < MAX_LOCATIONS:
                book[name[2:]] = value
        return LocationCounts(dispatched, failed)


def slot_of(item: Mapping[str, Any]) -> OpenSlot | None:
    """The ``OpenSlot`` of a decoded ``#slot#`` state item (``plain(from_item(...))``);
    None, logged, when anything in it is unusable."""
    try:
        target_id, scheduled_at = item["for_target"], item["scheduled_at"]
        deadline, names = item["deadline"], item["locations"]
        correlation = item.get("correlation_id")
        if not all(isinstance(v, str) for v in (target_id, scheduled_at, deadline)):
            raise TypeError("texts expected")
        if item.get("target_id") != slot_item_id(target_id, scheduled_at):
            raise ValueError("key does not match the slot")
        parse_ts(scheduled_at), parse_ts(deadline)
        if not isinstance(names, list) or not 0 < len(names) <= MAX_LOCATIONS:
            raise ValueError("locations: 1 to 16 expected")
        if not all(_name_ok(n) for n in names) or len(set(names)) != len(names):
            raise ValueError("locations: unusable names")
        if not (isinstance(correlation, str) and 0 < len(correlation) <= 128):
            correlation = None
        if len(target_id) > 128 or len(scheduled_at) > _MAX_TEXT or len(deadline) > _MAX_TEXT:
            raise ValueError("too long")
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("open slot item unusable: ignored (%s)", exc)
        return None
    return OpenSlot(target_id, scheduled_at, tuple(names), deadline, correlation)


# ---- internals -----------------------------------------------------------------------


def _slot_item(slot: OpenSlot) -> dict[str, Any]:
    try:
        expires = int(parse_ts(slot.deadline).timestamp()) + _SLOT_TTL_S
    except ValueError:
        expires = int(time.time()) + _SLOT_TTL_S
    item: dict[str, Any] = {
        "target_id": {"S": slot_item_id(slot.target_id, slot.scheduled_at)},
        "for_target": {"S": slot.target_id},
        "scheduled_at": {"S": slot.scheduled_at},
        "locations": {"L": [{"S": n} for n in slot.locations]},
        "deadline": {"S": slot.deadline},
        "expires_at": {"N": str(expires)},
    }
    if slot.correlation_id:
        item["correlation_id"] = {"S": slot.correlation_id}
    return item


def _name_ok(name: object) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= _MAX_NAME
        and name.isprintable()
        and name.strip() == name
    )


def _vote_of(item: dict[str, Any], target_id: str, prefix: str) -> ProbeResult | None:
    """One vote item, checked: its location (the key's) usable, its size ours, its
    document readable. Anything else is ignored and logged."""
    ts = (item.get("ts") or {}).get("S")
    name = ts[len(prefix) :] if isinstance(ts, str) and ts.startswith(prefix) else None
    try:
        if not _name_ok(name):
            raise ValueError("no usable location in its key")
        if item_size(item) > _VOTE_BYTES:
            raise ValueError(f"{item_size(item)} bytes")
        result = decode_item(item)
        if result is None:
            raise ValueError("no result document")
    except Exception as exc:  # a hostile item: any failure to read it is its own
        reason = str(exc)[:200]
        log.warning("vote item unusable: ignored (%s)", reason, extra={"target_id": target_id})
        return None
    return result.replace(target_id=target_id, location=name, locations=())


def _health_of(location: str, item: dict[str, Any]) -> LocationHealth:
    d = plain(from_item(item))
    status = d.get("status") if d.get("status") in HEALTH_STATUSES else "ok"
    version = d.get("version")
    since, as_of = (_text(d.get(k)) for k in ("since", "as_of"))
    usable = isinstance(version, int) and version >= 0
    pending = _pending(d.get("pending"))
    if pending is not None and not usable:
        # No conditional write can clear it: sent, it would go out at every tick.
        log.warning("pending location alert of an item without a usable version: ignored")
        pending = None
    return LocationHealth(location, str(status), since, as_of, version if usable else 0, pending)


def _pending(text: object) -> dict[str, Any] | None:
    """A health item's pending alert document, or None when there is none usable."""
    if not isinstance(text, str) or not text or len(text) > _PENDING_BYTES:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        log.warning("pending location alert unusable: ignored")
        return None
    return doc


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and len(value) <= _MAX_TEXT else None


def _numbers(item: dict[str, Any]) -> Iterable[tuple[str, int]]:
    for name, value in item.items():
        try:
            yield name, max(0, int(value["N"]))
        except (KeyError, TypeError, ValueError):
            continue
