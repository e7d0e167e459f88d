"""Which targets a dispatch window makes due (pure), and the report of one run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smtpwatch.core import schedule
from smtpwatch.service.dispatch_ports import is_bookkeeping_id

__all__ = ["DEFAULT_INTERVAL_S", "DispatchReport", "Job", "plan"]

DEFAULT_INTERVAL_S = 300  # a malformed item is dispatched on the default interval


@dataclass(frozen=True, slots=True)
class Job:
    target_id: str
    scheduled_at: str
    new: bool  # no state item yet: claim the first-dispatch stub before invoking


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
    elapsed_ms: float = 0.0
    phase_ms: dict[str, float] = field(default_factory=dict)  # claim/read/plan/invoke/...
    invoked: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
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


def plan(
    items: Iterable[Mapping[str, Any]],
    states: Mapping[str, Mapping[str, Any]],
    start: datetime,
    end: datetime,
    report: DispatchReport,
    log: Any,
) -> list[Job]:
    """The due targets of the window (start, end]: each enabled target at its latest
    slot in it, a target without a state item at once. ``states``: state items by id."""
    from smtpwatch.core.target import Target, check_aws_limits

    jobs: list[Job] = []
    for item in items:
        report.targets += 1
        target_id = item.get("target_id")
        if not isinstance(target_id, str) or not target_id or is_bookkeeping_id(target_id):
            report.malformed += 1
            log.warning("target item without a usable target_id: skipped")
            continue
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
        jobs.append(Job(target_id, scheduled_at, new=not probed))
    report.due = len(jobs)
    return jobs
