"""The bounded daemon pool behind `smtpwatch run`."""

from __future__ import annotations

import threading
import time

import pytest

from smtpwatch.local.pool import DaemonPool


def test_never_runs_more_than_its_bound_and_runs_everything() -> None:
    pool = DaemonPool(3)
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return i * 2

    futures = [pool.submit(lambda i=i: work(i)) for i in range(20)]
    assert [f.result(timeout=30) for f in futures] == [i * 2 for i in range(20)]
    assert peak <= 3
    assert pool.wait_idle(5) and pool.active() == 0


def test_exceptions_reach_the_caller_and_the_worker_survives() -> None:
    pool = DaemonPool(1)

    def boom() -> None:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        pool.submit(boom).result(timeout=5)
    assert pool.submit(lambda: 42).result(timeout=5) == 42


def test_shutdown_cancels_queued_work_and_refuses_more() -> None:
    pool = DaemonPool(1)
    started, gate = threading.Event(), threading.Event()

    def hold() -> bool:
        started.set()
        return gate.wait(30)

    first = pool.submit(hold)
    queued = [pool.submit(lambda: 1) for _ in range(3)]
    # the worker has taken the first one: the other three are still queued
    assert started.wait(30)
    assert pool.shutdown() == 3
    assert all(f.cancelled() for f in queued)
    with pytest.raises(RuntimeError):
        pool.submit(lambda: 1)
    gate.set()
    assert first.result(timeout=5) is True
    assert pool.wait_idle(5)
