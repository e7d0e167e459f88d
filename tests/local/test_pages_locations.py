"""The dashboard's pages and JSON for verdicts of several locations, as the server
renders them from a store holding such verdicts: `N/M locations failing` in the
overview and the target's failures, each location's vote of the newest check, the
partial failures, hover text, and hostile stored text shown as text. The verdicts come
from real probes of an SMTP server on loopback, one per location (a failing location's
connection is refused), decided by ``verdict``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from local.html_dom import Node, parse
from location_verdicts import slot_at, slot_verdict, target_item
from smtpwatch.core.result import ProbeResult
from smtpwatch.core.schedule import utc_now
from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.local.page_data import overview_rows, target_page
from smtpwatch.local.pages.overview import render_overview
from smtpwatch.local.pages.query import overview_filter
from smtpwatch.local.pages.static import static_file
from smtpwatch.local.pages.target import render_target
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.local.target_views import open_readonly
from smtpwatch.local.web_api import target_document
from smtpwatch.testing.servers import SmtpServer

StartServer = Callable[..., SmtpServer]


@pytest.fixture
def server(smtp_server: StartServer) -> SmtpServer:
    return smtp_server("127.0.0.1")


@pytest.fixture
def slots(tmp_path: Path, server: SmtpServer) -> dict[str, ProbeResult]:
    """A store with three slots of mx1: all pass; two fail (DOWN); eu-west-1 fails."""
    made = {
        "pass": slot_verdict(server, slot_at(3)),
        "down": slot_verdict(server, slot_at(2), failing={"us-east-1", "eu-west-1"}),
        "partial": slot_verdict(server, slot_at(1), failing={"eu-west-1"}),
    }
    with SqliteStore(tmp_path / "smtpwatch.db") as store:
        store.put_items([target_item(server)])
        for minutes, result in zip((3, 2, 1), made.values(), strict=True):
            assert store.add_result(result, scheduled_at=slot_at(minutes))
        state = TargetState("mx1", status=TargetStatus.UP, last_change_at=slot_at(1))
        assert store.save_state(state)
    return made


def pages(db: Path) -> tuple[Node, Node]:
    """(the overview, mx1's page), as the server renders them."""
    now = utc_now()
    with closing(open_readonly(db)) as conn:
        rows = overview_rows(conn, now)
        page = target_page(conn, "mx1", "24h", now)
    assert page is not None
    overview = render_overview(rows, overview_filter({}), now, "us-east-1")
    return parse(overview), parse(render_target(page, now, "us-east-1"))


def cells(table: Node) -> list[list[str]]:
    return [[td.text() for td in tr.all("td")] for tr in table.one("tbody").all("tr")]


def test_the_overview_says_how_many_locations_fail_and_which(
    tmp_path: Path, server: SmtpServer, slots: dict[str, ProbeResult]
) -> None:
    overview, _ = pages(tmp_path / "smtpwatch.db")
    row = overview.one("tr", data_target_id="mx1")
    error = row.one("td", "error")
    assert error.one("span", "locations-failing").text() == "1/3 locations failing"
    (failing,) = error.all("span", "location-failing")
    assert failing.text() == (
        f"eu-west-1 connect: connect_refused: connection refused by 127.0.0.2:{server.port}"
    )
    assert row.one("td", "location").text() == "3 locations"


def test_a_targets_page_lists_each_locations_vote_and_its_partial_failures(
    tmp_path: Path, server: SmtpServer, slots: dict[str, ProbeResult]
) -> None:
    _, page = pages(tmp_path / "smtpwatch.db")
    facts = {d.one("dt").text(): d.one("dd").text() for d in page.one("dl", "facts").all("div")}
    assert facts["Location"] == "3 locations"
    # the newest check's votes, in the slot's order
    assert page.one("p", "locations-failing").text() == "1/3 locations failing"
    refused = f"connection refused by 127.0.0.2:{server.port}"
    assert cells(page.one("table", id="locations")) == [
        ["us-east-1", "ok", "\u2013", "\u2013", "\u2013"],
        ["eu-west-1", "critical", "connect", "connect_refused", refused],
        ["ap-southeast-2", "ok", "\u2013", "\u2013", "\u2013"],
    ]
    # the DOWN slot among the failures names its failing locations
    (down,) = cells(page.one("table", id="failures"))
    assert down[1] == "critical"
    assert down[2] == f"connect: connect_refused: {refused}"  # the first failing location's
    assert down[3] == "2/3 locations failing: us-east-1, eu-west-1"
    # the partial failure is listed apart, with the failing location's error
    (partial,) = cells(page.one("table", id="partial-failures"))
    assert partial[1] == "ok"
    assert partial[2] == f"eu-west-1 connect: connect_refused: {refused}"
    assert partial[3] == "1/3 locations failing: eu-west-1"
    # and the bar's hover text says it too
    titles = [t.text() for t in page.one("svg", "check-bar").all("title")]
    assert [t.split(" ", 2)[1] for t in titles] == ["ok", "critical", "ok"]
    assert "(2/3 locations failing)" in titles[1] and "(1/3 locations failing)" in titles[2]
    assert "locations failing" not in titles[0]


def test_the_votes_table_stacked_as_cards_names_each_cell_as_its_column_is_headed(
    tmp_path: Path, slots: dict[str, ProbeResult]
) -> None:
    found = static_file("/static/style.css")
    assert found is not None
    css = found[1].decode("utf-8")
    narrow = css[css.index("@media (max-width: 700px)") :]
    _, page = pages(tmp_path / "smtpwatch.db")
    for table_id in ("locations", "partial-failures"):
        table = page.one("table", id=table_id)
        assert "list" in table.classes
        for th in table.all("th"):
            (cls,) = th.classes
            assert f'table.list td.{cls}::before {{ content: "{th.text()}"; }}' in narrow


def test_a_single_location_target_shows_no_locations_section(
    tmp_path: Path, server: SmtpServer
) -> None:
    from location_verdicts import vote

    with SqliteStore(tmp_path / "smtpwatch.db") as store:
        store.put_items([target_item(server)])
        assert store.add_result(vote(server, "lab-1", failing=True), scheduled_at=slot_at(1))
    overview, page = pages(tmp_path / "smtpwatch.db")
    assert overview.one("tr", data_target_id="mx1").one("td", "location").text() == "lab-1"
    assert not page.all("table", id="locations") and not page.all("table", id="partial-failures")
    assert not page.all(cls="locations-failing")
    (failure,) = cells(page.one("table", id="failures"))
    assert failure[3] == "lab-1"


def test_hostile_text_in_stored_votes_is_shown_as_text(
    tmp_path: Path, slots: dict[str, ProbeResult]
) -> None:
    # GIVEN the newest verdict's votes edited by hand to carry markup and controls
    db = tmp_path / "smtpwatch.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        row = conn.execute("SELECT ts, data FROM results ORDER BY started DESC").fetchone()
        doc = json.loads(row[1])
        doc["locations"][1] |= {
            "location": "<script>alert(1)</script>",
            "message": '"><img src=x onerror=alert(2)>\x1b[2J',
        }
        conn.execute("UPDATE results SET data = ? WHERE ts = ?", (json.dumps(doc), row[0]))
    # WHEN the pages render it  THEN no element comes from it, and its text shows as text
    overview, page = pages(db)
    for tree in (overview, page):
        assert not tree.all("script") and not tree.all("img")
    votes = cells(page.one("table", id="locations"))
    assert votes[1][0] == "<script>alert(1)</script>"
    assert votes[1][4] == '"><img src=x onerror=alert(2)>\\u001b[2J'
    failing = overview.one("tr", data_target_id="mx1").one("span", "location-failing")
    assert failing.text().startswith("<script>alert(1)</script> connect: connect_refused: ")


def test_the_json_api_gives_the_newest_checks_votes(
    tmp_path: Path, slots: dict[str, ProbeResult]
) -> None:
    with closing(open_readonly(tmp_path / "smtpwatch.db")) as conn:
        doc = target_document(conn, "mx1", limit=1)
    assert doc is not None
    assert doc["last_check"]["locations"] == [v.to_dict() for v in slots["partial"].locations]
    assert doc["results"][0]["locations"] == doc["last_check"]["locations"]
