"""The monitor-degraded episode item against DynamoDB Local, AWS's own emulator: its
nested-map updates and conditions hold on the real engine's rules, and racing
housekeepers or checks agree on one start, one first-held time per target, one
release per held alert and one end. Racing writers are real threads with their own
clients."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
import pytest
from botocore.config import Config
from dynamodb_local import running_dynamodb_local
from template_tables import create_tables

from smtpwatch.adapters.dynamodb import DynamoBookkeeping

pytestmark = pytest.mark.dynamodb_local

R = TypeVar("R")
_prefixes = itertools.count()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with running_dynamodb_local() as url:
        yield url


def _client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=32, retries={"mode": "standard"}),
    )


@pytest.fixture
def stores(endpoint: str) -> list[DynamoBookkeeping]:
    table = create_tables(_client(endpoint), prefix=f"e{next(_prefixes)}")["StateTable"]
    return [DynamoBookkeeping(_client(endpoint), table) for _ in range(6)]


def _race(n: int, fn: Callable[[int], R]) -> list[R]:
    barrier = threading.Barrier(n)

    def go(i: int) -> R:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


def test_racing_writers_agree_on_one_episode_one_first_hold_one_release_one_end(
    stores: list[DynamoBookkeeping],
) -> None:
    since = "2026-11-25T15:00:00Z"
    # GIVEN six checks of one degraded tick beginning the episode at once: one begins it
    assert _race(6, lambda i: stores[i].open_episode(since)).count(True) == 1
    # WHEN six copies of one check record its hold at different moments
    firsts = _race(6, lambda i: stores[i].hold_in_episode(since, "mx1", f"15:00:0{i}"))
    # THEN every copy reads the same first-held time, and other targets add up
    assert len(set(firsts)) == 1 and firsts[0] is not None
    _race(6, lambda i: stores[i].hold_in_episode(since, f"t{i}", "15:01:00"))
    episode = stores[0].get_episode()
    assert episode is not None and episode.open and episode.since == since
    assert sorted(episode.held) == ["mx1"] + [f"t{i}" for i in range(6)]
    # AND one housekeeper releases a held alert, one ends the episode
    assert _race(6, lambda i: stores[i].release_in_episode(since, "mx1", "x")).count(True) == 1
    assert _race(6, lambda i: stores[i].end_episode(since, "15:20:00Z")).count(True) == 1
    ended = stores[0].get_episode()
    assert ended is not None and not ended.open and ended.released == frozenset({"mx1"})
    # AND an ended episode takes no more holds; the next one replaces it
    assert stores[0].hold_in_episode(since, "late", "15:21:00") is None
    assert stores[0].open_episode("2026-11-25T16:00:00Z")
    fresh = stores[0].get_episode()
    assert fresh is not None and fresh.open and fresh.held == {}


def test_an_open_episode_is_replaced_only_by_a_later_start(
    stores: list[DynamoBookkeeping],
) -> None:
    assert stores[0].open_episode("2026-11-25T15:00:00Z")
    assert not stores[1].open_episode("2026-11-25T15:00:00Z")
    assert not stores[1].open_episode("2026-11-25T14:59:00Z")
    # an episode left open (no housekeeping ended it) gives way to a later one
    assert stores[1].open_episode("2026-11-25T15:30:00Z")
    episode = stores[0].get_episode()
    assert episode is not None and episode.since == "2026-11-25T15:30:00Z"
