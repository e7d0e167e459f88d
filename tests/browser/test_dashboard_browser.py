"""The dashboard as a person sees it in Chromium: colours, the bar of checks, the chart,
filters, the 375 px layout, and hostile text that stays text. Every page visit also
checks that the browser logged no error, opened no dialog and fetched nothing but the
dashboard itself."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from dashboard_fleet import (
    DISABLED_ID,
    HTML_HOST,
    HTML_ID,
    HTML_LOCATION,
    LOCATION,
    XSS_BANNER,
    XSS_TAG,
    Fleet,
)

pytestmark = pytest.mark.once

RED, WHITE = "rgb(198, 40, 40)", "rgb(255, 255, 255)"
AMBER, GREEN, GREY = "rgb(249, 168, 37)", "rgb(46, 125, 50)", "rgb(117, 117, 117)"
AMBER_TEXT = "rgb(138, 97, 0)"  # a warning's words (amber dark enough to read on white)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 800}
NONE = "\u2013"  # an en dash: the pages' "no figure"
DOWN_IDS = {"mail-down", "banner-xss"}


@dataclass
class Visit:
    """One browser tab and everything it reported while the test used it."""

    page: Any
    fleet: Fleet
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def go(self, path: str) -> Any:
        try:
            response = self.page.goto(self.fleet.base_url + path)
        except Exception as exc:
            pytest.fail(f"{path}: {exc}\nthe server said:\n{self.fleet.server_log.read_text()}")
        assert response is not None
        return response

    def assert_clean(self) -> None:
        """No console error (a CSP violation is one), no script error, no dialog, and
        no request anywhere but the dashboard."""
        assert self.console_errors == []
        assert self.dialogs == []
        assert self.foreign_requests == []

    def rows(self) -> dict[str, Any]:
        """The overview's visible rows by target id."""
        found = {}
        for row in self.page.locator("#targets tr.target").all():
            if row.is_visible():
                found[row.get_attribute("data-target-id")] = row
        return found


@pytest.fixture
def visit(browser: Any, fleet: Fleet) -> Iterator[Callable[..., Visit]]:
    contexts: list[Any] = []

    def open_tab(viewport: dict[str, int] = DESKTOP) -> Visit:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        tab = Visit(context.new_page(), fleet)

        def on_console(message: Any) -> None:
            if message.type == "error":
                tab.console_errors.append(message.text)

        def on_dialog(dialog: Any) -> None:
            tab.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_request(request: Any) -> None:
            if not request.url.startswith((fleet.base_url + "/", "data:")):
                tab.foreign_requests.append(request.url)

        tab.page.on("console", on_console)
        tab.page.on("pageerror", lambda error: tab.console_errors.append(str(error)))
        tab.page.on("dialog", on_dialog)
        tab.page.on("request", on_request)
        return tab

    yield open_tab
    for context in contexts:
        context.close()


def target_path(target_id: str, query: str = "") -> str:
    return "/targets/" + urllib.parse.quote(target_id, safe="") + query


def style(locator: Any, prop: str) -> str:
    return str(locator.evaluate(f"e => getComputedStyle(e).{prop}"))


def screenshot(tab: Visit, fleet: Fleet, name: str) -> None:
    tab.page.screenshot(path=str(fleet.screenshots / f"{name}.png"), full_page=True)


def test_overview_shows_each_state_in_its_colour_and_a_down_target_names_its_phase(
    visit: Callable[..., Visit], fleet: Fleet
) -> None:
    tab = visit()
    response = tab.go("/")
    assert response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    rows = tab.rows()
    assert set(rows) == fleet.target_ids
    assert tab.page.title().startswith(f"{len(DOWN_IDS)} down")  # seen on the tab itself
    down = rows["mail-down"].locator("td.state")
    assert down.inner_text().strip() == "DOWN"
    assert (style(down, "backgroundColor"), style(down, "color")) == (RED, WHITE)
    error = rows["mail-down"].locator("td.error")
    assert error.locator("span.error-phase").inner_text().strip() == "connect"
    assert error.locator("span.error-kind").inner_text().strip() == "connect_refused"
    assert "connection refused" in error.locator("span.error-message").inner_text()
    expected = {
        "mail-up": ("UP", GREEN),
        "mail-tls": ("UP", GREEN),
        "mail-expiring": ("WARNING", AMBER),
        "banner-xss": ("DOWN", RED),
        DISABLED_ID: ("DISABLED", GREY),
        HTML_ID: ("PENDING", GREY),
    }
    for target_id, (text, colour) in expected.items():
        cell = rows[target_id].locator("td.state")
        assert (cell.inner_text().strip(), style(cell, "backgroundColor")) == (text, colour)
        assert rows[target_id].get_attribute("data-state") == text.lower()
    assert rows["mail-up"].locator("td.error").inner_text().strip() == ""
    # mail-tls refused one sweep of three and recovered: up, no error shown, 2 of 3 passed
    assert rows["mail-tls"].locator("td.error").inner_text().strip() == ""
    assert rows["mail-tls"].locator("td.uptime-24h").inner_text().strip() == "66.67 %"
    assert re.fullmatch(r"100(\.0+)? %", rows["mail-up"].locator("td.uptime-24h").inner_text())
    assert re.fullmatch(r"0(\.0+)? %", rows["mail-down"].locator("td.uptime-24h").inner_text())
    assert rows[DISABLED_ID].locator("td.uptime-24h").inner_text().strip() == NONE
    assert rows["mail-tls"].locator("td.cert-days").inner_text().strip().endswith(" d")
    assert rows["mail-expiring"].locator("td.cert-days").inner_text().strip() in ("4 d", "5 d")
    warning = rows["mail-expiring"].locator("td.error")
    assert warning.locator("span.warning-kind").inner_text().strip() == "cert_expiring"
    assert "expires in" in warning.locator("span.warning-message").inner_text()
    assert style(warning.locator("span.warning-kind"), "color") == AMBER_TEXT
    assert warning.locator("span.error-kind").count() == 0
    assert rows["mail-up"].locator("td.cert-days").inner_text().strip() == NONE
    assert rows["mail-up"].locator("td.location").inner_text().strip() == LOCATION
    assert rows["mail-up"].locator("td.host").inner_text().strip() == "127.0.0.1"
    assert tab.page.locator("footer").inner_text().strip() != ""
    refresh = tab.page.locator('meta[http-equiv="refresh"]')
    assert refresh.get_attribute("content") == "60"  # the page reloads itself each minute
    screenshot(tab, fleet, "overview-desktop")
    tab.assert_clean()


LINES = """e => {
    const range = document.createRange();
    range.selectNodeContents(e);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
}"""


def test_states_and_figures_are_not_split_across_lines(
    visit: Callable[..., Visit], fleet: Fleet
) -> None:
    """However long a hostile id, tag or error makes the table, "DOWN", "100.00 %" and
    a usual tag such as "env=staging" stay whole words on one line."""
    tab = visit()
    tab.go("/")
    cells = "td.state, td.uptime-24h, td.uptime-7d, td.uptime-30d, td.cert-days, td.tags .tag"
    split = {
        f"{row.get_attribute('data-target-id')} {cell.get_attribute('class')}": cell.inner_text()
        for row in tab.page.locator("#targets tr.target").all()
        for cell in row.locator(cells).all()
        if cell.evaluate(LINES) > 1 and len(cell.inner_text()) <= 20
    }
    assert split == {}
    tab.assert_clean()


def test_at_1280_px_every_column_of_the_overview_is_in_view(
    visit: Callable[..., Visit], fleet: Fleet
) -> None:
    """A host, location or tag with no space in it (here HTML) wraps in its cell
    rather than pushing the Host and Tags columns out of a laptop-wide window."""
    tab = visit()
    tab.go("/")
    hidden = tab.page.evaluate(
        "() => [...document.querySelectorAll('#targets th')]"
        ".filter(th => th.getBoundingClientRect().right > window.innerWidth)"
        ".map(th => th.className)"
    )
    assert hidden == []
    tab.assert_clean()


def test_the_bar_has_one_cell_per_stored_check_oldest_left(
    visit: Callable[..., Visit], fleet: Fleet
) -> None:
    tab = visit()
    tab.go("/")
    tab.rows()["mail-down"].locator("td.name a.target-link").click()
    tab.page.wait_for_url(fleet.base_url + target_path("mail-down"))
    assert tab.page.locator("h1").inner_text().strip() == "mail-down"
    for target_id in ("mail-down", "mail-tls", "banner-xss", HTML_ID):
        if target_id != "mail-down":
            assert tab.go(target_path(target_id)).status == 200
        stored = fleet.stored(target_id)[-90:]  # read from the database, not the page
        cells = tab.page.locator("svg.check-bar rect.cell").all()
        assert len(cells) == len(stored) > 0, target_id
        statuses = [
            next(c[7:] for c in (cell.get_attribute("class") or "").split() if c[:7] == "status-")
            for cell in cells
        ]
        assert statuses == [status for _, status in stored]
        titles = [cell.locator("title").text_content() or "" for cell in cells]
        assert [t.split(" ")[0] for t in titles] == [started for started, _ in stored]
        lefts = [cell.bounding_box()["x"] for cell in cells]
        assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts)
    assert [status for _, status in fleet.stored("mail-tls")] == ["ok", "critical", "ok"]
    tab.go(target_path("mail-down"))
    title = tab.page.locator("svg.check-bar rect.cell title").last.text_content() or ""
    assert " critical — connect: connect_refused: connection refused" in title
    red = tab.page.locator("svg.check-bar rect.cell").last
    assert style(red, "fill") == RED
    tab.assert_clean()


def test_the_target_page_charts_every_phase_the_checks_reached(
    visit: Callable[..., Visit], fleet: Fleet
) -> None:
    tab = visit()
    assert tab.go(target_path("mail-tls")).status == 200
    chart = tab.page.locator("svg.phase-chart")
    assert chart.get_attribute("role") == "img"
    points = [point.get_attribute("data-phase") for point in chart.locator("circle.point").all()]
    drawn = {phase: points.count(phase) for phase in set(points)}
    # 24 h shows every check: a point per check that measured the phase, as stored
    assert drawn == fleet.phase_counts("mail-tls")
    assert {"connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls"} <= set(drawn)
    assert chart.locator("polyline").count() == len(drawn)
    hover = chart.locator('circle.point[data-phase="tls"] title').first.text_content() or ""
    assert re.search(r"tls: [\d.]+ ms", hover), hover
    legend = chart.locator("g.legend").text_content() or ""
    assert all(phase in legend for phase in ("connect", "banner", "tls"))
    facts = tab.page.locator("dl.facts").inner_text()
    assert "127.0.0.1" in facts and "env" in facts and "prod" in facts
    assert tab.page.locator("dl.cert").count() == 1
    failures = tab.page.locator("#failures").inner_text()
    assert "connect_refused" in failures  # the one refused sweep
    # went down, came back: both alerts, newest first, as the outbox has them
    assert fleet.alerts("mail-tls") == [("recovered", "delivered"), ("down", "delivered")]
    alerts = tab.page.locator("#alerts tr:has(td)").all_inner_texts()
    assert [a.split("\t")[1:2] for a in alerts] == [["recovered"], ["down"]]
    assert all("webhook http://127.0.0.1:" in a and "delivered" in a for a in alerts)
    windows = tab.page.locator("nav.windows a")
    assert [w.inner_text().strip() for w in windows.all()] == ["24h", "7d", "30d"]
    assert "current" in (windows.first.get_attribute("class") or "")
    screenshot(tab, fleet, "target-desktop")
    windows.nth(1).click()
    tab.page.wait_for_url(fleet.base_url + target_path("mail-tls", "?window=7d"))
    assert "current" in (tab.page.locator("nav.windows a").nth(1).get_attribute("class") or "")
    assert tab.page.locator("svg.phase-chart circle.point").count() > 0
    tab.page.locator('a[href="/"]').first.click()
    tab.page.wait_for_url(fleet.base_url + "/")
    assert tab.page.locator("#targets").count() == 1
    tab.assert_clean()


def test_the_down_target_page_lists_its_failures(visit: Callable[..., Visit], fleet: Fleet) -> None:
    tab = visit()
    tab.go(target_path("mail-down"))
    rows = tab.page.locator("#failures tr:has(td)")
    assert rows.count() == len(fleet.stored("mail-down"))  # every check failed
    assert all("connect_refused" in text for text in rows.all_inner_texts())
    assert tab.page.locator("p.no-cert").count() == 1
    assert fleet.alerts("mail-down") == [("down", "delivered")]
    assert "down" in tab.page.locator("#alerts tr:has(td)").inner_text()
    tab.assert_clean()


def test_filters_by_state_and_by_tag(visit: Callable[..., Visit], fleet: Fleet) -> None:
    tab = visit()
    tab.go("/")
    form = tab.page.locator("form#filter")
    form.locator('select[name="state"]').select_option("down")
    form.locator('input[name="tag"]').press("Enter")
    tab.page.wait_for_url("**/?state=down*")
    assert set(tab.rows()) == DOWN_IDS
    tab.go("/")
    form.locator('input[name="tag"]').fill("env=prod")
    form.locator('input[name="tag"]').press("Enter")
    tab.page.wait_for_url("**tag=env%3Dprod*")
    assert set(tab.rows()) == {"mail-up", "mail-tls", "mail-down"}
    tab.go("/?state=down&tag=env%3Dprod")
    assert set(tab.rows()) == {"mail-down"}
    tab.go("/?tag=note%3D" + urllib.parse.quote(XSS_TAG, safe=""))
    assert set(tab.rows()) == {"banner-xss"}
    tab.assert_clean()


def test_a_bad_filter_and_an_unknown_target_get_a_readable_page(
    visit: Callable[..., Visit], fleet: Fleet
) -> None:
    tab = visit()
    assert tab.go("/?state=sideways").status == 400
    assert tab.page.locator("h1").inner_text().strip() == "400 Bad request"
    assert tab.page.locator("p.error-detail").inner_text().startswith("state: ")
    assert tab.go(target_path("nosuch")).status == 404
    assert "nosuch" in tab.page.locator("p.error-detail").inner_text()
    tab.page.locator('a[href="/"]').first.click()
    tab.page.wait_for_url(fleet.base_url + "/")
    # Chromium logs the status of each error page itself; nothing else may show up
    failed = "Failed to load resource: the server responded with a status of"
    assert tab.console_errors == [f"{failed} 400 (Bad Request)", f"{failed} 404 (Not Found)"]
    tab.console_errors.clear()
    tab.assert_clean()


def test_at_375_px_nothing_scrolls_sideways(visit: Callable[..., Visit], fleet: Fleet) -> None:
    tab = visit(PHONE)
    width = "document.scrollingElement.scrollWidth"
    tab.go("/")
    assert tab.page.evaluate(width) <= 375
    down = tab.rows()["mail-down"].locator("td.state")
    assert down.is_visible() and style(down, "backgroundColor") == RED
    screenshot(tab, fleet, "overview-375")
    for target_id in ("mail-tls", "mail-down", "banner-xss", HTML_ID):
        tab.go(target_path(target_id))
        assert tab.page.evaluate(width) <= 375, target_id
        if target_id == "mail-tls":
            screenshot(tab, fleet, "target-375")
    tab.assert_clean()


def test_the_pages_and_the_json_api_tell_the_same_story(
    visit: Callable[..., Visit], fleet: Fleet
) -> None:
    tab = visit()
    api = tab.page.request.get(fleet.base_url + "/api/targets").json()
    by_id = {t["target_id"]: t for t in api["targets"]}
    tab.go("/")
    rows = tab.rows()
    assert set(rows) == set(by_id)
    for target_id, row in rows.items():
        assert row.get_attribute("data-state") == by_id[target_id]["state"], target_id
        kind = row.locator("td.error span.error-kind")
        error = (by_id[target_id].get("last_check") or {}).get("error") or {}
        if error:
            assert kind.inner_text().strip() == error["kind"], target_id
        else:  # the newest check passed (no check here is unknown)
            assert kind.count() == 0, target_id
    tab.assert_clean()


NO_INJECTED = """() => {
    const found = [...document.querySelectorAll("script, img, iframe, object, embed, b")]
        .map(e => e.outerHTML);
    for (const e of document.querySelectorAll("*"))
        for (const a of e.attributes)
            if (a.name.startsWith("on")) found.push(e.tagName + " " + a.name);
    return found;
}"""


def test_hostile_text_is_shown_as_text_and_runs_nothing(
    visit: Callable[..., Visit], fleet: Fleet
) -> None:
    tab = visit()
    tab.go("/")
    assert tab.page.evaluate(NO_INJECTED) == []
    rows = tab.rows()
    message = rows["banner-xss"].locator("td.error span.error-message").inner_text()
    assert XSS_BANNER in message
    assert rows["banner-xss"].locator("td.error span.error-phase").inner_text().strip() == (
        "banner"
    )
    html_row = rows[HTML_ID]
    assert html_row.locator("td.host").inner_text().strip() == HTML_HOST
    assert html_row.locator("td.location").inner_text().strip() == HTML_LOCATION
    assert html_row.locator("td.name").inner_text().strip() == HTML_ID
    link = html_row.locator("a.target-link")
    assert link.get_attribute("href") == target_path(HTML_ID)
    link.click()
    tab.page.wait_for_url(fleet.base_url + target_path(HTML_ID))
    assert tab.page.locator("h1").inner_text().strip() == HTML_ID
    assert tab.page.evaluate(NO_INJECTED) == []
    assert XSS_TAG in tab.page.locator("dl.facts").inner_text()
    tab.go(target_path("banner-xss"))
    assert tab.page.evaluate(NO_INJECTED) == []
    assert XSS_BANNER in tab.page.locator("#failures").inner_text()
    assert XSS_TAG in tab.page.locator("dl.facts").inner_text()
    tab.assert_clean()
