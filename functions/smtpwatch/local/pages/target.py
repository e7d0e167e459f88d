"""A target's own page: its facts, the bar of recent checks, the per-phase chart over
a chosen window, its certificate, and its recent failures and alerts."""

from __future__ import annotations

from datetime import datetime

from smtpwatch.core.safe_text import for_html
from smtpwatch.local.page_model import WINDOWS, TargetPage
from smtpwatch.local.pages.formats import NONE, days, moment, percent
from smtpwatch.local.pages.layout import page
from smtpwatch.local.pages.lists import alerts_table, failures_table, votes_table
from smtpwatch.local.pages.locations import checked_where, failing_text
from smtpwatch.local.pages.overview import error_spans, tag_spans, target_href, warning_spans
from smtpwatch.local.pages.svg_bar import check_bar
from smtpwatch.local.pages.svg_chart import phase_chart

__all__ = ["WINDOW_NAMES", "render_target"]

WINDOW_NAMES = {"24h": "24 hours", "7d": "7 days", "30d": "30 days"}


def render_target(target: TargetPage, now: datetime, location: str) -> str:
    """The whole document of one target's page."""
    view = target.row.view
    parts = [
        f"<h1>{for_html(view.target_id)}</h1>\n",
        _last_error(target),
        _warnings(target),
        _facts(target, now),
        _locations(target),
        _bar(target, now),
        _chart(target, now),
        _cert(target),
        "<h2>Recent failures</h2>\n",
        failures_table(target.failures, now),
        _partials(target, now),
        "<h2>Recent alerts</h2>\n",
        alerts_table(target.alerts, now),
    ]
    return page(view.target_id, "".join(parts), now, location)


def _last_error(target: TargetPage) -> str:
    error = target.row.last_error
    if error is None:
        return ""
    return f'<p class="last-error">Last error: {error_spans(error)}</p>\n'


def _warnings(target: TargetPage) -> str:
    if not target.row.warnings:
        return ""
    items = "".join(f"<li>{warning_spans(k, m)}</li>\n" for k, m in target.row.warnings)
    return f'<ul class="warnings" aria-label="Warnings of the newest check">\n{items}</ul>\n'


def _facts(target: TargetPage, now: datetime) -> str:
    row = target.row
    view = row.view
    state = for_html(view.state)
    tags = tag_spans(view.tags)
    uptime = " / ".join(
        percent(value) for value in (row.uptime.day, row.uptime.week, row.uptime.month)
    )
    facts = (
        ("host", "Host", for_html(view.host) or NONE),
        ("port", "Port", for_html(view.port) or NONE),
        ("location", "Location", checked_where(row.votes, view.location) or NONE),
        ("state", "State", f'<span class="badge state-{state}">{state.upper()}</span>'),
        ("since", "Since", moment(view.since, now)),
        ("tags", "Tags", tags or NONE),
        ("last-check", "Last check", moment(row.last_check, now)),
        ("uptime", "Uptime 24 h / 7 d / 30 d", uptime),
        ("cert-days", "Certificate expires in", days(row.cert_days_left)),
    )
    items = "".join(
        f'<div class="fact {cls}"><dt>{label}</dt><dd>{value}</dd></div>\n'
        for cls, label, value in facts
    )
    return f'<dl class="facts">\n{items}</dl>\n'


def _locations(target: TargetPage) -> str:
    """Each location's vote of the newest measured check, when it was a verdict."""
    votes = target.row.votes
    if not votes:
        return ""
    failing = failing_text(votes)
    summary = f'<p class="locations-failing">{for_html(failing)}</p>\n' if failing else ""
    return f"<h2>Locations of the newest check</h2>\n{summary}{votes_table(votes)}"


def _partials(target: TargetPage, now: datetime) -> str:
    """The recent checks that passed although some locations failed (fewer than the
    quorum); nothing when there are none (always so in local mode)."""
    if not target.partials:
        return ""
    table = failures_table(target.partials, now, "partial-failures")
    return "<h2>Recent partial failures</h2>\n" + table


def _bar(target: TargetPage, now: datetime) -> str:
    heading = "<h2>Recent checks</h2>\n"
    if not target.checks:
        return heading + '<p class="no-checks">No checks stored yet.</p>\n'
    ends = (
        f'<p class="bar-ends"><span>oldest: {moment(target.checks[0].started_at, now)}</span>'
        f"<span>newest: {moment(target.checks[-1].started_at, now)}</span></p>\n"
    )
    return heading + check_bar(target.checks) + ends


def _chart(target: TargetPage, now: datetime) -> str:
    view = target.row.view
    links = "".join(_window_link(view.target_id, key, target.window) for key in WINDOWS)
    name = WINDOW_NAMES.get(target.window, target.window)  # plain text
    parts = [
        "<h2>Response time per phase</h2>\n",
        f'<nav class="windows" aria-label="Time window">{links}</nav>\n',
    ]
    if not target.phase_points:
        parts.append(f'<p class="no-data">No response times in the last {for_html(name)}.</p>\n')
    else:
        end = now.timestamp()
        start = end - WINDOWS.get(target.window, next(iter(WINDOWS.values())))
        caption = f"Response time per phase over the last {name}"  # escaped by phase_chart
        parts.append(phase_chart(target.phase_points, start, end, caption))
    return "".join(parts)


def _window_link(target_id: str, key: str, current: str) -> str:
    mark = ' class="current" aria-current="page"' if key == current else ""
    return f'<a href="{target_href(target_id, key)}"{mark}>{for_html(key)}</a>'


def _cert(target: TargetPage) -> str:
    heading = "<h2>Certificate</h2>\n"
    if not target.cert:
        return heading + '<p class="no-cert">No certificate seen (no TLS, or none yet).</p>\n'
    items = "".join(
        f"<div><dt>{for_html(label)}</dt><dd>{for_html(value)}</dd></div>\n"
        for label, value in target.cert.items()
    )
    return f'{heading}<dl class="cert">\n{items}</dl>\n'
