"""A bounded pool of daemon worker threads for blocking probes: on shutdown the
scheduler drops what is queued, gives the checks in flight a grace period, and leaves
without waiting for each probe's deadline (``ThreadPoolExecutor`` would)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["DaemonPool"]

T = TypeVar("T")

_Work = tuple[Future[Any], Callable[[], Any]]


class DaemonPool:
    """At most ``workers`` callables at once; threads start on demand and are daemons."""

    def __init__(self, workers: int, *, name: str = "smtpwatch-check") -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._max = workers
        self._name = name
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._active = 0
        self._drained = threading.Condition(self._lock)

    @property
    def workers(self) -> int:
        return self._max

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("pool is shut down")
            self._active += 1
            # One thread per unfinished callable, up to the bound: work waits in the
            # queue only when every thread is busy.
            if self._active > len(self._threads) and len(self._threads) < self._max:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads) + 1}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._queue.put((future, fn))
        return future

    def active(self) -> int:
        """Callables submitted and not finished (queued or running)."""
        with self._lock:
            return self._active

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or running; False on timeout."""
        with self._drained:
            return self._drained.wait_for(lambda: self._active == 0, timeout)

    def shutdown(self, *, cancel_queued: bool = True) -> int:
        """No more submissions; queued work is cancelled. Returns how many were cancelled.
        Running callables go on (the caller decides how long to wait: ``wait_idle``)."""
        cancelled = 0
        with self._lock:
            self._closed = True
            threads = len(self._threads)
        if cancel_queued:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    continue
                future, _ = item
                if future.cancel():
                    cancelled += 1
                self._finished()
        for _ in range(threads):
            self._queue.put(None)
        return cancelled

    def _finished(self) -> None:
        with self._drained:
            self._active -= 1
            if self._active == 0:
                self._drained.notify_all()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # delivered to the caller via the future
                    future.set_exception(exc)
            self._finished()
