"""The rollup tables stay equal to a recount of the results: after inserts by the store
or another writer, repeated inserts, retention, purge, and when an older database is
upgraded and filled from the results it already holds."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from smtpwatch.core.kinds import PHASES
from smtpwatch.core.result import ErrorInfo, ErrorKind, Phase, PhaseResult, ProbeResult, Status
from smtpwatch.core.schedule import format_ts
from smtpwatch.local.rollup import ROLLUP_PHASES
from smtpwatch.local.sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from smtpwatch.local.sqlite_store import SqliteStore

START = datetime(2026, 11, 30, 22, 17, 5, tzinfo=UTC)
Buckets = dict[tuple[str, int], dict[str, float]]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "smtpwatch.db")
    yield s
    s.close()


def _result(target_id: str, at: datetime, status: Status, ms: dict[Phase, float]) -> ProbeResult:
    error = None
    if status is Status.CRITICAL:
        error = ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "connection refused")
    phases = tuple(
        PhaseResult(p, p in ms, status is not Status.CRITICAL, ms.get(p)) for p in PHASES
    )
    return ProbeResult(target_id, format_ts(at), status, error=error, phases=phases)


def _results(seed: int, count: int) -> list[ProbeResult]:
    """Three targets, irregular times over three days, every status, phases reached or
    not, milliseconds with fractions."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        at = START + timedelta(seconds=rng.randrange(3 * 86_400))
        status = rng.choice([Status.OK, Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN])
        reached = PHASES[: rng.randrange(len(PHASES) + 1)]
        ms = {p: round(rng.uniform(0, 500), 1) for p in reached}
        out.append(_result(rng.choice(["mx-a", "mx-b", "mx-c"]), at, status, ms))
    return out


def _recount(path: Path) -> tuple[Buckets, Buckets]:
    """The buckets counted again from the results table, in Python."""
    hours: Buckets = {}
    days: Buckets = {}
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT target_id, started, status, data FROM results").fetchall()
    for target_id, started, status, data in rows:
        outcome = {"ok": "passed", "warning": "passed", "critical": "failed"}.get(status, "unknown")
        hour = hours.setdefault((target_id, int(started // 3600)), _empty(with_phases=True))
        day = days.setdefault((target_id, int(started // 86_400)), _empty(with_phases=False))
        hour[outcome] += 1
        day[outcome] += 1
        if outcome == "unknown":
            continue
        try:
            phases = json.loads(data).get("phases") or {}
        except ValueError:
            continue
        for phase in ROLLUP_PHASES:
            ms = (phases.get(phase) or {}).get("ms")
            if isinstance(ms, int | float):
                hour[f"{phase}_ms"] += ms
                hour[f"{phase}_n"] += 1
    return hours, days


def _empty(*, with_phases: bool) -> dict[str, float]:
    counts: dict[str, float] = {"passed": 0, "failed": 0, "unknown": 0}
    if with_phases:
        counts |= {f"{p}_{x}": 0 for p in ROLLUP_PHASES for x in ("ms", "n")}
    return counts


def _stored(path: Path) -> tuple[Buckets, Buckets]:
    out: list[Buckets] = []
    with sqlite3.connect(path) as conn:
        for table in ("rollup_hour", "rollup_day"):
            cur = conn.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cur.description]
            out.append({(r[0], r[1]): dict(zip(names[2:], r[2:], strict=True)) for r in cur})
    return out[0], out[1]


def _assert_in_step(path: Path) -> None:
    hours, days = _stored(path)
    want_hours, want_days = _recount(path)
    assert days == want_days
    assert hours.keys() == want_hours.keys()
    for key, want in want_hours.items():
        assert hours[key] == pytest.approx(want), key


def test_the_probe_phases_all_have_rollup_columns() -> None:
    assert tuple(p.value for p in PHASES) == ROLLUP_PHASES


def test_every_result_stored_is_counted_in_its_hour_and_day(store: SqliteStore) -> None:
    for result in _results(seed=1, count=400):
        store.add_result(result)
    _assert_in_step(store.path)
    hours, days = _stored(store.path)
    assert sum(b["passed"] + b["failed"] + b["unknown"] for b in days.values()) == 400
    assert sum(b["passed"] + b["failed"] + b["unknown"] for b in hours.values()) == 400


def test_a_result_another_writer_inserts_is_counted_too(store: SqliteStore) -> None:
    other = sqlite3.connect(store.path)
    doc = _result("mx-a", START, Status.OK, {Phase.DNS: 1.5, Phase.CONNECT: 2.0}).to_dict()
    other.execute(
        "INSERT INTO results VALUES ('mx-a', 'k', ?, 'ok', ?)",
        (START.timestamp(), json.dumps(doc)),
    )
    other.commit()
    other.close()
    hours, _ = _stored(store.path)
    bucket = hours[("mx-a", int(START.timestamp() // 3600))]
    assert (bucket["passed"], bucket["dns_ms"], bucket["dns_n"], bucket["tls_n"]) == (1, 1.5, 1, 0)


def test_a_result_stored_again_for_the_same_slot_is_not_counted_twice(
    store: SqliteStore,
) -> None:
    slot = format_ts(START)
    first = _result("mx-a", START, Status.CRITICAL, {Phase.DNS: 3.0})
    again = _result("mx-a", START + timedelta(seconds=5), Status.OK, {Phase.DNS: 9.0})
    assert store.add_result(first, scheduled_at=slot)
    assert not store.add_result(again, scheduled_at=slot)
    assert not store.add_result(first, scheduled_at=slot)
    hours, days = _stored(store.path)
    assert list(days.values()) == [{"passed": 0, "failed": 1, "unknown": 0}]
    (bucket,) = hours.values()
    assert (bucket["failed"], bucket["passed"], bucket["dns_ms"], bucket["dns_n"]) == (1, 0, 3.0, 1)
    _assert_in_step(store.path)


@pytest.mark.parametrize(
    "cutoff",
    [
        START + timedelta(days=1, hours=5, minutes=31, seconds=7),  # inside an hour
        START + timedelta(days=1, minutes=43),  # the hour just after midnight
        datetime(2026, 12, 2, tzinfo=UTC),  # on a day boundary
        START - timedelta(days=1),  # before everything: nothing goes
        START + timedelta(days=4),  # after everything: everything goes
    ],
)
def test_retention_keeps_the_rollup_equal_to_the_results_left(
    store: SqliteStore, cutoff: datetime
) -> None:
    for result in _results(seed=2, count=300):
        store.add_result(result)
    next_hour = datetime.fromtimestamp((cutoff.timestamp() // 3600 + 1) * 3600, UTC)
    for at in (cutoff, next_hour):  # on the cutoff, and on the next hour's first second
        store.add_result(_result("mx-a", at, Status.OK, {Phase.DNS: 1.0}))
    store.prune_results(format_ts(cutoff))
    _assert_in_step(store.path)
    hours, days = _stored(store.path)
    assert all(hour >= int(cutoff.timestamp() // 3600) for _, hour in hours)
    assert all(day >= int(cutoff.timestamp() // 86_400) for _, day in days)
    for result in _results(seed=3, count=50):  # and it goes on counting
        store.add_result(result)
    _assert_in_step(store.path)


def test_purging_a_target_removes_its_buckets_and_no_others(store: SqliteStore) -> None:
    for result in _results(seed=4, count=200):
        store.add_result(result)
    store.purge("mx-b")
    hours, days = _stored(store.path)
    assert {t for t, _ in hours} == {t for t, _ in days} == {"mx-a", "mx-c"}
    _assert_in_step(store.path)


def _older_database(path: Path, rows: list[tuple[str, str, float, str, str]]) -> None:
    """A database as the smtpwatch before the rollup left it, holding ``rows``."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
        "description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for version, description, statements in MIGRATIONS:
        if version < 3:
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'x')", (version, description))
    conn.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?)", rows)
    conn.close()


def test_upgrading_an_older_database_fills_the_rollup_from_its_results(tmp_path: Path) -> None:
    rows: list[tuple[str, str, float, str, str]] = []
    for n, result in enumerate(_results(seed=5, count=300)):
        rows.append(
            (result.target_id, f"k{n}", _epoch(result.started_at), result.status.value,
             json.dumps(result.to_dict()))
        )  # fmt: skip
    at = START.timestamp()
    odd: list[dict[str, Any] | str] = [
        "{not json",  # a row someone edited by hand: counted, no milliseconds
        {"phases": {"dns": {"ms": "12"}, "connect": {"ms": 4}}},  # a text ms is no number
        {"phases": []},
    ]
    for n, doc in enumerate(odd):
        text = doc if isinstance(doc, str) else json.dumps(doc)
        rows.append(("mx-odd", f"odd{n}", at, "ok", text))
    path = tmp_path / "old.db"
    _older_database(path, rows)
    with SqliteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        _assert_in_step(path)
        hours, _ = _stored(path)
        odd_hour = hours[("mx-odd", int(at // 3600))]
        assert (odd_hour["passed"], odd_hour["dns_n"], odd_hour["connect_ms"]) == (3, 0, 4.0)
        for result in _results(seed=6, count=40):
            store.add_result(result)
        _assert_in_step(path)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
