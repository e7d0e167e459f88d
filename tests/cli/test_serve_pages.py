"""The HTML pages of `smtpwatch serve` over a database filled by a real `run --once`
against loopback servers: what a person sees, the headers that keep a page inert, the
query checks (400 naming the parameter), the 404 page, HEAD, and basic auth."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable

import pytest
from test_serve import Env, add_raw_result, env, get  # noqa: F401  (env: the fixture)

from local.html_dom import Node, parse
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import HostileServer, SmtpServer, closed_port

XSS = "<script>alert(1)</script>"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
ODD_ID = "odd/id ?#%"


@pytest.fixture
def fleet(
    env: Env,  # noqa: F811
    smtp_server: Callable[..., SmtpServer],
    hostile: Callable[[HostileServer], HostileServer],
) -> Env:
    """`run --once` over a healthy server ("mail-up", env=prod), a refused port
    ("mail-down", env=prod), and a server greeting with a script tag ("xss", env=test)."""
    server = smtp_server("127.0.0.1")
    banner = hostile(HostileServer.greeting(f"554 {XSS}\r\n".encode()))
    plain = {"encryption": "none", "recheck_delay_s": 0}
    items = [
        {"target_id": "mail-up", "host": "127.0.0.1", "port": server.port, "tags": {"env": "prod"}},
        {
            "target_id": "mail-down",
            "host": "127.0.0.1",
            "port": closed_port(),
            "tags": {"env": "prod"},
        },
        {"target_id": "xss", "host": "127.0.0.1", "port": banner.port, "tags": {"env": "test"}},
        {"target_id": ODD_ID, "host": "127.0.0.1", "port": server.port},
    ]
    with SqliteStore(env.db) as store:
        store.put_items([plain | item for item in items])
    done = env("run", "--once")
    assert done.returncode == 2, done.stdout + done.stderr
    return env


def page(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], Node]:
    status, got, body = get(port, path, headers=headers)
    assert got["Content-Type"] == "text/html; charset=utf-8"
    return status, got, parse(body.decode("utf-8"))


def rows(doc: Node) -> dict[str, Node]:
    return {tr.attrs["data-target-id"]: tr for tr in doc.all("tr", "target")}


def stored_checks(env: Env, target_id: str) -> int:  # noqa: F811
    with sqlite3.connect(env.db) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM results WHERE target_id = ?", (target_id,)
        ).fetchone()
    return int(count)


def test_the_overview_shows_each_target_and_names_a_down_ones_phase(fleet: Env) -> None:
    port = fleet.serve()
    status, headers, doc = page(port, "/")
    assert status == 200
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    shown = rows(doc)
    assert set(shown) == {"mail-up", "mail-down", "xss", ODD_ID}
    down = shown["mail-down"]
    assert "state-down" in down.classes and down.one("td", "state").text() == "DOWN"
    assert down.one("span", "error-phase").text() == "connect"
    assert down.one("span", "error-kind").text() == "connect_refused"
    assert down.one("span", "error-message").text() != ""
    up = shown["mail-up"]
    assert up.one("td", "state").text() == "UP" and up.one("td", "error").text() == ""
    assert up.one("td", "uptime-24h").text() == "100.00 %"
    assert up.one("td", "host").text() == "127.0.0.1"
    link = shown[ODD_ID].one("a", "target-link").attrs["href"]
    assert link == "/targets/" + urllib.parse.quote(ODD_ID, safe="")


def test_a_script_in_a_banner_is_text_on_both_pages(fleet: Env) -> None:
    port = fleet.serve()
    _, _, doc = page(port, "/")
    assert doc.all("script") == []
    xss = rows(doc)["xss"]
    assert xss.one("td", "state").text() == "DOWN"
    assert XSS in xss.one("span", "error-message").text()
    _, _, target = page(port, "/targets/xss")
    assert target.all("script") == []
    assert any(XSS in t.text() for t in target.one("svg", "check-bar").all("title"))


def test_the_filter_by_state_and_by_tag(fleet: Env) -> None:
    port = fleet.serve()
    assert set(rows(page(port, "/?state=down")[2])) == {"mail-down", "xss"}
    assert set(rows(page(port, "/?tag=env%3Dprod")[2])) == {"mail-up", "mail-down"}
    both = page(port, "/?state=down&tag=env=prod")[2]
    assert set(rows(both)) == {"mail-down"}
    # what the form sends when nothing is chosen
    assert len(rows(page(port, "/?state=&tag=")[2])) == 4


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/?state=sideways", "state"),
        ("/?tag=env", "tag"),
        ("/?colour=red", "colour"),
        ("/targets/mail-up?window=1y", "window"),
        ("/targets/mail-up?window=24h&window=7d", "window"),
    ],
)
def test_a_query_the_page_cannot_use_is_a_400_naming_the_parameter(
    fleet: Env, path: str, parameter: str
) -> None:
    status, headers, doc = page(fleet.serve(), path)
    assert status == 400 and headers["Content-Security-Policy"] == CSP
    assert doc.one("p", "error-detail").text().startswith(f"{parameter}: ")
    assert doc.one("main").one("a").attrs["href"] == "/"


def test_a_target_page_of_a_real_run(fleet: Env) -> None:
    port = fleet.serve()
    status, headers, doc = page(port, "/targets/mail-up")
    assert status == 200 and headers["Content-Security-Policy"] == CSP
    assert doc.one("h1").text() == "mail-up"
    cells = doc.one("svg", "check-bar").all("rect", "cell")
    assert len(cells) == stored_checks(fleet, "mail-up") == 1
    assert cells[0].classes == {"cell", "status-ok"}
    assert cells[0].one("title").text().endswith(" ok")
    chart = doc.one("svg", "phase-chart")
    phases = {c.attrs["data-phase"] for c in chart.all("circle", "point")}
    assert {"connect", "banner", "ehlo"} <= phases
    assert len(chart.all("circle", "point")) == len(phases)  # one check: a point per phase
    assert [a.text() for a in doc.one("nav", "windows").all("a", "current")] == ["24h"]
    _, _, week = page(port, "/targets/mail-up?window=7d")
    assert [a.text() for a in week.one("nav", "windows").all("a", "current")] == ["7d"]
    _, _, down = page(port, "/targets/mail-down")
    (cell,) = down.one("svg", "check-bar").all("rect", "cell")
    assert cell.classes == {"cell", "status-critical"}
    assert "connect: connect_refused" in cell.one("title").text()
    failures = down.one("table", id="failures").one("tbody").all("tr")
    assert len(failures) == 1 and "connect_refused" in failures[0].text()
    _, _, odd = page(port, "/targets/" + urllib.parse.quote(ODD_ID, safe=""))
    assert odd.one("h1").text() == ODD_ID


def test_an_unknown_target_or_path_is_a_404_page(fleet: Env) -> None:
    port = fleet.serve()
    status, _, doc = page(port, "/targets/nosuch")
    assert status == 404 and "'nosuch'" in doc.one("p", "error-detail").text()
    assert page(port, "/targets/")[0] == 404
    assert page(port, "/nothing/here")[0] == 404
    assert get(port, "/api/targets/nosuch")[0] == 404  # the API's answer is unchanged


def test_the_stylesheet_and_head_requests(fleet: Env) -> None:
    port = fleet.serve()
    status, headers, body = get(port, "/static/style.css")
    assert status == 200 and headers["Content-Type"] == "text/css; charset=utf-8"
    assert b"@media (max-width: 700px)" in body
    for path in ("/", "/targets/mail-down", "/static/style.css", "/static/favicon.svg"):
        status, headers, body = get(port, path, method="HEAD")
        assert (status, body) == (200, b"") and int(headers["Content-Length"]) > 0
    assert "Content-Security-Policy" in get(port, "/", method="HEAD")[1]


def test_basic_auth_guards_the_pages(fleet: Env) -> None:
    port = fleet.serve(SMTPWATCH_SERVE_PASSWORD="pages-Pa55")
    for path in ("/", "/targets/mail-up", "/static/style.css", "/?state=sideways"):
        assert get(port, path)[0] == 401
    right = "Basic " + base64.b64encode(b"me:pages-Pa55").decode()
    assert page(port, "/", Authorization=right)[0] == 200
    assert page(port, "/targets/mail-up", Authorization=right)[0] == 200


def test_the_footer_names_the_serving_location(fleet: Env) -> None:
    port = fleet.serve(SMTPWATCH_LOCATION="lab-7")
    footer = page(port, "/")[2].one("footer").text()
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC at lab-7", footer)


def test_a_long_history_gives_90_cells_and_a_point_per_measured_phase(fleet: Env) -> None:
    now = time.time()
    # One check a minute, the newest a minute ago, every 5th critical; the run's own
    # check (ok) is newer than all of them.
    for i in range(95):
        started = now - (95 - i) * 60
        doc = {
            "target_id": "mail-up",
            "status": "critical" if i % 5 == 0 else "ok",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "started": started,
            "phases": {"connect": {"ms": 1.0 + i}, "banner": {"ms": 2.0 + i}},
        }
        add_raw_result(fleet.db, "mail-up", doc)
    _, _, doc = page(fleet.serve(), "/targets/mail-up")
    cells = doc.one("svg", "check-bar").all("rect", "cell")
    assert len(cells) == 90
    statuses = [c.attrs["class"].split()[1] for c in cells]
    # the newest 90: i = 6 ... 94 and the run's; critical: i = 10, 15 ... 90
    assert statuses.count("status-critical") == 17 and statuses[4] == "status-critical"
    assert cells[-1].one("title").text().endswith(" ok")
    chart = doc.one("svg", "phase-chart")
    # the 95 stored here and the one of the run, all within 24 h
    assert len(chart.all("circle", "point", data_phase="connect")) == 96
    assert len(chart.all("circle", "point", data_phase="banner")) == 96


def test_an_unusable_location_variable_gives_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from smtpwatch.core.probe.environment import default_location
    from smtpwatch.local.web import serving_location

    monkeypatch.setenv("SMTPWATCH_LOCATION", "lab-9")
    assert serving_location() == "lab-9"
    for unusable in ("two\nlines", "x" * 65, ""):
        monkeypatch.setenv("SMTPWATCH_LOCATION", unusable)
        assert serving_location() == default_location()


def test_a_long_or_much_repeated_query_is_a_short_400(env: Env) -> None:  # noqa: F811
    SqliteStore(env.db).close()
    port = env.serve()
    eight = "&".join(f"tag=k{i}=v" for i in range(8))
    status, _, doc = page(port, "/?" + eight)
    assert status == 400
    assert doc.one("p", "error-detail").text() == (
        "tag: at most 7 tags (a target carries no more); 8 given"
    )
    status, _, doc = page(port, "/?tag=k=" + "v" * 400)
    detail = doc.one("p", "error-detail").text()
    assert status == 400 and detail.startswith("tag: 'k=vvv") and "longer than" in detail
    assert len(detail) < 200
    status, _, doc = page(port, "/?state=" + "x" * 10_000)
    detail = doc.one("p", "error-detail").text()
    assert status == 400 and detail.startswith("state: unknown state 'xxx") and len(detail) < 200
    status, _, doc = page(port, "/targets/x?window=" + "y" * 10_000)
    detail = doc.one("p", "error-detail").text()
    assert status == 400 and detail.startswith("window: unknown window 'yyy") and len(detail) < 200


def test_basic_auth_guards_every_path_and_head(env: Env) -> None:  # noqa: F811
    with SqliteStore(env.db) as store:
        store.put_items([{"target_id": "mail-up", "host": "127.0.0.1", "port": 25}])
    port = env.serve(SMTPWATCH_SERVE_PASSWORD="every-Pa55")
    paths = ("/static/favicon.svg", "/nothing/here", "/targets/nosuch", "/api/targets/mail-up")
    for path in paths:
        for method in ("GET", "HEAD"):
            status, headers, body = get(port, path, method=method)
            assert status == 401, (method, path)
            assert headers["WWW-Authenticate"].startswith('Basic realm="smtpwatch"')
            assert b"mail-up" not in body
    assert get(port, "/", method="HEAD")[0] == 401
    right = "Basic " + base64.b64encode(b"x:every-Pa55").decode()
    assert get(port, "/nothing/here", headers={"Authorization": right})[0] == 404
    assert get(port, "/static/favicon.svg", headers={"Authorization": right})[0] == 200


def test_each_failure_names_the_location_it_ran_from(fleet: Env) -> None:
    started = time.time() - 3600
    add_raw_result(
        fleet.db,
        "mail-down",
        {
            "target_id": "mail-down",
            "status": "critical",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "started": started,
            "location": "probe-eu",
            "error": {"phase": "banner", "kind": "timeout", "message": "no greeting"},
        },
    )
    with sqlite3.connect(fleet.db) as conn:
        (data,) = conn.execute(
            "SELECT data FROM results WHERE target_id = 'mail-down' ORDER BY started DESC"
        ).fetchone()
    of_the_run = json.loads(data)["location"]
    _, _, doc = page(fleet.serve(), "/targets/mail-down")
    listed = doc.one("table", id="failures").one("tbody").all("tr")
    assert [tr.one("td", "location").text() for tr in listed] == [of_the_run, "probe-eu"]
    assert of_the_run != ""


def test_run_serve_pages_name_the_runs_location(env: Env) -> None:  # noqa: F811
    SqliteStore(env.db).close()
    argv = [sys.executable, "-m", "smtpwatch", "run", "--location", "lab-3", "--serve", "0"]
    proc = subprocess.Popen(
        [*argv, "--db", str(env.db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env.env | {"SMTPWATCH_LOCATION": "not-this-one"},
    )
    env.servers.append(proc)  # stopped by the fixture
    assert proc.stdout is not None
    port = None
    for line in proc.stdout:
        if "serving http://127.0.0.1:" in line:
            port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
            break
    assert port is not None
    footer = page(port, "/")[2].one("footer").text()
    assert re.search(r" UTC at lab-3 ", footer), footer


def test_every_html_answer_carries_the_policy_headers(env: Env) -> None:  # noqa: F811
    with SqliteStore(env.db) as store:
        store.put_items([{"target_id": "mail-up", "host": "127.0.0.1", "port": 25}])
    port = env.serve()
    answers = {
        "/": 200,
        "/targets/mail-up?window=30d": 200,
        "/?state=sideways": 400,
        "/targets/nosuch": 404,
        "/no/such/page": 404,
    }
    for path, code in answers.items():
        for method in ("GET", "HEAD"):
            status, headers, _ = get(port, path, method=method)
            assert status == code, (method, path)
            assert headers["Content-Type"] == "text/html; charset=utf-8"
            assert headers["Content-Security-Policy"] == CSP, (method, path)
            assert headers["X-Frame-Options"] == "DENY"
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Referrer-Policy"] == "no-referrer"
            assert headers["Cache-Control"] == "no-store"


ODD_IDS = ("..", "a/b", "a%2Fb", "q\"u'o te", "\u00fcn\u00ef \u6f22", "<b>x</b>", "50%")


def test_each_odd_ids_link_leads_to_its_own_page(env: Env) -> None:  # noqa: F811
    with SqliteStore(env.db) as store:
        store.put_items([{"target_id": t, "host": "127.0.0.1", "port": 25} for t in ODD_IDS])
    port = env.serve()
    shown = rows(page(port, "/")[2])
    assert set(shown) == set(ODD_IDS)
    for target_id, row in shown.items():
        link = row.one("a", "target-link")
        assert link.text() == target_id
        status, _, doc = page(port, link.attrs["href"])
        assert status == 200 and doc.one("h1").text() == target_id, target_id
        for window in doc.one("nav", "windows").all("a"):
            status, _, other = page(port, window.attrs["href"])
            assert status == 200 and other.one("h1").text() == target_id
