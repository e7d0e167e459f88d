"""The resolver's answer caches, and the guard that lets one lookup of a name run at a
time (thread-safe: a worker process shares one resolver among its probes)."""

from __future__ import annotations

import _thread  # threading's Lock, without threading's ~1 ms import (bench/import_cost.py)
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["MAX_CACHE_ENTRIES", "AnswerCache", "Flights", "Key"]

# A cache holds at most this many (name, type) answers; the oldest go first.
MAX_CACHE_ENTRIES = 4096

Key = tuple[str, str]  # (normalised name, record type)


class AnswerCache:
    """Addresses per (name, record type), each until a clock value (an empty tuple says
    "the name has no record of this type")."""

    def __init__(self, clock: Callable[[], float], max_entries: int = MAX_CACHE_ENTRIES) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[Key, tuple[tuple[str, ...], float]] = OrderedDict()
        self._lock = _thread.allocate_lock()

    def get(self, key: Key) -> tuple[str, ...] | None:
        """The addresses cached for ``key``, or None when none are (or they expired)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            ips, expires = entry
            if expires <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return ips

    def put(self, key: Key, ips: tuple[str, ...], max_age: float) -> None:
        """Keep ``ips`` for ``max_age`` seconds from now."""
        with self._lock:
            self._entries[key] = (ips, self._clock() + max_age)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Flights:
    """One lookup per key at a time, so concurrent probes of one host share it."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._inflight: dict[Key, _thread.LockType] = {}

    def join(self, key: Key, timeout: float) -> _thread.LockType | None:
        """The key's flight, held, once the lookup before it is done; None when that
        takes longer than ``timeout`` seconds."""
        with self._lock:
            flight = self._inflight.setdefault(key, _thread.allocate_lock())
        return flight if flight.acquire(timeout=timeout) else None

    def leave(self, key: Key, flight: _thread.LockType) -> None:
        flight.release()
        # Drop the lock so the table stays small. A thread still waiting on it then
        # finds the cache filled, or (after a failure) asks again: the lock only
        # saves duplicate lookups, correctness never depends on it.
        with self._lock:
            if self._inflight.get(key) is flight:
                del self._inflight[key]
