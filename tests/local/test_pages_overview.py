"""The overview page drawn from hand-made page values: what a person sees in each row,
the filter, the frame every page shares, and hostile text that stays text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from local.html_dom import Node, parse
from local.pages_samples import NOW, REFUSED, XSS, row
from smtpwatch.local.page_model import LastError, OverviewRow, Uptime
from smtpwatch.local.pages.layout import REFRESH_S
from smtpwatch.local.pages.overview import render_overview
from smtpwatch.local.pages.query import OverviewFilter, QueryError, overview_filter
from smtpwatch.local.pages.static import static_file

NONE = "\u2013"


def overview(rows: list[OverviewRow], chosen: OverviewFilter | None = None) -> Node:
    return parse(render_overview(rows, chosen or OverviewFilter(), NOW, "lab-1"))


def cell(tr: Node, cls: str) -> str:
    return tr.one("td", cls).text()


def test_a_down_target_is_a_down_row_naming_phase_kind_and_message() -> None:
    page = overview([row("mx1", "down", REFUSED), row("mx2", "up")])
    tr = page.one("tr", "target", data_target_id="mx1")
    assert tr.classes == {"target", "state-down"} and tr.attrs["data-state"] == "down"
    assert cell(tr, "state") == "DOWN"
    error = tr.one("td", "error")
    assert error.one("span", "error-phase").text() == "connect"
    assert error.one("span", "error-kind").text() == "connect_refused"
    assert error.one("span", "error-message").text() == "[Errno 111] Connection refused"
    assert error.attrs["title"] == f"at {REFUSED.at}"
    up = page.one("tr", "target", data_target_id="mx2")
    assert cell(up, "state") == "UP" and "state-up" in up.classes
    assert up.one("td", "error").children == []  # empty when there is no error


def test_every_state_is_written_in_capitals_with_its_row_class() -> None:
    states = ["up", "down", "warning", "pending", "disabled"]
    page = overview([row(s, s) for s in states])
    for state in states:
        tr = page.one("tr", f"state-{state}")
        assert cell(tr, "state") == state.upper() and tr.attrs["data-target-id"] == state


def test_the_figures_of_a_row() -> None:
    page = overview([row("mx1", "up", tags={"env": "prod", "team": "mail"})])
    tr = page.one("tr", "target")
    assert cell(tr, "uptime-24h") == "99.65 %"
    assert cell(tr, "uptime-7d") == "50.00 %"
    assert cell(tr, "uptime-30d") == NONE
    assert cell(tr, "cert-days") == "41 d"
    assert cell(tr, "location") == "lab-1" and cell(tr, "host") == "mx.example.net"
    assert cell(tr, "since") == "2026-12-07 10:30 UTC (1 h ago)"
    since = tr.one("td", "since").one("time")
    assert since.attrs["datetime"] == "2026-12-07T10:30:00Z"
    assert since.attrs["title"] == "2026-12-07 10:30:00 UTC"  # to the second on hover
    assert cell(tr, "last-check") == "2026-12-07 11:58 UTC (2 min ago)"
    assert [t.text() for t in tr.all("span", "tag")] == ["env=prod", "team=mail"]


@pytest.mark.parametrize(
    ("fraction", "shown"),
    [
        (1.0, "100.00 %"),
        (0.99999, "99.99 %"),
        (2 / 3, "66.67 %"),
        (0.996549, "99.65 %"),
        (0.00001, "0.01 %"),
        (0.0, "0.00 %"),
        (None, NONE),
    ],
)
def test_uptime_shows_100_only_when_no_check_failed(fraction: float | None, shown: str) -> None:
    target = row("mx1")
    changed = OverviewRow(target.view, Uptime(fraction, None, None), None, None, None)
    tr = overview([changed]).one("tr", "target")
    assert cell(tr, "uptime-24h") == shown
    assert cell(tr, "cert-days") == NONE and cell(tr, "last-check") == NONE


def test_the_link_to_a_target_quotes_its_id() -> None:
    page = overview([row("a/b c?d#e")])
    link = page.one("td", "name").one("a", "target-link")
    assert link.attrs["href"] == "/targets/a%2Fb%20c%3Fd%23e"
    assert link.text() == "a/b c?d#e"


def test_an_error_without_a_phase_names_kind_and_message() -> None:
    error = LastError(None, "config", "no password for the target", None)
    td = overview([row("mx1", "down", error)]).one("td", "error")
    assert td.all("span", "error-phase") == [] and "title" not in td.attrs
    assert td.text() == "config: no password for the target"


def test_hostile_text_everywhere_renders_as_text() -> None:
    error = LastError(XSS, XSS, f"banner said {XSS}", XSS)
    hostile = row(XSS, "down", error, host=XSS, location=XSS, tags={XSS: XSS})
    html = render_overview([hostile], OverviewFilter(), NOW, XSS)
    page = parse(html)
    assert page.all("script") == [] and "<script>" not in html
    tr = page.one("tr", "target")
    assert tr.attrs["data-target-id"] == XSS
    assert cell(tr, "name") == XSS and cell(tr, "host") == XSS and cell(tr, "location") == XSS
    assert tr.one("span", "error-message").text() == f"banner said {XSS}"
    assert tr.one("span", "tag").text() == f"{XSS}={XSS}"
    assert XSS in page.one("footer").text()


def test_control_characters_in_stored_text_are_shown_escaped() -> None:
    tr = overview([row("mx\x1b[31m\u202e1", host="h\nx")]).one("tr", "target")
    assert cell(tr, "name") == "mx\\u001b[31m\\u202e1"
    assert cell(tr, "host") == "h\nx"  # a line break in HTML text is only a space


def test_the_frame_refreshes_links_the_stylesheet_and_carries_no_script() -> None:
    page = overview([row("mx1", "down", REFUSED)])
    metas = {m.attrs.get("http-equiv"): m.attrs.get("content") for m in page.all("meta")}
    assert metas["refresh"] == str(REFRESH_S)
    assert page.one("link", rel="stylesheet").attrs["href"] == "/static/style.css"
    assert page.all("meta", name="viewport")
    for node in page.iter():
        assert node.tag != "script"
        assert "style" not in node.attrs  # the CSP allows no inline style
        assert not [a for a in node.attrs if a.startswith("on")]
    footer = page.one("footer")
    assert "Generated 2026-12-07 12:00:00 UTC at lab-1" in footer.text()
    assert footer.one("a").attrs["href"] == "/"


def test_the_filter_lists_only_matching_rows_and_keeps_the_choice() -> None:
    rows = [
        row("a", "down", tags={"env": "prod", "team": "mail"}),
        row("b", "down", tags={"env": "test"}),
        row("c", "up", tags={"env": "prod"}),
        row("d", "warning", tags={"env": "prod", "team": "mail"}),
    ]
    chosen = overview_filter({"state": ["down"], "tag": ["env=prod"]})
    page = overview(rows, chosen)
    assert [tr.attrs["data-target-id"] for tr in page.all("tr", "target")] == ["a"]
    form = page.one("form", id="filter")
    assert form.attrs["method"] == "get" and form.attrs["action"] == "/"
    assert form.one("select", name="state").one("option", selected="").attrs["value"] == "down"
    assert form.one("input", name="tag").attrs["value"] == "env=prod"
    summary = page.one("p", "summary")
    assert summary.text() == "4 targets: 1 up, 1 warning, 2 down; 1 shown"
    links = {a.text(): a.attrs["href"] for a in summary.all("a", "count")}
    assert links == {"1 up": "/?state=up", "1 warning": "/?state=warning", "2 down": "/?state=down"}
    assert page.one("head").one("title").text() == "2 down · Targets · smtpwatch"
    # every tag must match; several states are any of them
    both = overview_filter({"tag": ["env=prod", "team=mail"], "state": ["down", "warning"]})
    matched = overview(rows, both).all("tr", "target")
    assert [tr.attrs["data-target-id"] for tr in matched] == ["a", "d"]


def test_a_filter_matching_nothing_and_no_targets_say_so() -> None:
    page = overview([row("a", "up")], overview_filter({"state": ["down"]}))
    assert page.all("tr", "target") == [] and page.one("table", id="targets")
    assert page.one("p", "empty").text() == "No target matches this filter."
    assert "No targets yet" in overview([]).one("p", "empty").text()


def test_the_forms_empty_choices_are_no_filter() -> None:
    chosen = overview_filter({"state": [""], "tag": [""]})
    assert chosen == OverviewFilter()
    assert len(overview([row("a"), row("b", "down")], chosen).all("tr", "target")) == 2


@pytest.mark.parametrize(
    ("query", "parameter", "words"),
    [
        ({"state": ["sideways"]}, "state", "unknown state 'sideways'; choose one of pending, up"),
        ({"tag": ["env"]}, "tag", "'env' is not key=value"),
        ({"tag": ["=prod"]}, "tag", "'=prod' is not key=value"),
        ({"sort": ["name"]}, "sort", "unknown parameter; this page takes state, tag"),
    ],
)
def test_a_query_the_overview_cannot_use_names_the_parameter(
    query: dict[str, list[str]], parameter: str, words: str
) -> None:
    with pytest.raises(QueryError) as caught:
        overview_filter(query)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(f"{parameter}: ") and words in str(caught.value)


def test_several_tags_come_back_in_the_form() -> None:
    chosen = overview_filter({"tag": ["env=prod", "team=a b"]})
    form = overview([row("a")], chosen).one("form", id="filter")
    inputs = form.all("input", name="tag")
    assert [i.attrs["value"] for i in inputs] == ["env=prod", "team=a b"]
    assert inputs[1].attrs["type"] == "hidden"


def test_the_stacked_cards_name_each_cell_as_its_column_is_headed() -> None:
    found = static_file("/static/style.css")
    assert found is not None and found[0] == "text/css; charset=utf-8"
    css = found[1].decode("utf-8")
    narrow = css[css.index("@media (max-width: 700px)") :]
    headings = overview([row("a")]).one("table", id="targets").all("th")
    assert len(headings) == 12
    for th in headings:
        (cls,) = th.classes
        assert f'#targets td.{cls}::before {{ content: "{th.text()}"; }}' in narrow


EXPIRING = ("cert_expiring", "certificate expires in 5 days")


def test_a_warning_target_names_each_warnings_kind_and_message() -> None:
    warned = replace(row("mx1", "warning"), warnings=(EXPIRING, ("slow", "took 9 s")))
    td = overview([warned]).one("tr", "target").one("td", "error")
    assert [s.text() for s in td.all("span", "warning-kind")] == ["cert_expiring", "slow"]
    assert [s.text() for s in td.all("span", "warning-message")] == [EXPIRING[1], "took 9 s"]
    assert td.all("span", "error-kind") == [] and td.all("span", "error-message") == []
    assert td.text() == "cert_expiring: certificate expires in 5 days slow: took 9 s"


def test_a_failed_checks_warnings_follow_its_error() -> None:
    both = replace(row("mx1", "down", REFUSED), warnings=(EXPIRING,))
    td = overview([both]).one("td", "error")
    assert td.one("span", "error-kind").text() == "connect_refused"
    assert td.one("span", "warning-kind").text() == "cert_expiring"
    assert td.text().index("connect_refused") < td.text().index("cert_expiring")


def test_a_hostile_warning_renders_as_text() -> None:
    hostile = replace(row("mx1", "warning"), warnings=((XSS, f"banner said {XSS}"),))
    html = render_overview([hostile], OverviewFilter(), NOW, "lab-1")
    page = parse(html)
    assert page.all("script") == [] and "<script>" not in html
    assert page.one("span", "warning-kind").text() == XSS
    assert page.one("span", "warning-message").text() == f"banner said {XSS}"


def test_warnings_are_amber_and_errors_keep_their_look() -> None:
    found = static_file("/static/style.css")
    assert found is not None
    css = found[1].decode("utf-8")
    warning = css[css.index(".warning-kind") :]
    assert "#8a6100" in warning[: warning.index("}")]  # the amber the bar's warnings use
    assert ".error-kind { font-family: ui-monospace, monospace; font-size: 0.9em; }" in css


@pytest.mark.parametrize(("left", "title"), [(-3, "-3 d"), (-1, "-1 d")])
def test_an_expired_certificate_says_expired_with_its_days_on_hover(left: int, title: str) -> None:
    expired = replace(row("mx1", "warning"), cert_days_left=left)
    td = overview([expired]).one("td", "cert-days")
    shown = td.one("span", "cert-expired")
    assert (shown.text(), shown.attrs["title"]) == ("expired", title)
    assert td.text() == "expired"


def test_a_certificate_expiring_today_is_not_expired() -> None:
    td = overview([replace(row("mx1"), cert_days_left=0)]).one("td", "cert-days")
    assert td.text() == "0 d" and td.all("span", "cert-expired") == []


def test_an_expired_certificate_is_red() -> None:
    found = static_file("/static/style.css")
    assert found is not None
    css = found[1].decode("utf-8")
    rule = css[css.index(".cert-expired") :]
    assert "color: #c62828" in rule[: rule.index("}")]  # the down state's red
