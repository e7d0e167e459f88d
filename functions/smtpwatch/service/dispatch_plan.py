"""Which targets a dispatch window makes due (pure), from which locations, and the
report of one run."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from smtpwatch.core import schedule
from smtpwatch.service.dispatch_ports import is_bookkeeping_id

if TYPE_CHECKING:
    from smtpwatch.core.target import Target

__all__ = [
    "DEADLINE_MARGIN_S",
    "DEFAULT_INTERVAL_S",
    "DispatchReport",
    "Job",
    "effective_locations",
    "plan",
    "slot_deadline",
]

DEFAULT_INTERVAL_S = 300  # a malformed item is dispatched on the default interval
# A slot's deadline: the probe, its re-check delay and re-check, plus this margin for
# a cold start and the storage calls; after it a location that did not vote is silent.
DEADLINE_MARGIN_S = 30


@dataclass(frozen=True, slots=True)
class Job:
    target_id: str
    scheduled_at: str
    new: bool  # no state item yet: claim the first-dispatch stub before invoking
    # () : the home location, today's event. One name: that location, today's event.
    # Several: a slot opened and one invoke per location with the "vote" key.
    locations: tuple[str, ...] = ()
    deadline: str | None = None  # the open slot's deadline (several locations only)

    @property
    def votes(self) -> bool:
        return len(self.locations) > 1


@dataclass(frozen=True, slots=True)
class _Slotted:
    """What ``core.schedule`` needs of a target (also for malformed items)."""

    target_id: str
    interval_s: int


@dataclass
class DispatchReport:
    window: tuple[str, str] | None = None
    targets: int = 0
    due: int = 0
    dispatched: int = 0
    failed: int = 0
    malformed: int = 0
    disabled: int = 0
    claimed_elsewhere: int = 0  # new targets another run dispatched first
    alerts_resent: int = 0
    # Several locations only: slots opened, relay invokes and the probe events they
    # carried, expired slots sent to be decided and those left for the next tick.
    slots_opened: int = 0
    relays: int = 0
    invokes: int = 0
    slots_expired: int = 0
    slots_left: int = 0
    # Vote invokes accepted per (scheduled_at, location): what each location checked.
    location_invokes: dict[tuple[str, str], int] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    phase_ms: dict[str, float] = field(default_factory=dict)  # claim/read/plan/invoke/...
    invoked: list[tuple[str, str]] = field(default_factory=list)

    def summary(self, *, locations: bool = False) -> dict[str, Any]:
        """The run's figures (the log line); ``locations``: with the slot figures."""
        out = {
            "window": list(self.window) if self.window else None,
            "targets": self.targets,
            "due": self.due,
            "dispatched": self.dispatched,
            "failed": self.failed,
            "malformed": self.malformed,
            "disabled": self.disabled,
            "claimed_elsewhere": self.claimed_elsewhere,
            "alerts_resent": self.alerts_resent,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "phase_ms": {k: round(v, 1) for k, v in self.phase_ms.items()},
        }
        if locations:
            out |= {
                "slots_opened": self.slots_opened,
                "relays": self.relays,
                "invokes": self.invokes,
                "slots_expired": self.slots_expired,
                "slots_left": self.slots_left,
            }
        return out


def effective_locations(target: Target, deployed: Sequence[str]) -> tuple[str, ...]:
    """The target's ``locations`` that are deployed, in deployed order (all of them when
    it names none); () when it names only locations that are not deployed."""
    wanted = frozenset(target.locations)
    return tuple(name for name in deployed if not wanted or name in wanted)


def slot_deadline(target: Target, dispatched_at: datetime) -> str:
    """When a slot's silent locations stop counting: its probe, re-check delay and
    re-check at their longest, plus ``DEADLINE_MARGIN_S``, counted from the dispatch
    (a tick sends the slots of the minute before it: up to a minute after their time)."""
    span = 2 * target.timeout_s + target.recheck_delay_s + DEADLINE_MARGIN_S
    return schedule.format_ts(dispatched_at + timedelta(seconds=math.ceil(span)))


def plan(
    items: Iterable[Mapping[str, Any]],
    states: Mapping[str, Mapping[str, Any]],
    start: datetime,
    end: datetime,
    report: DispatchReport,
    log: Any,
    deployed: Sequence[str] = (),
) -> list[Job]:
    """The due targets of the window (start, end]: each enabled target at its latest
    slot in it, a target without a state item at once. ``states``: state items by id.
    ``deployed``: the locations, the home first; with one or none every job is the home
    location's (today's path), as is a malformed item's."""
    from smtpwatch.core.target import Target, check_aws_limits

    jobs: list[Job] = []
    several = len(deployed) > 1
    for item in items:
        report.targets += 1
        target_id = item.get("target_id")
        if not isinstance(target_id, str) or not target_id or is_bookkeeping_id(target_id):
            report.malformed += 1
            log.warning("target item without a usable target_id: skipped")
            continue
        target: Target | None = None
        try:
            target, unknown = Target.from_item(item, strict=False)
            check_aws_limits(target)
            slotted = _Slotted(target.target_id, target.interval_s)
            enabled = target.enabled
        except Exception as exc:  # any bad value: the probe reports it as `config`
            report.malformed += 1
            log.warning(
                "malformed target item: dispatched for a config result",
                extra={"target_id": target_id, "error": str(exc)[:300]},
            )
            slotted = _Slotted(target_id, DEFAULT_INTERVAL_S)
            enabled = item.get("enabled") not in (False, "false", "False", 0)
            unknown = []
        if unknown:
            log.info(
                "target item has unknown attributes (ignored)",
                extra={"target_id": target_id, "unknown": unknown},
            )
        if not enabled:
            report.disabled += 1
            continue
        state = states.get(target_id)
        probed = state is not None
        slot = schedule.dispatch_slot(slotted, start, end, probed=probed)
        if slot is None:
            continue
        scheduled_at = schedule.format_ts(slot)
        if state is not None and state.get("first_scheduled_at") == scheduled_at:
            continue  # its first dispatch (as a new target) was this very slot
        if several and target is not None:
            dispatched_at = max(slot, end)
            jobs.append(_located(target, dispatched_at, scheduled_at, not probed, deployed, log))
        else:
            jobs.append(Job(target_id, scheduled_at, new=not probed))
    report.due = len(jobs)
    return jobs


def _located(
    target: Target,
    dispatched_at: datetime,
    scheduled_at: str,
    new: bool,
    deployed: Sequence[str],
    log: Any,
) -> Job:
    """The job of a target when several locations are deployed."""
    locations = effective_locations(target, deployed)
    if not locations:
        # Probed from the home location rather than from nowhere; `status` shows why.
        log.warning(
            "none of the target's locations is deployed: probed from the home location",
            extra={
                "target_id": target.target_id,
                "locations": list(getattr(target, "locations", ())),
            },
        )
        return Job(target.target_id, scheduled_at, new=new)
    if len(locations) == 1:
        single = () if locations[0] == deployed[0] else locations
        return Job(target.target_id, scheduled_at, new=new, locations=single)
    deadline = slot_deadline(target, dispatched_at)
    return Job(target.target_id, scheduled_at, new, locations, deadline)
