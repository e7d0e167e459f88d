"""What the serve pages show, read from a store filled through its own write paths:
uptime per window, certificate days, the last error, the bar, the chart, the lists."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smtpwatch.core.kinds import PHASES, WarningKind
from smtpwatch.core.result import (
    ErrorInfo,
    ErrorKind,
    Phase,
    PhaseResult,
    ProbeResult,
    Status,
    TlsInfo,
    WarningInfo,
)
from smtpwatch.core.schedule import format_ts
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.outbox import Outbox
from smtpwatch.local.page_data import overview_rows, target_page
from smtpwatch.local.page_model import BAR_CHECKS, LIST_ROWS, LastError, Uptime
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.local.target_views import open_readonly

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
NOT_AFTER = NOW + timedelta(days=41, hours=12)
TARGETS = ("mx-flaky", "mx-down", "mx-up", "mx-idle")


def _result(
    target_id: str,
    at: datetime,
    status: Status,
    ms: dict[Phase, float] | None = None,
    *,
    tls: bool = False,
) -> ProbeResult:
    error = None
    if status is Status.CRITICAL:
        error = ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "connection refused")
    if status is Status.UNKNOWN:
        error = ErrorInfo(ErrorKind.CONFIG, None, "no such secret")
    ms = ms or {}
    phases = tuple(
        PhaseResult(p, p in ms, status is not Status.CRITICAL, ms.get(p)) for p in PHASES
    )
    cert = None
    if tls:
        cert = TlsInfo(
            version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", verified=False,
            verify_error="self-signed certificate", subject="CN=mx.example.net",
            issuer="CN=Example CA", sans=("DNS:mx.example.net", "DNS:mail.example.net"),
            not_before="2026-10-01T00:00:00Z", not_after=format_ts(NOT_AFTER), days_left=50,
        )  # fmt: skip
    return ProbeResult(target_id, format_ts(at), status, error=error, phases=phases, tls=cert)


def _flaky_status(h: int) -> Status:
    """The check h hours (and a half) ago: one unknown, a failure every 12 hours."""
    if h == 5:
        return Status.UNKNOWN
    if h % 12 == 0:
        return Status.CRITICAL
    return Status.WARNING if h % 7 == 0 else Status.OK


def _flaky_ms(h: int) -> dict[Phase, float]:
    return {Phase.DNS: float(h % 10), Phase.CONNECT: 2.5}


def _fill(store: SqliteStore) -> None:
    store.put_items({"target_id": t, "host": f"{t}.example.net", "port": 587} for t in TARGETS)
    for h in range(1, 721):  # hourly for 30 days, at half past
        at = NOW - h * HOUR + HOUR / 2
        store.add_result(_result("mx-flaky", at, _flaky_status(h), _flaky_ms(h)))
    store.add_result(_result("mx-down", NOW - 3 * HOUR, Status.OK, {Phase.DNS: 1.0}, tls=True))
    store.add_result(_result("mx-down", NOW - 2 * HOUR, Status.CRITICAL, {Phase.DNS: 1.0}))
    # mx-up: two checks an hour for two hours, then one whose probe could not run.
    for minutes, dns in ((-110, 4.0), (-80, 8.0), (-50, 10.0), (-20, 20.0)):
        at = NOW + timedelta(minutes=minutes)
        store.add_result(_result("mx-up", at, Status.OK, {Phase.DNS: dns}, tls=True))
    store.add_result(_result("mx-up", NOW - timedelta(minutes=5), Status.UNKNOWN))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "smtpwatch.db"
    with SqliteStore(path) as store:
        _fill(store)
    return path


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = open_readonly(db)
    yield c
    c.close()


def test_the_overview_has_one_row_per_target_by_id(conn: sqlite3.Connection) -> None:
    rows = overview_rows(conn, NOW)
    assert [r.view.target_id for r in rows] == sorted(TARGETS)


def test_uptime_counts_passed_of_measured_checks_per_window(conn: sqlite3.Connection) -> None:
    rows = {r.view.target_id: r for r in overview_rows(conn, NOW)}
    # 24 h: 24 checks, one unknown (left out), two failed. 7 d: 168, 1 unknown, 14
    # failed. 30 d: 720, 1 unknown, 60 failed. Warnings pass.
    assert rows["mx-flaky"].uptime == Uptime(21 / 23, 153 / 167, 659 / 719)
    assert rows["mx-down"].uptime == Uptime(0.5, 0.5, 0.5)
    assert rows["mx-idle"].uptime == Uptime(None, None, None)


def test_the_24h_uptime_counts_the_whole_hour_the_window_starts_in(
    conn: sqlite3.Connection,
) -> None:
    # 40 minutes later the window starts at 12:40 yesterday: the failed check at 12:30
    # is counted with the rest of its hour (a window's own count would be 21 of 22).
    later = NOW + timedelta(minutes=40)
    flaky = next(r for r in overview_rows(conn, later) if r.view.target_id == "mx-flaky")
    assert flaky.uptime.day == 21 / 23


def test_the_last_error_is_the_newest_measured_checks_and_a_pass_clears_it(
    conn: sqlite3.Connection,
) -> None:
    rows = {r.view.target_id: r for r in overview_rows(conn, NOW)}
    assert rows["mx-down"].last_error == LastError(
        phase="connect",
        kind="connect_refused",
        message="connection refused",
        at=format_ts(NOW - 2 * HOUR),
    )
    assert rows["mx-up"].last_error is None  # its newest is unknown; the one before passed
    assert rows["mx-flaky"].last_error is None  # failed at 23:30 and 11:30, passed since
    assert rows["mx-idle"].last_error is None


def test_cert_days_come_from_the_newest_measured_check(conn: sqlite3.Connection) -> None:
    rows = {r.view.target_id: r for r in overview_rows(conn, NOW)}
    assert rows["mx-up"].cert_days_left == 41  # 41.5 days left, in whole days
    assert rows["mx-down"].cert_days_left is None  # its newest check never reached TLS
    assert rows["mx-idle"].cert_days_left is None
    later = next(r for r in overview_rows(conn, NOT_AFTER + HOUR) if r.view.target_id == "mx-up")
    assert later.cert_days_left == -1  # expired an hour ago


def test_the_last_check_is_the_newest_of_any_status(conn: sqlite3.Connection) -> None:
    rows = {r.view.target_id: r for r in overview_rows(conn, NOW)}
    assert rows["mx-up"].last_check == format_ts(NOW - timedelta(minutes=5))
    assert rows["mx-idle"].last_check is None


def test_an_unknown_target_has_no_page(conn: sqlite3.Connection) -> None:
    assert target_page(conn, "mx-nowhere", "24h", NOW) is None


def test_the_bar_holds_the_newest_checks_oldest_first(conn: sqlite3.Connection) -> None:
    page = target_page(conn, "mx-flaky", "24h", NOW)
    assert page is not None
    assert len(page.checks) == BAR_CHECKS
    assert page.checks[-1].started_at == format_ts(NOW - HOUR / 2)
    assert page.checks[0].started_at == format_ts(NOW - BAR_CHECKS * HOUR + HOUR / 2)
    by_time = {c.started_at: c for c in page.checks}
    failed = by_time[format_ts(NOW - 12 * HOUR + HOUR / 2)]
    assert (failed.status, failed.error) == (
        "critical",
        "connect: connect_refused: connection refused",
    )
    unknown = by_time[format_ts(NOW - 5 * HOUR + HOUR / 2)]
    assert (unknown.status, unknown.error) == ("unknown", "config: no such secret")
    assert by_time[format_ts(NOW - 7 * HOUR + HOUR / 2)].status == "warning"


def test_failures_are_the_newest_failed_checks_first(conn: sqlite3.Connection) -> None:
    page = target_page(conn, "mx-flaky", "24h", NOW)
    assert page is not None
    assert len(page.failures) == LIST_ROWS
    assert [f.started_at for f in page.failures[:2]] == [
        format_ts(NOW - 12 * HOUR + HOUR / 2),
        format_ts(NOW - 24 * HOUR + HOUR / 2),
    ]
    assert {f.status for f in page.failures} == {"critical"}
    up = target_page(conn, "mx-up", "24h", NOW)
    assert up is not None
    assert up.failures == []  # only passed and unknown checks


def test_the_24h_chart_has_a_point_per_measured_check(conn: sqlite3.Connection) -> None:
    page = target_page(conn, "mx-flaky", "24h", NOW)
    assert page is not None
    hours = [h for h in range(24, 0, -1) if h != 5]  # oldest first; the unknown one is out
    assert [p.at for p in page.phase_points] == [
        (NOW - h * HOUR + HOUR / 2).timestamp() for h in hours
    ]
    assert [p.ms for p in page.phase_points] == [
        {"dns": float(h % 10), "connect": 2.5} for h in hours
    ]


def test_the_7d_and_30d_charts_have_hourly_means(conn: sqlite3.Connection) -> None:
    up = target_page(conn, "mx-up", "7d", NOW)
    assert up is not None
    assert [(p.at, p.ms) for p in up.phase_points] == [
        ((NOW - 2 * HOUR).timestamp(), {"dns": 6.0}),
        ((NOW - HOUR).timestamp(), {"dns": 15.0}),
    ]
    flaky = target_page(conn, "mx-flaky", "30d", NOW)
    assert flaky is not None
    assert len(flaky.phase_points) == 720 - 1  # an hour each; the unknown check has none
    assert flaky.phase_points[0].at == (NOW - 720 * HOUR).timestamp()
    assert flaky.phase_points[-1].ms == {"dns": 1.0, "connect": 2.5}


def test_a_window_without_checks_has_no_points_and_empty_lists(
    conn: sqlite3.Connection,
) -> None:
    page = target_page(conn, "mx-idle", "30d", NOW)
    assert page is not None
    assert (page.checks, page.phase_points, page.failures, page.alerts) == ([], [], [], [])
    assert page.cert == {}


def test_the_certificate_facts_are_listed_in_order(conn: sqlite3.Connection) -> None:
    page = target_page(conn, "mx-up", "24h", NOW)
    assert page is not None
    assert list(page.cert.items()) == [
        ("Subject", "CN=mx.example.net"),
        ("Issuer", "CN=Example CA"),
        ("Names", "DNS:mx.example.net, DNS:mail.example.net"),
        ("Valid from", "2026-10-01T00:00:00Z"),
        ("Valid until", format_ts(NOT_AFTER)),
        ("Days left", "41"),
        ("Verified", "no: self-signed certificate"),
        ("TLS version", "TLSv1.3"),
        ("Cipher", "TLS_AES_256_GCM_SHA384"),
    ]


def test_alerts_come_from_the_outbox_newest_first(db: Path) -> None:
    down = _result("mx-down", NOW - 2 * HOUR, Status.CRITICAL)
    with SqliteStore(db) as store:
        outbox = Outbox(store, clock=lambda: NOW.timestamp())
        for n, event in enumerate((AlertEvent.DOWN, AlertEvent.REMINDER)):
            alert = Alert(
                alert_id=f"a{n}", event=event, target_id="mx-down", status="down",
                created_at=format_ts(NOW - HOUR + n * timedelta(minutes=10)),
                target={"target_id": "mx-down", "host": "mx-down.example.net", "port": 587},
                result=down.to_dict(),
            )  # fmt: skip
            outbox.enqueue(alert, [("webhook-1", "https://hooks.example.net/…")])
        (first,) = outbox.due("webhook-1")
        outbox.failed(first, RuntimeError("HTTP 503 from the receiver"))
        outbox.enqueue(
            Alert("other", AlertEvent.DOWN, "mx-up", "down", format_ts(NOW)),
            [("console", "console")],
        )
    with closing(open_readonly(db)) as conn:
        page = target_page(conn, "mx-down", "24h", NOW)
    assert page is not None
    assert [(a.at, a.event, a.channel, a.state) for a in page.alerts] == [
        (format_ts(NOW - timedelta(minutes=50)), "reminder", "https://hooks.example.net/…",
         "pending"),
        (format_ts(NOW - HOUR), "down", "https://hooks.example.net/…", "pending"),
    ]  # fmt: skip
    assert page.alerts[0].detail.startswith("[REMINDER] mx-down.example.net:587 still down")
    assert page.alerts[1].detail == "HTTP 503 from the receiver"


def _downgrade(path: Path) -> None:
    """Make ``path`` look as the smtpwatch before the rollup left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER rollup_add")
    conn.execute("DROP TABLE rollup_hour")
    conn.execute("DROP TABLE rollup_day")
    conn.execute("DELETE FROM schema_migrations WHERE version > 2")
    conn.close()


def test_a_database_not_yet_upgraded_shows_the_same_figures(db: Path) -> None:
    with closing(open_readonly(db)) as conn:
        rolled = [(r.uptime, r.cert_days_left, r.last_error) for r in overview_rows(conn, NOW)]
        charts = [target_page(conn, "mx-flaky", w, NOW) for w in ("24h", "7d")]
    _downgrade(db)
    with closing(open_readonly(db)) as conn:
        assert [
            (r.uptime, r.cert_days_left, r.last_error) for r in overview_rows(conn, NOW)
        ] == rolled
        assert [target_page(conn, "mx-flaky", w, NOW) for w in ("24h", "7d")] == charts


def test_a_targets_page_shows_its_overview_row(conn: sqlite3.Connection) -> None:
    rows = {r.view.target_id: r for r in overview_rows(conn, NOW)}
    for target_id in TARGETS:
        page = target_page(conn, target_id, "7d", NOW)
        assert page is not None
        assert (page.row, page.window) == (rows[target_id], "7d")


def _raw_result(db: Path, target_id: str, at: datetime, doc: dict[str, object]) -> None:
    """A result as someone editing the database by hand would store it."""
    stored = {"target_id": target_id, "started_at": format_ts(at)} | doc
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO results (target_id, ts, started, status, data) VALUES (?, ?, ?, ?, ?)",
            (target_id, format_ts(at), at.timestamp(), doc["status"], json.dumps(stored)),
        )


def test_a_warning_targets_row_names_the_warnings_of_its_newest_measured_check(
    db: Path,
) -> None:
    warned = ProbeResult(
        "mx-up", format_ts(NOW - timedelta(minutes=3)), Status.WARNING,
        warnings=(
            WarningInfo(WarningKind.CERT_EXPIRING, "certificate expires in 5 days"),
            WarningInfo(WarningKind.SLOW, "took 9000 ms,\n\tover the 5000 ms limit"),
        ),
    )  # fmt: skip
    with SqliteStore(db) as store:
        store.add_result(warned)
        store.add_result(_result("mx-up", NOW - timedelta(minutes=2), Status.UNKNOWN))
    with closing(open_readonly(db)) as conn:
        rows = {r.view.target_id: r for r in overview_rows(conn, NOW)}
        page = target_page(conn, "mx-up", "24h", NOW)
    assert rows["mx-up"].warnings == (
        ("cert_expiring", "certificate expires in 5 days"),
        ("slow", "took 9000 ms, over the 5000 ms limit"),  # one line, as errors are
    )
    assert page is not None and page.row.warnings == rows["mx-up"].warnings
    assert rows["mx-up"].last_error is None
    assert rows["mx-flaky"].warnings == ()  # its newest check passed without a warning
    assert rows["mx-idle"].warnings == ()


def test_warnings_of_a_hand_edited_database_are_bounded_and_wrong_types_left_out(
    db: Path,
) -> None:
    many = [{"kind": f"kind_{n}", "message": f"message {n}"} for n in range(50)]
    _raw_result(db, "mx-up", NOW - timedelta(minutes=3), {"status": "warning", "warnings": many})
    hostile: list[object] = [
        "slow", 7, None, ["slow"], {"kind": 5, "message": "a number as kind"},
        {"message": "no kind"}, {"kind": "", "message": "an empty kind"},
        {"kind": "slow", "message": {"nested": True}}, {"kind": "cert\x1b[31m", "message": 3},
    ]  # fmt: skip
    _raw_result(db, "mx-down", NOW - HOUR, {"status": "warning", "warnings": hostile})
    _raw_result(db, "mx-flaky", NOW - HOUR / 4, {"status": "warning", "warnings": "slow"})
    with closing(open_readonly(db)) as conn:
        rows = {r.view.target_id: r for r in overview_rows(conn, NOW)}
    assert rows["mx-up"].warnings == tuple((f"kind_{n}", f"message {n}") for n in range(5))
    assert rows["mx-down"].warnings == (("slow", ""), ("cert?[31m", ""))
    assert rows["mx-flaky"].warnings == ()
