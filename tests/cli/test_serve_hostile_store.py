"""`smtpwatch serve` over a database someone edited by hand: result documents with
the wrong types or nested beyond reason, a rollup row that is not a number. Each page
still answers (the rest of what it shows intact), and a page that cannot be drawn is a
500 page, never a dropped connection. An empty database and a target never checked
show as such."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import pytest
from test_serve import Env, add_raw_result, env, get, samples, value  # noqa: F401  (env)

from local.html_dom import Node, parse
from smtpwatch.local.sqlite_store import SqliteStore

CSP_START = "default-src 'none'"


def _started_at(started: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))


@pytest.fixture
def edited(env: Env) -> Env:  # noqa: F811
    """Four targets: "fine" with a sane result; "nested" whose newest result is JSON
    nested 100,000 deep; "names" whose certificate names are a number; "huge" whose
    connect took 1.7e308 ms (a finite float, beyond any axis)."""
    ids = ("fine", "nested", "names", "huge")
    with SqliteStore(env.db) as store:
        store.put_items([{"target_id": t, "host": "127.0.0.1", "port": 25} for t in ids])
    started = time.time() - 120
    base = {"status": "ok", "started_at": _started_at(started), "started": started}
    add_raw_result(env.db, "fine", base | {"target_id": "fine", "total_ms": 5.0})
    tls = {"subject": "CN=mail.example", "sans": 5, "not_after": "2030-01-01T00:00:00Z"}
    add_raw_result(env.db, "names", base | {"target_id": "names", "tls": tls})
    phases = {"connect": {"ms": 1.7e308}, "banner": {"ms": 3.0}}
    add_raw_result(env.db, "huge", base | {"target_id": "huge", "phases": phases})
    with sqlite3.connect(env.db) as conn:
        conn.execute(
            "INSERT INTO results (target_id, ts, started, status, data) VALUES (?, ?, ?, ?, ?)",
            ("nested", base["started_at"], started, "ok", "[" * 100_000 + "]" * 100_000),
        )
    return env


def _page(port: int, path: str) -> tuple[int, Node]:
    status, headers, body = get(port, path)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"].startswith(CSP_START)
    return status, parse(body.decode("utf-8"))


def test_documents_with_wrong_types_leave_every_page_and_metrics_standing(edited: Env) -> None:
    port = edited.serve()
    status, doc = _page(port, "/")
    assert status == 200
    shown = {tr.attrs["data-target-id"]: tr for tr in doc.all("tr", "target")}
    assert set(shown) == {"fine", "nested", "names", "huge"}
    assert shown["fine"].one("td", "uptime-24h").text() == "100.00 %"
    assert shown["nested"].one("td", "last-check").text() == "\u2013"  # nothing readable

    status, _, body = get(port, "/metrics")
    assert status == 200
    got = samples(body.decode())
    assert value(got, "probe_success", target_id="fine") == [1]
    assert value(got, "smtpwatch_target_state", target_id="nested", state="pending") == [1]
    status, _, body = get(port, "/api/targets/nested")
    assert status == 200 and json.loads(body)["results"] == [{}]

    status, doc = _page(port, "/targets/names")
    assert status == 200
    facts = {d.one("dt").text(): d.one("dd").text() for d in doc.one("dl", "cert").all("div")}
    assert facts["Subject"] == "CN=mail.example" and "Names" not in facts

    for window in ("24h", "7d", "30d"):
        status, doc = _page(port, f"/targets/huge?window={window}")
        assert status == 200, window
        chart = doc.one("svg", "phase-chart")
        (banner,) = chart.all("circle", "point", data_phase="banner")
        assert banner.one("title").text().endswith("banner: 3.0 ms")
        assert len(chart.all("circle", "point", data_phase="connect")) == 1


def test_a_page_that_cannot_be_drawn_is_a_500_page_and_the_server_goes_on(edited: Env) -> None:
    # The hourly rollup is the store's own bookkeeping: a count edited into a word is
    # nothing the 7-day chart can average.
    with sqlite3.connect(edited.db) as conn:
        conn.execute("UPDATE rollup_hour SET banner_n = 'many' WHERE target_id = 'huge'")
    port = edited.serve()
    for _ in range(2):
        status, doc = _page(port, "/targets/huge?window=7d")
        assert status == 500
        assert doc.one("h1").text().startswith("500 ")
        assert "could not be drawn" in doc.one("p", "error-detail").text()
        assert doc.one("main").one("a").attrs["href"] == "/"
    status, headers, body = get(port, "/targets/huge?window=7d", method="HEAD")
    assert (status, body) == (500, b"") and int(headers["Content-Length"]) > 0
    assert _page(port, "/targets/huge")[0] == 200  # the day's chart reads the results
    assert _page(port, "/")[0] == 200


def test_hand_edited_alerts_are_listed_with_what_can_be_read(edited: Env) -> None:
    alert = {
        "alert_id": "a1",
        "event": "down",
        "target_id": "fine",
        "status": "critical",
        "created_at": "2026-12-07T10:00:00Z",
        "result": ["not", "a", "result"],
    }
    undated = {k: v for k, v in alert.items() if k != "created_at"} | {"alert_id": "a2"}
    rows = [(alert, time.time()), (undated, 1e20)]  # queued beyond any calendar
    with sqlite3.connect(edited.db) as conn:
        for doc, queued in rows:
            conn.execute(
                "INSERT INTO outbox (channel, label, alert_id, target_id, event, ord, lanes, "
                "alert, state, queued, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("console", "console", doc["alert_id"], "fine", "down", 1.0, "[]",
                 json.dumps(doc), "delivered", queued, 0.0),
            )  # fmt: skip
    status, doc = _page(edited.serve(), "/targets/fine")
    assert status == 200
    listed = doc.one("table", id="alerts").one("tbody").all("tr")
    assert [tr.one("td", "event").text() for tr in listed] == ["down", "down"]
    assert [tr.one("td", "delivery").text() for tr in listed] == ["delivered", "delivered"]
    assert listed[0].one("td", "at").text() == "\u2013"  # no time that can be shown
    assert "2026-12-07" in listed[1].one("td", "at").text()


def _strict(text: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_stored_nan_or_infinity_leaves_the_api_strict_json(edited: Env) -> None:
    started = time.time() - 60
    with sqlite3.connect(edited.db) as conn:
        conn.execute(
            "INSERT INTO results (target_id, ts, started, status, data) VALUES (?, ?, ?, ?, ?)",
            (
                "fine",
                _started_at(started),
                started,
                "ok",
                json.dumps({"status": "ok", "started_at": _started_at(started)})[:-1]
                + ', "total_ms": NaN, "phases": {"connect": {"ms": Infinity}}}',
            ),
        )
    port = edited.serve()
    status, _, body = get(port, "/api/targets/fine")
    assert status == 200
    newest = _strict(body)["results"][0]
    assert newest["total_ms"] is None and newest["phases"]["connect"]["ms"] is None
    status, _, body = get(port, "/api/targets")
    assert status == 200 and len(_strict(body)["targets"]) == 4


def test_an_empty_database_and_a_target_never_checked(env: Env) -> None:  # noqa: F811
    SqliteStore(env.db).close()
    port = env.serve()
    status, doc = _page(port, "/")
    assert status == 200 and doc.all("tr", "target") == []
    assert doc.one("p", "empty").text().startswith("No targets yet")
    status, _, body = get(port, "/metrics")
    assert status == 200 and samples(body.decode()) == {}
    assert json.loads(get(port, "/api/targets")[2]) == {"targets": []}
    with SqliteStore(env.db) as store:
        store.put_items([{"target_id": "new", "host": "127.0.0.1", "port": 25}])
    status, doc = _page(port, "/")
    (row,) = doc.all("tr", "target")
    assert row.one("td", "state").text() == "PENDING"
    assert [row.one("td", c).text() for c in ("uptime-24h", "cert-days", "last-check")] == [
        "\u2013"
    ] * 3
    status, doc = _page(port, "/targets/new?window=30d")
    assert status == 200
    assert doc.one("p", "no-checks").text() == "No checks stored yet."
    assert doc.one("p", "no-data").text() == "No response times in the last 30 days."
    assert doc.all("p", "no-cert") != [] and len(doc.all("p", "empty")) == 2
