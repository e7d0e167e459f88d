"""The edges of smtpwatch: small interfaces with a local and an AWS implementation.

Local: SQLite stores, console/webhook/SNS sinks, env/file secrets (``smtpwatch.local``).
AWS: DynamoDB stores, SNS sink, SSM/Secrets Manager secrets, Lambda invoker
(``smtpwatch.adapters``). The core never imports an implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import Alert, TargetState

if TYPE_CHECKING:
    from smtpwatch.core.locations import OpenSlot
    from smtpwatch.service.location_health import LocationCounts, LocationHealth

__all__ = [
    "AlertSink",
    "LocationHealthStore",
    "ProbeInvoker",
    "ResultStore",
    "SecretResolver",
    "StateStore",
    "TargetStore",
    "VoteStore",
]


class TargetStore(Protocol):
    """The user's target items (config only), as raw dicts with the item's attribute names."""

    def get_item(self, target_id: str) -> dict[str, Any] | None: ...

    def iter_items(self) -> Iterator[dict[str, Any]]: ...

    def put_items(self, items: Iterable[dict[str, Any]]) -> int: ...

    def delete_item(self, target_id: str) -> bool: ...


class StateStore(Protocol):
    def get_state(self, target_id: str) -> TargetState | None: ...

    def save_state(self, state: TargetState) -> bool:
        """Write ``state`` if the stored version is still ``state.version - 1`` (or absent
        when ``state.version == 1``). False when another writer got there first."""
        ...

    def iter_states(self) -> Iterator[TargetState]: ...


class ResultStore(Protocol):
    def add_result(self, result: ProbeResult, *, scheduled_at: str | None = None) -> bool:
        """Store one result. False when a result for (target, scheduled_at) already exists
        (a redelivered invocation): the caller then does nothing more."""
        ...

    def iter_results(self, target_id: str, *, since: str | None = None) -> Iterator[ProbeResult]:
        """Oldest first."""
        ...


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None:
        """Deliver or raise. Sinks need not dedupe: the state machine records
        ``alert_id`` and sends each alert until one ``send`` returns."""
        ...


class SecretResolver(Protocol):
    def resolve(self, ref: str, *, host: str, refresh: bool = False) -> str:
        """The password behind ``ref`` (``ssm:``, ``secretsmanager:``, ``env:``, ``file:``).
        Raises ``SecretError`` (message without the secret) when it cannot, or when the
        secret is bound to hosts that do not include ``host`` (docs/design.md#security)."""
        ...


class ProbeInvoker(Protocol):
    def invoke(self, target_id: str, scheduled_at: str) -> None: ...


class VoteStore(Protocol):
    """The votes of a slot checked from several locations, and the slot's open item."""

    def open_slot(self, slot: OpenSlot) -> None:
        """Record that ``slot`` awaits votes (a plain put: writing it again is harmless)."""
        ...

    def put_vote(self, target_id: str, scheduled_at: str, result: ProbeResult) -> bool:
        """Store ``result`` as the vote of ``result.location`` for the slot. False when
        that location's vote is there already (a redelivered event): do nothing more."""
        ...

    def votes(self, target_id: str, scheduled_at: str) -> dict[str, ProbeResult]:
        """The slot's votes by location (a consistent read), at most ``MAX_LOCATIONS``;
        an unusable stored vote is left out (and logged)."""
        ...

    def claim(self, target_id: str, scheduled_at: str) -> bool:
        """Remove the open slot; True for exactly one caller, who then decides it."""
        ...

    def decided_after(self, target_id: str, scheduled_at: str) -> str | None:
        """A slot of the target newer than ``scheduled_at`` that was already decided (it
        has votes and its open slot is claimed), or None (a consistent read, bounded)."""
        ...


class LocationHealthStore(Protocol):
    """Each location's health (ok, silent, failing) and per-tick counts of its votes."""

    def get_location(self, location: str) -> LocationHealth | None: ...

    def save_location(self, health: LocationHealth) -> bool:
        """Write ``health`` if the stored version is still ``health.version - 1`` (absent
        counts as 0). False when another writer got there first."""
        ...

    def add_location_counts(
        self, bucket: str, *, dispatched: Mapping[str, int], failed: Mapping[str, int]
    ) -> None:
        """Add to the tick ``bucket``'s per-location counts (atomically)."""
        ...

    def location_counts(self, bucket: str) -> LocationCounts: ...
