"""In-memory ports for tests (and anyone who needs throwaway stores): the same
contracts as the SQLite and DynamoDB stores — conditional state writes on ``version``,
results keyed by ``(target_id, scheduled_at)`` — plus failure injection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from smtpwatch.core.errors import SecretError
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import Alert, TargetState

__all__ = [
    "MemoryResultStore",
    "MemorySecrets",
    "MemorySink",
    "MemoryStateStore",
    "MemoryTargetStore",
    "SinkDownError",
]


class SinkDownError(ConnectionError):
    """Raised by a ``MemorySink`` told to fail."""


class MemoryStateStore:
    """``StateStore``: ``save_state`` succeeds only if the stored version is
    ``state.version - 1`` (absent counts as 0)."""

    def __init__(self) -> None:
        self._states: dict[str, TargetState] = {}
        self._lock = threading.Lock()
        self.writes = 0  # successful saves
        self.conflicts = 0
        self.fail_saves = 0  # inject: the next N saves lose a race (return False)
        self.on_save: Any = None  # inject: callable(state) run before a save (a racer)

    def get_state(self, target_id: str) -> TargetState | None:
        with self._lock:
            return self._states.get(target_id)

    def save_state(self, state: TargetState) -> bool:
        if self.on_save is not None:
            hook, self.on_save = self.on_save, None
            hook(state)
        with self._lock:
            if self.fail_saves > 0:
                self.fail_saves -= 1
                self.conflicts += 1
                return False
            current = self._states.get(state.target_id)
            stored = current.version if current is not None else 0
            if stored != state.version - 1:
                self.conflicts += 1
                return False
            self._states[state.target_id] = state
            self.writes += 1
            return True

    def iter_states(self) -> Iterator[TargetState]:
        with self._lock:
            return iter(list(self._states.values()))

    def put(self, state: TargetState) -> None:
        """Set a state directly (test setup), unconditionally."""
        with self._lock:
            self._states[state.target_id] = state


class MemoryResultStore:
    """``ResultStore``: one result per ``(target_id, scheduled_at or started_at)``."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, str], ProbeResult] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def add_result(self, result: ProbeResult, *, scheduled_at: str | None = None) -> bool:
        key = (result.target_id, scheduled_at or result.started_at)
        with self._lock:
            if key in self._results:
                return False
            self._results[key] = result
            self.writes += 1
            return True

    def iter_results(self, target_id: str, *, since: str | None = None) -> Iterator[ProbeResult]:
        with self._lock:
            rows = sorted((ts, r) for (tid, ts), r in self._results.items() if tid == target_id)
        return iter([r for ts, r in rows if since is None or ts >= since])

    def latest(self, target_id: str) -> ProbeResult | None:
        results = list(self.iter_results(target_id))
        return results[-1] if results else None


class MemorySink:
    """``AlertSink`` that keeps what it was sent; ``fail_next`` / ``down`` inject failures."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.fail_next = 0
        self.down = False
        self.attempts = 0

    def send(self, alert: Alert) -> None:
        self.attempts += 1
        if self.down or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            raise SinkDownError("sink unavailable")
        self.alerts.append(alert)

    @property
    def events(self) -> list[str]:
        return [a.event.value for a in self.alerts]


class MemorySecrets:
    """``SecretResolver`` with a cache, like the real ones: ``rotate`` changes the
    stored value, which only a ``refresh=True`` lookup sees until then."""

    def __init__(
        self, values: dict[str, str] | None = None, *, hosts: dict[str, str] | None = None
    ):
        self._stored = dict(values or {})
        self._cache: dict[str, str] = {}
        self._hosts = dict(hosts or {})  # ref -> the only host it may go to
        self.lookups: list[tuple[str, bool]] = []

    def rotate(self, ref: str, value: str) -> None:
        self._stored[ref] = value

    def resolve(self, ref: str, *, host: str, refresh: bool = False) -> str:
        self.lookups.append((ref, refresh))
        if ref in self._hosts and self._hosts[ref] != host:
            raise SecretError(f"{ref} may not be sent to {host}")
        if refresh or ref not in self._cache:
            if ref not in self._stored:
                raise SecretError(f"{ref} not found")
            self._cache[ref] = self._stored[ref]
        return self._cache[ref]


class MemoryTargetStore:
    """``TargetStore`` over a dict of raw items."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        self._items = {str(i["target_id"]): dict(i) for i in items}

    def get_item(self, target_id: str) -> dict[str, Any] | None:
        item = self._items.get(target_id)
        return None if item is None else dict(item)

    def iter_items(self) -> Iterator[dict[str, Any]]:
        return iter([dict(i) for i in self._items.values()])

    def put_items(self, items: Iterable[dict[str, Any]]) -> int:
        n = 0
        for item in items:
            self._items[str(item["target_id"])] = dict(item)
            n += 1
        return n

    def delete_item(self, target_id: str) -> bool:
        return self._items.pop(target_id, None) is not None
