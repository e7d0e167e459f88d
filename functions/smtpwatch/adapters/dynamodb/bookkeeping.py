"""The dispatcher's and the tick gate's own items in the state table (ids start with ``#``).

``#dispatcher`` (claimed windows), first-dispatch stubs, ``#tick#<bucket>`` counters,
``#fail#<tick>#<target>`` markers and ``#episode``; every change a conditional write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smtpwatch.adapters.dynamodb.codec import from_item, plain
from smtpwatch.adapters.dynamodb.table import conditional
from smtpwatch.service.dispatch_ports import DispatcherMark

__all__ = [
    "DISPATCHER_ID",
    "EPISODE_ID",
    "FAIL_MARK_PREFIX",
    "TICK_PREFIX",
    "DynamoBookkeeping",
    "EpisodeRecord",
    "TickCounts",
]

DISPATCHER_ID = "#dispatcher"
TICK_PREFIX = "#tick#"
FAIL_MARK_PREFIX = "#fail#"  # one per (tick, failing target): the counter's dedupe
EPISODE_ID = "#episode"  # the current (or last) monitor-degraded episode
_TICK_TTL_S = 3_600  # tick counters only matter for the minutes after their tick


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """The item ``#episode``: ``since`` the tick that began it, ``held`` target id → when
    its down alert was first held, ``released`` target ids handed out after the maximum
    hold, ``ended_at`` once the housekeeping ended it."""

    since: str
    held: dict[str, str]
    released: frozenset[str]
    ended_at: str | None

    @property
    def open(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class TickCounts:
    dispatched: int
    failures: int
    degraded_sent: bool


class DynamoBookkeeping:
    """The bookkeeping items; ``service.dispatch_ports.DispatchBookkeeping`` and what
    ``adapters.tick_gate`` needs."""

    def __init__(self, client: Any, table: str, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    # --- first dispatch of a target never seen before
    def claim_first_dispatch(self, target_id: str, scheduled_at: str) -> bool:
        """Record that ``target_id`` was dispatched for the first time at ``scheduled_at``.
        False when any item exists already (another dispatcher run claimed it, or the
        probe wrote its state): then this run must not dispatch it."""
        put = conditional(
            lambda: self._client.put_item(
                TableName=self._table,
                Item={
                    "target_id": {"S": target_id},
                    "first_scheduled_at": {"S": scheduled_at},
                },
                ConditionExpression="attribute_not_exists(target_id)",
            )
        )
        return put is not None

    def release_first_dispatch(self, target_id: str, scheduled_at: str) -> None:
        """Undo ``claim_first_dispatch`` after a failed invoke, so the next tick treats
        the target as new again (instead of waiting for its regular slot)."""
        conditional(
            lambda: self._client.delete_item(
                TableName=self._table,
                Key={"target_id": {"S": target_id}},
                ConditionExpression="first_scheduled_at = :s AND attribute_not_exists(version)",
                ExpressionAttributeValues={":s": {"S": scheduled_at}},
            )
        )

    # --- tick windows
    def get_dispatcher_mark(self) -> DispatcherMark:
        resp = self._client.get_item(
            TableName=self._table, Key={"target_id": {"S": DISPATCHER_ID}}, ConsistentRead=True
        )
        item = resp.get("Item")
        if item is None:
            return DispatcherMark()
        d = plain(from_item(item))
        return DispatcherMark(
            done_until=d.get("done_until"),
            claim_start=d.get("claim_start"),
            claim_done=bool(d.get("claim_done", True)),
            lease_until=float(d.get("lease_until") or 0),
            version=int(d.get("version") or 0),
        )

    def claim_window(self, read: DispatcherMark, start: str, end: str, lease_s: float) -> bool:
        """Claim (start, end] if the bookkeeping item is still what ``read`` saw."""
        if read.version == 0:
            condition = "attribute_not_exists(target_id)"
            values: dict[str, Any] = {}
        else:
            condition = "#v = :v"
            values = {":v": {"N": str(read.version)}}
        values.update(
            {
                ":end": {"S": end},
                ":start": {"S": start},
                ":no": {"BOOL": False},
                ":lease": {"N": str(round(self._clock() + lease_s, 3))},
                ":nv": {"N": str(read.version + 1)},
            }
        )
        update = conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"target_id": {"S": DISPATCHER_ID}},
                UpdateExpression=(
                    "SET done_until = :end, claim_start = :start, claim_done = :no, "
                    "lease_until = :lease, #v = :nv"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues=values,
            )
        )
        return update is not None

    def complete_window(self, start: str, end: str) -> bool:
        """Mark our claim done — unless a later run has claimed past it meanwhile."""
        update = conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"target_id": {"S": DISPATCHER_ID}},
                UpdateExpression="SET claim_done = :yes",
                ConditionExpression="done_until = :end AND claim_start = :start",
                ExpressionAttributeValues={
                    ":yes": {"BOOL": True},
                    ":end": {"S": end},
                    ":start": {"S": start},
                },
            )
        )
        return update is not None

    # --- monitor degraded (docs/design.md#monitor-degraded): one counter item per tick
    def record_dispatched(self, scheduled_at: str, count: int) -> None:
        """The dispatcher adds how many probes it invoked for ``scheduled_at``."""
        self._client.update_item(
            TableName=self._table,
            Key={"target_id": {"S": TICK_PREFIX + scheduled_at}},
            UpdateExpression="ADD dispatched :n SET expires_at = :exp",
            ExpressionAttributeValues={
                ":n": {"N": str(count)},
                ":exp": {"N": str(int(self._clock()) + _TICK_TTL_S)},
            },
        )

    def count_tick_failure(self, scheduled_at: str, target_id: str) -> bool:
        """Count ``target_id``'s failed probe of the tick once, however often its event
        is delivered: a marker item ``#fail#<tick>#<target>`` (conditional put, gone by
        TTL with the tick) guards the ADD. False: already counted. One more write, for
        failing checks only. A crash between the two writes undercounts by one, which
        errs toward sending down alerts rather than holding them."""
        put = conditional(
            lambda: self._client.put_item(
                TableName=self._table,
                Item={
                    "target_id": {"S": f"{FAIL_MARK_PREFIX}{scheduled_at}#{target_id}"},
                    "expires_at": {"N": str(int(self._clock()) + _TICK_TTL_S)},
                },
                ConditionExpression="attribute_not_exists(target_id)",
            )
        )
        if put is None:
            return False
        self.add_tick_failure(scheduled_at)
        return True

    def add_tick_failure(self, scheduled_at: str) -> TickCounts:
        """Count one failed probe of the tick; returns the counts after it (atomic ADD)."""
        resp = self._client.update_item(
            TableName=self._table,
            Key={"target_id": {"S": TICK_PREFIX + scheduled_at}},
            UpdateExpression="ADD failures :one SET expires_at = :exp",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":exp": {"N": str(int(self._clock()) + _TICK_TTL_S)},
            },
            ReturnValues="ALL_NEW",
        )
        return _tick_counts(resp.get("Attributes", {}))

    def get_tick_counts(self, bucket: str) -> TickCounts:
        resp = self._client.get_item(
            TableName=self._table,
            Key={"target_id": {"S": TICK_PREFIX + bucket}},
            ConsistentRead=True,
        )
        return _tick_counts(resp.get("Item") or {})

    def release_degraded_alert(self, bucket: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"target_id": {"S": TICK_PREFIX + bucket}},
            UpdateExpression="REMOVE degraded_sent",
        )

    def claim_degraded_alert(self, scheduled_at: str) -> bool:
        """True for exactly one caller per tick: it sends the monitor-degraded alert."""
        update = conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"target_id": {"S": TICK_PREFIX + scheduled_at}},
                UpdateExpression="SET degraded_sent = :yes",
                ConditionExpression="attribute_not_exists(degraded_sent)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        )
        return update is not None

    # --- the monitor-degraded episode: one item, every change conditional on its start
    def get_episode(self) -> EpisodeRecord | None:
        resp = self._client.get_item(
            TableName=self._table, Key={"target_id": {"S": EPISODE_ID}}, ConsistentRead=True
        )
        d = plain(from_item(resp.get("Item") or {}))
        if not d.get("since"):
            return None
        return EpisodeRecord(
            since=str(d["since"]),
            held={str(k): str(v) for k, v in (d.get("held") or {}).items()},
            released=frozenset(str(k) for k in (d.get("released") or {})),
            ended_at=str(d["ended_at"]) if d.get("ended_at") else None,
        )

    def open_episode(self, since: str) -> bool:
        """Begin an episode with the tick ``since`` unless one that began at or after it
        is still open. Replaces an ended one, or an open one that began earlier (left
        open when no housekeeping ran to end it). True: this call began it."""
        put = conditional(
            lambda: self._client.put_item(
                TableName=self._table,
                Item={
                    "target_id": {"S": EPISODE_ID},
                    "since": {"S": since},
                    "held": {"M": {}},
                    "released": {"M": {}},
                },
                ConditionExpression=(
                    "attribute_not_exists(since) OR attribute_exists(ended_at) OR since < :s"
                ),
                ExpressionAttributeValues={":s": {"S": since}},
            )
        )
        return put is not None

    def hold_in_episode(self, since: str, target_id: str, at: str) -> str | None:
        """Record that the open episode ``since`` holds ``target_id``'s down alert; returns
        when it was first held (None: that episode is no longer the open one)."""
        resp = conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"target_id": {"S": EPISODE_ID}},
                UpdateExpression="SET held.#t = if_not_exists(held.#t, :at)",
                ConditionExpression="since = :s AND attribute_not_exists(ended_at)",
                ExpressionAttributeNames={"#t": target_id},
                ExpressionAttributeValues={":at": {"S": at}, ":s": {"S": since}},
                ReturnValues="UPDATED_NEW",
            )
        )
        if resp is None:
            return None
        held = plain(from_item(resp.get("Attributes") or {})).get("held") or {}
        return str(held.get(target_id) or at)

    def release_in_episode(self, since: str, target_id: str, at: str) -> bool:
        """True for exactly one caller: ``target_id``'s held alert is handed out."""
        return self._episode_update(
            since,
            "SET released.#t = :at",
            "attribute_not_exists(released.#t)",
            {"#t": target_id},
            at,
        )

    def end_episode(self, since: str, at: str) -> bool:
        """True for exactly one caller: the episode ``since`` is over."""
        return self._episode_update(
            since, "SET ended_at = :at", "attribute_not_exists(ended_at)", {}, at
        )

    def _episode_update(
        self, since: str, update: str, condition: str, names: dict[str, str], at: str
    ) -> bool:
        done = conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"target_id": {"S": EPISODE_ID}},
                UpdateExpression=update,
                ConditionExpression=f"since = :s AND {condition}",
                ExpressionAttributeValues={":at": {"S": at}, ":s": {"S": since}},
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        )
        return done is not None


def _tick_counts(item: dict[str, Any]) -> TickCounts:
    d = plain(from_item(item))
    return TickCounts(
        dispatched=int(d.get("dispatched") or 0),
        failures=int(d.get("failures") or 0),
        degraded_sent=bool(d.get("degraded_sent")),
    )
