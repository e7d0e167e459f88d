"""What the dispatcher needs of its stores and invoker: small Protocols and their values.

The DynamoDB adapters implement them (``adapters.dynamodb``); the dispatcher service
and its tests see only these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from smtpwatch.ports import StateStore

if TYPE_CHECKING:
    from smtpwatch.core.locations import OpenSlot
    from smtpwatch.core.target import Target

__all__ = [
    "SLOT_PREFIX",
    "BatchSlotOpener",
    "CarriesTarget",
    "DeployedLocations",
    "DispatchBookkeeping",
    "DispatcherMark",
    "EpisodeHousekeeping",
    "LocationInvoker",
    "LocationTicks",
    "SlotOpener",
    "StateScan",
    "TargetScan",
    "is_bookkeeping_id",
]

SLOT_PREFIX = "#slot#"  # an open slot's item in the state table: #slot#<target>#<slot>


def is_bookkeeping_id(target_id: str) -> bool:
    """Ids starting with ``#`` name the state table's bookkeeping items; no target id can."""
    return target_id.startswith("#")


@dataclass(frozen=True, slots=True)
class DispatcherMark:
    """The dispatcher's bookkeeping item (``#dispatcher``): windows of ticks handled.

    ``done_until``: end of the last claimed window; ``claim_start``: its start;
    ``claim_done``: that window's invocations were all attempted; ``lease_until``: epoch
    seconds after which an unfinished claim counts as crashed (its window is redone);
    ``version``: optimistic concurrency counter."""

    done_until: str | None = None
    claim_start: str | None = None
    claim_done: bool = True
    lease_until: float = 0.0
    version: int = 0


class DispatchBookkeeping(Protocol):
    """The dispatcher's own items in the state table: its windows, first dispatches and
    the per-tick count of probes it invoked."""

    def get_dispatcher_mark(self) -> DispatcherMark: ...

    def claim_window(self, read: DispatcherMark, start: str, end: str, lease_s: float) -> bool:
        """Claim (start, end] if the mark is still what ``read`` saw."""
        ...

    def complete_window(self, start: str, end: str) -> bool: ...

    def claim_first_dispatch(self, target_id: str, scheduled_at: str) -> bool:
        """False when any item exists for ``target_id`` already: do not dispatch it."""
        ...

    def release_first_dispatch(self, target_id: str, scheduled_at: str) -> None: ...

    def record_dispatched(self, scheduled_at: str, count: int) -> None: ...


class TargetScan(Protocol):
    def iter_items_and_wire(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Every target item decoded and as the store sent it (the probe event's form)."""
        ...


class StateScan(StateStore, Protocol):
    def iter_raw(
        self, *, segments: int = 1, projection: tuple[str, ...] = ()
    ) -> Iterator[dict[str, Any]]:
        """Every item, bookkeeping included, decoded but not interpreted."""
        ...


@runtime_checkable
class CarriesTarget(Protocol):
    """An invoker that can put the target item (wire form) into the probe event
    (``adapters.lambda_invoker``); a plain ``ProbeInvoker`` gets id and slot only."""

    def invoke_with_target(
        self, target_id: str, scheduled_at: str, target: Mapping[str, Any] | None
    ) -> None: ...


class EpisodeHousekeeping(Protocol):
    """The monitor-degraded housekeeping run once a tick after dispatching (on AWS
    ``adapters.tick_gate.settle_episode``). ``targets`` looks a target up by id."""

    def __call__(
        self, *, targets: Callable[[str], Target | None], tick: datetime, now: datetime
    ) -> None: ...


class LocationInvoker(Protocol):
    """A location's probe function (``adapters.lambda_invoker``): one async invoke
    with a ready event (a relay's or a decision's batch)."""

    def invoke_raw(self, body: bytes) -> None: ...


class SlotOpener(Protocol):
    """What the dispatcher needs of the vote store: the open-slot item, written before
    the locations are invoked (a plain put: idempotent)."""

    def open_slot(self, slot: OpenSlot) -> None: ...


@runtime_checkable
class BatchSlotOpener(Protocol):
    """A store that writes many open slots per request (DynamoDB's BatchWriteItem)."""

    def open_slots(self, slots: Sequence[OpenSlot]) -> None: ...


class LocationTicks(Protocol):
    """The per-tick part of the locations' health (``service.location_health``): the
    slots sent to each location, and the judgement of an earlier tick."""

    def record_dispatched(self, bucket: str, counts: Mapping[str, int]) -> None: ...

    def settle(self, bucket: str, locations: Sequence[str]) -> Sequence[Any]: ...


@dataclass(frozen=True)
class DeployedLocations:
    """The locations a dispatcher probes from: ``names`` in order, the home first, each
    with the invoker of its probe function (the relays; the home one also decides the
    expired slots); ``slots`` opens a multi-location slot; ``health`` counts what each
    location checked per tick and judges the tick before (None: not)."""

    names: tuple[str, ...]
    invokers: Mapping[str, LocationInvoker]
    slots: SlotOpener
    health: LocationTicks | None = None

    @property
    def home(self) -> str:
        return self.names[0]
