"""Alerting, pure (no I/O, no clock): the state machine (``machine``), building alerts
(``build``), reminders and times (``timing``) and the monitor-degraded alerts
(``degraded``). docs/design.md#alert-state-machine has the rules."""

from smtpwatch.core.alerting.build import (
    MONITOR_TARGET_ID,
    alert_id_for,
    make_test_alert,
    stored_result,
    target_identity,
    target_summary,
)
from smtpwatch.core.alerting.degraded import (
    DEGRADED_HELD_LIST_MAX,
    DEGRADED_MAX_HOLD_S,
    DEGRADED_MIN_COUNT,
    DEGRADED_SHARE,
    degraded,
    degraded_alert,
    degraded_end_alert,
    held_down_alert,
)
from smtpwatch.core.alerting.machine import (
    Decision,
    counts_as_failure,
    decide,
    mark_sent,
    needs_recheck,
)
from smtpwatch.core.alerting.timing import with_latest_result

__all__ = [
    "DEGRADED_HELD_LIST_MAX",
    "DEGRADED_MAX_HOLD_S",
    "DEGRADED_MIN_COUNT",
    "DEGRADED_SHARE",
    "MONITOR_TARGET_ID",
    "Decision",
    "alert_id_for",
    "counts_as_failure",
    "decide",
    "degraded",
    "degraded_alert",
    "degraded_end_alert",
    "held_down_alert",
    "make_test_alert",
    "mark_sent",
    "needs_recheck",
    "stored_result",
    "target_identity",
    "target_summary",
    "with_latest_result",
]
