"""A target's page drawn from hand-made page values: the facts, the bar of recent
checks, the per-phase chart (parsed as XML too), the window links, the certificate
and the lists of failures and alerts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from local.html_dom import Node, parse
from local.pages_samples import NOW, XSS, checks_of, points_every, row, target_page, ts
from smtpwatch.local.page_model import AlertRow, CheckCell, PhasePoint, TargetPage
from smtpwatch.local.pages.query import QueryError, target_window
from smtpwatch.local.pages.static import static_file
from smtpwatch.local.pages.target import render_target

SVG = "{http://www.w3.org/2000/svg}"


def render(target: TargetPage) -> Node:
    return parse(render_target(target, NOW, "lab-1"))


def svg_xml(html: str, cls: str) -> ET.Element:
    """The page's one ``<svg class=cls>`` as XML: the drawing must be well-formed."""
    found = re.findall(rf'<svg class="{cls}".*?</svg>', html, re.S)
    assert len(found) == 1
    return ET.fromstring(found[0])


def test_the_heading_and_facts_of_a_target() -> None:
    page = render(target_page())
    assert page.one("h1").text() == "mx1"
    facts = page.one("dl", "facts")
    shown = {d.one("dt").text(): d.one("dd").text() for d in facts.all("div")}
    assert shown["Host"] == "mx.example.net" and shown["Port"] == "25"
    assert shown["Location"] == "lab-1" and shown["State"] == "DOWN"
    assert shown["Since"] == "2026-12-07 10:30 UTC (1 h ago)"
    assert shown["Tags"] == "env=prod"
    assert shown["Uptime 24 h / 7 d / 30 d"] == "99.65 % / 50.00 % / \u2013"
    assert facts.one("span", "badge").classes == {"badge", "state-down"}
    last = page.one("p", "last-error")
    assert last.one("span", "error-phase").text() == "connect"
    assert page.one("footer").one("a").attrs["href"] == "/"


def test_the_bar_has_one_cell_per_check_with_status_and_hover_text() -> None:
    checks = checks_of("ok", "critical", "warning", "unknown", "ok")
    html = render_target(target_page(checks=checks), NOW, "lab-1")
    bar = parse(html).one("svg", "check-bar")
    assert bar.attrs["role"] == "img"
    cells = bar.all("rect")
    assert [c.attrs["class"] for c in cells] == [
        "cell status-ok",
        "cell status-critical",
        "cell status-warning",
        "cell status-unknown",
        "cell status-ok",
    ]
    titles = [c.one("title").text() for c in cells]
    assert titles[0] == f"{checks[0].started_at} ok"
    assert titles[1] == f"{checks[1].started_at} critical \u2014 banner: timeout: no banner 1"
    assert titles[3] == f"{checks[3].started_at} unknown"
    fills = [c.attrs["fill"] for c in cells]
    assert fills[:4] == ["#2e7d32", "#c62828", "#f9a825", "#757575"]
    xs = [float(c.attrs["x"]) for c in cells]
    assert xs == sorted(xs)  # oldest left
    assert len(svg_xml(html, "check-bar").findall(f"{SVG}rect")) == 5


def test_the_bar_shows_the_newest_90_checks_of_more() -> None:
    checks = [CheckCell(f"2026-12-07T{i // 60:02d}:{i % 60:02d}:00Z", "ok", "") for i in range(100)]
    cells = render(target_page(checks=checks)).one("svg", "check-bar").all("rect")
    assert len(cells) == 90
    assert cells[0].one("title").text() == "2026-12-07T00:10:00Z ok"
    assert cells[-1].one("title").text() == "2026-12-07T01:39:00Z ok"


def test_no_checks_yet_is_said_instead_of_an_empty_bar() -> None:
    page = render(target_page(checks=[]))
    assert page.all("svg", "check-bar") == [] and page.one("p", "no-checks")


def test_the_chart_has_a_point_per_measurement_a_line_per_phase_axes_and_a_legend() -> None:
    points = points_every(60, 5, ("connect", "banner", "tls"))
    points.append(PhasePoint(NOW.timestamp() - 30, {"connect": 7.5}))  # one phase only
    html = render_target(target_page(points=points), NOW, "lab-1")
    chart = parse(html).one("svg", "phase-chart")
    assert chart.attrs["role"] == "img"
    dots = chart.all("circle", "point")
    assert len(dots) == 16
    by_phase = {p: len(chart.all("circle", "point", data_phase=p)) for p in ("connect", "banner")}
    assert by_phase == {"connect": 6, "banner": 5}
    lines = chart.all("polyline")
    assert [line.attrs["data-phase"] for line in lines] == ["connect", "banner", "tls"]
    assert len(lines[0].attrs["points"].split()) == 6
    legend = chart.one("g", "legend")
    assert [t.text() for t in legend.all("text")] == ["connect", "banner", "tls"]
    y_labels = [t.text() for t in chart.one("g", "y-axis").all("text")]
    assert y_labels[0] == "0 ms" and y_labels[-1] == "40 ms"  # the largest value is 34 ms
    x_labels = [t.text() for t in chart.one("g", "x-axis").all("text", "tick")]
    assert x_labels == ["12:00", "18:00", "00:00", "06:00", "12:00"]
    connect = chart.all("circle", "point", data_phase="connect")  # in time order
    assert connect[-2].one("title").text() == "2026-12-07 11:59 UTC connect: 7.5 ms"
    root = svg_xml(html, "phase-chart")
    assert len(root.findall(f".//{SVG}circle")) == 16


def test_the_newest_point_is_at_the_right_and_the_oldest_left() -> None:
    points = [
        PhasePoint(NOW.timestamp() - 86_400, {"connect": 5.0}),
        PhasePoint(NOW.timestamp(), {"connect": 10.0}),
    ]
    dots = render(target_page(points=points)).one("svg", "phase-chart").all("circle", "point")
    x0, x1 = (float(d.attrs["cx"]) for d in dots)
    y0, y1 = (float(d.attrs["cy"]) for d in dots)
    assert x0 < x1 and y0 > y1  # later to the right, slower higher up


@pytest.mark.parametrize(
    ("window", "labels"),
    [("7d", ["12-01", "12-02", "12-03", "12-04", "12-05", "12-06", "12-07"])],
)
def test_a_longer_window_labels_days(window: str, labels: list[str]) -> None:
    page = render(target_page(window=window, points=points_every(600, 3)))
    chart = page.one("svg", "phase-chart")
    assert [t.text() for t in chart.one("g", "x-axis").all("text", "tick")] == labels
    assert "7 days" in chart.attrs["aria-label"]


def test_a_window_without_measurements_says_so() -> None:
    page = render(target_page(window="30d", points=[]))
    assert page.all("svg", "phase-chart") == []
    assert page.one("p", "no-data").text() == "No response times in the last 30 days."


def test_the_window_links_mark_the_current_one() -> None:
    nav = render(target_page(window="7d", row=row("a/b"))).one("nav", "windows")
    links = nav.all("a")
    assert [a.attrs["href"] for a in links] == [
        "/targets/a%2Fb?window=24h",
        "/targets/a%2Fb?window=7d",
        "/targets/a%2Fb?window=30d",
    ]
    assert [a.text() for a in nav.all("a", "current")] == ["7d"]


def test_certificate_failures_and_alerts() -> None:
    page = render(target_page())
    cert = page.one("dl", "cert")
    assert [d.text() for d in cert.all("dt")] == ["Subject", "Expires"]
    assert cert.all("dd")[0].text() == "CN=mx.example.net"
    failures = page.one("table", id="failures").one("tbody").all("tr")
    assert len(failures) == 1
    assert failures[0].one("td", "error").text() == "connect: connect_refused: refused"
    assert failures[0].one("td", "status").text() == "critical"
    alerts = page.one("table", id="alerts").one("tbody").all("tr")
    assert [td.text() for td in alerts[0].all("td")][1:] == [
        "down",
        "https://hooks.example.net/x",
        "delivered",
        "DOWN",
    ]


def test_no_certificate_failures_or_alerts_are_said_so() -> None:
    page = render(target_page(cert={}, failures=[], alerts=[]))
    assert page.one("p", "no-cert") and page.all("dl", "cert") == []
    assert page.all("table", id="failures") == [] and page.all("table", id="alerts") == []
    assert [p.text() for p in page.all("p", "empty")] == [
        "No failed checks stored.",
        "No alerts stored.",
    ]


def test_a_hostile_banner_renders_as_text_on_the_target_page() -> None:
    hostile = CheckCell(ts(1), "critical", f"banner: bad_banner: {XSS}")
    target = target_page(
        row=replace(row(XSS, "down"), view=replace(row(XSS).view, host=XSS, tags={XSS: XSS})),
        checks=[hostile],
        failures=[hostile],
        cert={XSS: XSS},
        alerts=[AlertRow(ts(1), XSS, XSS, XSS, XSS)],
        points=[PhasePoint(NOW.timestamp(), {XSS: 1.0})],
    )
    html = render_target(target, NOW, XSS)
    page = parse(html)
    assert page.all("script") == [] and "<script>" not in html
    assert page.one("h1").text() == XSS
    assert page.one("head").one("title").text().startswith(XSS)
    assert page.one("svg", "check-bar").one("title").text().endswith(XSS)
    assert page.one("table", id="failures").one("td", "error").text().endswith(XSS)
    assert page.one("dl", "cert").one("dt").text() == XSS
    assert page.one("svg", "phase-chart").one("circle").attrs["data-phase"] == XSS
    for cls in ("check-bar", "phase-chart"):
        svg_xml(html, cls)  # still well-formed


@pytest.mark.parametrize(
    ("query", "window"), [({}, "24h"), ({"window": [""]}, "24h"), ({"window": ["30d"]}, "30d")]
)
def test_the_window_parameter(query: dict[str, list[str]], window: str) -> None:
    assert target_window(query) == window


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"window": ["1y"]}, "window: unknown window '1y'; choose one of 24h, 7d, 30d"),
        ({"window": ["24h", "7d"]}, "window: give one window, not 2"),
        ({"state": ["up"]}, "state: unknown parameter; this page takes window"),
    ],
)
def test_a_window_the_page_cannot_show_names_the_parameter(
    query: dict[str, list[str]], words: str
) -> None:
    with pytest.raises(QueryError, match=re.escape(words)):
        target_window(query)


def test_the_lists_stacked_as_cards_name_each_cell_as_its_column_is_headed() -> None:
    found = static_file("/static/style.css")
    assert found is not None
    css = found[1].decode("utf-8")
    narrow = css[css.index("@media (max-width: 700px)") :]
    page = render(target_page())
    for table_id in ("failures", "alerts"):
        table = page.one("table", id=table_id)
        assert "list" in table.classes
        for th in table.all("th"):
            (cls,) = th.classes
            assert f'table.list td.{cls}::before {{ content: "{th.text()}"; }}' in narrow


def test_the_warnings_of_a_warning_target_are_listed_by_its_facts() -> None:
    warned = replace(
        row("mx1", "warning"),
        warnings=(("cert_expiring", "certificate expires in 5 days"), (XSS, XSS)),
    )
    html = render_target(target_page(row=warned), NOW, "lab-1")
    page = parse(html)
    assert page.all("script") == [] and "<script>" not in html
    items = page.one("ul", "warnings").all("li")
    assert [li.one("span", "warning-kind").text() for li in items] == ["cert_expiring", XSS]
    assert [li.one("span", "warning-message").text() for li in items] == [
        "certificate expires in 5 days",
        XSS,
    ]
    assert page.all("p", "last-error") == []
    main = page.one("main").child_elements()
    tags = [(n.tag, n.attrs.get("class")) for n in main]
    assert tags.index(("ul", "warnings")) + 1 == tags.index(("dl", "facts"))


def test_a_target_without_warnings_lists_none() -> None:
    assert render(target_page()).all("ul", "warnings") == []


def test_an_expired_certificate_is_said_so_in_the_facts() -> None:
    page = render(target_page(row=replace(row("mx1", "down"), cert_days_left=-3)))
    fact = page.one("div", "cert-days").one("dd")
    assert fact.text() == "expired"
    assert fact.one("span", "cert-expired").attrs["title"] == "-3 d"
