"""In-memory ``VoteStore`` and ``LocationHealthStore`` for tests (and throwaway runs):
the same contracts as the DynamoDB stores — a vote once per (slot, location), one
claim per open slot, conditional health writes on ``version`` — plus injection."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from smtpwatch.core.locations import MAX_LOCATIONS, OpenSlot
from smtpwatch.core.result import ProbeResult
from smtpwatch.service.location_health import LocationCounts, LocationHealth

__all__ = ["MemoryLocationHealthStore", "MemoryVoteStore"]


class MemoryVoteStore:
    """``VoteStore``: votes keyed by (target, slot, location); ``claim`` removes the open
    slot and is True once. ``on_votes``: a hook run before each read of a slot's votes
    (a racer's moment)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.slots: dict[tuple[str, str], OpenSlot] = {}
        self._votes: dict[tuple[str, str], dict[str, ProbeResult]] = {}
        self.claims = 0  # successful claims
        self.on_votes: Callable[[str, str], None] | None = None

    def open_slot(self, slot: OpenSlot) -> None:
        with self._lock:
            self.slots[(slot.target_id, slot.scheduled_at)] = slot

    def put_vote(self, target_id: str, scheduled_at: str, result: ProbeResult) -> bool:
        if not result.location:
            raise ValueError("a vote needs its location")
        with self._lock:
            slot = self._votes.setdefault((target_id, scheduled_at), {})
            if result.location in slot:
                return False
            slot[result.location] = result
            return True

    def votes(self, target_id: str, scheduled_at: str) -> dict[str, ProbeResult]:
        if self.on_votes is not None:
            self.on_votes(target_id, scheduled_at)
        with self._lock:
            found = self._votes.get((target_id, scheduled_at), {})
            return dict(sorted(found.items())[:MAX_LOCATIONS])

    def claim(self, target_id: str, scheduled_at: str) -> bool:
        with self._lock:
            if self.slots.pop((target_id, scheduled_at), None) is None:
                return False
            self.claims += 1
            return True

    def decided_after(self, target_id: str, scheduled_at: str) -> str | None:
        with self._lock:
            newer = sorted(s for t, s in self._votes if t == target_id and s > scheduled_at)
            return next((s for s in newer if (target_id, s) not in self.slots), None)

    def open_slots(self) -> list[OpenSlot]:
        """The slots not yet claimed, oldest first (what the sweep sees)."""
        with self._lock:
            return sorted(self.slots.values(), key=lambda s: (s.deadline, s.target_id))


class MemoryLocationHealthStore:
    """``LocationHealthStore``: ``save_location`` succeeds only on the next version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._health: dict[str, LocationHealth] = {}
        self._dispatched: dict[str, dict[str, int]] = {}
        self._failed: dict[str, dict[str, int]] = {}
        self.conflicts = 0

    def get_location(self, location: str) -> LocationHealth | None:
        with self._lock:
            return self._health.get(location)

    def save_location(self, health: LocationHealth) -> bool:
        with self._lock:
            current = self._health.get(health.location)
            if (0 if current is None else current.version) != health.version - 1:
                self.conflicts += 1
                return False
            self._health[health.location] = health
            return True

    def add_location_counts(
        self, bucket: str, *, dispatched: Mapping[str, int], failed: Mapping[str, int]
    ) -> None:
        with self._lock:
            for book, adds in ((self._dispatched, dispatched), (self._failed, failed)):
                counts = book.setdefault(bucket, {})
                for name, n in adds.items():
                    counts[name] = counts.get(name, 0) + int(n)

    def location_counts(self, bucket: str) -> LocationCounts:
        with self._lock:
            return LocationCounts(
                dict(self._dispatched.get(bucket, {})), dict(self._failed.get(bucket, {}))
            )
