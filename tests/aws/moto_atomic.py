"""Make moto's DynamoDB apply each request atomically, as DynamoDB does.

DynamoDB evaluates a ``ConditionExpression`` and applies the write as one atomic step
per item; everything the dispatcher and the probe handler guarantee under concurrency
(window claims, first-dispatch stubs, versioned state writes, result-key dedupe) rests
on that. moto evaluates the condition, then writes, with no lock in between: two
threads that race on one item can both pass the condition and both write — the
overlapping-dispatchers test then saw a window claimed twice (about 1 run in 3). One
lock around moto's item operations restores the service's per-request atomicity; it
changes nothing for a single thread.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

_LOCK = threading.RLock()  # re-entrant: transact_write_items calls put_item & co.
# Reads too, so that a reader never sees an update half applied.
_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "get_item",
    "query",
    "scan",
)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return wrapper


@contextmanager
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _OPERATIONS:
        monkeypatch.setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    yield
