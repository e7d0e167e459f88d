"""The stores on DynamoDB, the deployed stack's tables (template.yaml).

targets (HASH ``target_id``: the user's items), state (HASH ``target_id``: one state
item per target, plus bookkeeping items whose ids start with ``#``), results (HASH
``target_id``, RANGE ``ts``; TTL ``expires_at``). The low-level client with our own
codec (``codec``), one module per store.
"""

from __future__ import annotations

from smtpwatch.adapters.dynamodb.bookkeeping import (
    DISPATCHER_ID,
    DynamoBookkeeping,
    EpisodeRecord,
    TickCounts,
)
from smtpwatch.adapters.dynamodb.codec import from_attr, from_item, plain, to_attr, to_item
from smtpwatch.adapters.dynamodb.results import DynamoResultStore
from smtpwatch.adapters.dynamodb.state import DynamoStateStore
from smtpwatch.adapters.dynamodb.targets import DynamoTargetStore
from smtpwatch.adapters.dynamodb.votes import (
    DynamoLocationHealthStore,
    DynamoVoteStore,
    slot_of,
)
from smtpwatch.service.dispatch_ports import DispatcherMark, is_bookkeeping_id

__all__ = [
    "DISPATCHER_ID",
    "DispatcherMark",
    "DynamoBookkeeping",
    "DynamoLocationHealthStore",
    "DynamoResultStore",
    "DynamoStateStore",
    "DynamoTargetStore",
    "DynamoVoteStore",
    "EpisodeRecord",
    "TickCounts",
    "from_attr",
    "from_item",
    "is_bookkeeping_id",
    "plain",
    "slot_of",
    "to_attr",
    "to_item",
]
