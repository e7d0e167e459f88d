"""`history`'s uptime when passing results are sampled (AWS, PassingResultSeconds):
the checks that passed without a stored result still count as passed checks.

The rule (history_report.implied_passing's docstring): after a stored ok/warning/unknown
result the slots up to the next stored result were passing checks that changed nothing;
after a critical one there are none; each gap counts at most ceil(P / interval) of them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from smtpwatch.cli.history_cmd import render_text
from smtpwatch.cli.history_report import summarize, target_interval
from smtpwatch.core.result import ErrorInfo, ErrorKind, Phase, PhaseResult, ProbeResult, Status
from smtpwatch.core.schedule import format_ts

DAY = datetime(2026, 11, 25, tzinfo=UTC)
ITEM = {"target_id": "mx1", "host": "mx1.example.com", "interval_s": 60}


def result(at: datetime, status: Status = Status.OK, total_ms: float = 43.0) -> ProbeResult:
    phases = (PhaseResult(Phase.CONNECT, reached=True, ok=status is not Status.CRITICAL, ms=12.0),)
    error = (
        ErrorInfo(ErrorKind.CONNECT_TIMEOUT, Phase.CONNECT, "no answer")
        if status is Status.CRITICAL
        else None
    )
    return ProbeResult("mx1", format_ts(at), status, host="mx1.example.com", port=587,
                       phases=phases, error=error, total_ms=total_ms)  # fmt: skip


def outage_day() -> list[ProbeResult]:
    """What AWS stores for one day of 1-minute checks with P = 3600 and a 10-minute
    outage: the sample opening each hour, 10 failures from 10:20, the recovery at 10:30."""
    stored = [result(DAY + timedelta(hours=h)) for h in range(24)]
    stored += [
        result(DAY + timedelta(hours=10, minutes=20 + m), Status.CRITICAL) for m in range(10)
    ]
    stored.append(result(DAY + timedelta(hours=10, minutes=30)))
    return sorted(stored, key=lambda r: r.started_at)


def report(results: list[ProbeResult], *, p: int, interval: int | None = 60,
           until: datetime = DAY + timedelta(days=1)) -> dict[str, Any]:  # fmt: skip
    return summarize("mx1", results, since=DAY, until=until, interval_s=interval,
                     passing_result_s=p)  # fmt: skip


def test_a_day_of_hourly_samples_with_a_ten_minute_outage_reads_as_99_3_percent() -> None:
    # GIVEN a day's stored results at 1-minute checks, P = 3600
    results = outage_day()
    assert len(results) == 35
    # WHEN history summarizes it
    doc = report(results, p=3600)
    # THEN the unstored passes count, by the rule, gap by gap (cap ceil(3600/60) = 60):
    #   hourly sample -> next sample: 60 slots apart -> 59 implied (22 of them)
    #   10:00 -> 10:20 (first failure): 19;   the 10 failures: 0 each
    #   10:30 (recovery) -> 11:00: 29;        23:00 -> until 24:00: floor(60) = 60
    implied = 22 * 59 + 19 + 29 + 60
    assert doc["implied_passing_checks"] == implied == 1406
    assert doc["passing_result_seconds"] == 3600
    up, failed = 25 + implied, 10
    assert doc["uptime_percent"] == round(100.0 * up / (up + failed), 3) == 99.306
    # the stored figures stay what was stored
    assert doc["checks"] == 35
    assert doc["counts"] == {"ok": 25, "warning": 0, "critical": 10, "unknown": 0}
    assert doc["total_ms"]["count"] == 25  # timings: stored results only

    text = render_text(doc, ITEM)
    assert (
        "uptime 99.31% over 1,441 checks (35 stored: 25 ok, 0 warning, 10 critical; "
        "1,406 passing checks not stored, see PassingResultSeconds); "
        "last: ok at 2026-11-25T23:00:00Z"
    ) in text
    assert "timings from the 35 stored results" in text


def test_a_gap_longer_than_the_period_counts_at_most_one_period() -> None:
    # GIVEN the monitor stopped for 5 hours after a pass (7-minute checks, P = 3600)
    results = [result(DAY), result(DAY + timedelta(hours=5))]
    cap = math.ceil(3600 / 420)  # 9: the most one period can hold
    # WHEN the window ends right after the second result
    doc = report(results, p=3600, interval=420, until=DAY + timedelta(hours=5, seconds=30))
    # THEN the 5-hour gap adds no more than one period's worth of passes
    assert doc["implied_passing_checks"] == cap
    # AND so does an open tail that runs far past the last result
    tail = report(results, p=3600, interval=420, until=DAY + timedelta(days=3))
    assert tail["implied_passing_checks"] == 2 * cap


def test_nothing_is_implied_after_a_failure() -> None:
    # A failure's next check is always stored: hours after a critical result are not passes.
    results = [result(DAY), result(DAY + timedelta(minutes=1), Status.CRITICAL)]
    doc = report(results, p=3600, until=DAY + timedelta(hours=3))
    assert doc["implied_passing_checks"] == 0 and doc["uptime_percent"] == 50.0


def test_every_check_stored_gives_exactly_the_stored_figures() -> None:
    # GIVEN the same stored results, P = 0 (local store, PassingResultSeconds 0)
    results = outage_day()
    doc = report(results, p=0)
    # THEN nothing is implied and the report is the stored results' alone
    assert doc["implied_passing_checks"] == 0
    assert doc["uptime_percent"] == round(100.0 * 25 / 35, 3)
    old = summarize("mx1", results, since=DAY, until=DAY + timedelta(days=1))
    assert doc == old
    text = render_text(doc, ITEM)
    assert "uptime 71.43% over 35 checks (25 ok, 0 warning, 10 critical); last: ok" in text
    assert "stored" not in text
    # AND a target without a usable interval falls back to the same
    assert report(results, p=3600, interval=None)["uptime_percent"] == doc["uptime_percent"]


def test_the_interval_is_the_one_the_dispatcher_reads_from_the_item() -> None:
    assert target_interval(ITEM) == 60
    assert target_interval({"target_id": "mx1", "host": "mx1"}) == 300  # the default
    assert target_interval({"target_id": "mx1", "host": "mx1", "interval_s": "soon"}) is None
    assert target_interval(None) is None


STATUSES = st.sampled_from(list(Status))


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 30_000), STATUSES), max_size=40),
    interval=st.one_of(st.none(), st.integers(10, 7 * 86400)),
    p=st.integers(0, 86400),
    tail=st.integers(-3600, 10 * 86400),
)
def test_uptime_stays_a_percentage_and_p0_implies_nothing(
    steps: list[tuple[int, Status]], interval: int | None, p: int, tail: int
) -> None:
    at = DAY
    results = []
    for gap, status in steps:
        at += timedelta(seconds=gap)
        results.append(result(at, status))
    doc = report(results, p=p, interval=interval, until=at + timedelta(seconds=tail))
    implied = doc["implied_passing_checks"]
    assert implied >= 0
    if p == 0 or interval is None:
        assert implied == 0
    else:
        assert implied <= len(results) * math.ceil(p / interval)
    uptime = doc["uptime_percent"]
    judged = len(results) - doc["counts"]["unknown"] + implied
    assert (uptime is None) == (judged == 0)
    assert uptime is None or 0.0 <= uptime <= 100.0


def test_a_window_without_a_stored_result_counts_the_passes_the_result_before_implies() -> None:
    # GIVEN `history --since 30m` at 10:44:30 on a healthy target: the hour's sample is
    # 10:00, before the window, and nothing was stored since
    sample = result(DAY + timedelta(hours=10))
    until = DAY + timedelta(hours=10, minutes=44, seconds=30)
    since = until - timedelta(minutes=30)
    doc = summarize("mx1", [], since=since, until=until, interval_s=60,
                    passing_result_s=3600, before=sample)  # fmt: skip
    # THEN the window's 30 slots (10:15-10:44) passed, and none before it are counted
    assert doc["implied_passing_checks"] == 30 and doc["uptime_percent"] == 100.0
    assert doc["checks"] == 0
    text = render_text(doc, ITEM)
    assert "uptime 100.00% over 30 checks (0 stored:" in text
    # AND a failure before the window implies nothing (its next check is stored)
    failed = result(DAY + timedelta(hours=10), Status.CRITICAL)
    doc = summarize("mx1", [], since=since, until=until, interval_s=60,
                    passing_result_s=3600, before=failed)  # fmt: skip
    assert doc["implied_passing_checks"] == 0 and doc["uptime_percent"] is None
