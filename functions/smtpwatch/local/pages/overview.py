"""The overview page: every target's state, last error, uptime and certificate in one
table (stacked cards on a narrow screen), with the filter form above it."""

from __future__ import annotations

import urllib.parse
from collections import Counter
from datetime import datetime

from smtpwatch.local.page_model import LastError, OverviewRow
from smtpwatch.local.pages.formats import NONE, days, html_text, moment, percent
from smtpwatch.local.pages.layout import page
from smtpwatch.local.pages.locations import checked_where, failing_text, vote_spans
from smtpwatch.local.pages.query import OverviewFilter
from smtpwatch.local.target_views import STATES

__all__ = [
    "COLUMNS",
    "error_spans",
    "render_overview",
    "tag_spans",
    "target_href",
    "warning_spans",
]

# (cell class, heading): the table's columns in order. The stylesheet repeats each
# heading in front of its cell's value when the table is stacked as cards.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Target"),
    ("state", "State"),
    ("since", "Since"),
    ("error", "Last error"),
    ("uptime-24h", "Uptime 24 h"),
    ("uptime-7d", "7 d"),
    ("uptime-30d", "30 d"),
    ("cert-days", "Certificate"),
    ("last-check", "Last check"),
    ("location", "Location"),
    ("host", "Host"),
    ("tags", "Tags"),
)


def target_href(target_id: str, window: str | None = None) -> str:
    """The target page's URL, ready for an attribute value."""
    query = "" if window is None else f"?window={urllib.parse.quote(window, safe='')}"
    return html_text(f"/targets/{urllib.parse.quote(target_id, safe='')}{query}")


def error_spans(error: LastError | None) -> str:
    """An error as phase, kind and message, each in its own span ("" for none)."""
    if error is None:
        return ""
    phase = f'<span class="error-phase">{html_text(error.phase)}</span>: ' if error.phase else ""
    return (
        f'{phase}<span class="error-kind">{html_text(error.kind)}</span>: '
        f'<span class="error-message">{html_text(error.message)}</span>'
    )


def warning_spans(kind: str, message: str) -> str:
    """One warning as kind and message, each in its own span."""
    return (
        f'<span class="warning-kind">{html_text(kind)}</span>: '
        f'<span class="warning-message">{html_text(message)}</span>'
    )


def _problems(row: OverviewRow) -> str:
    # How many locations failed, the error of a failed check, the failing locations of
    # a partial failure, then the warnings its check (or a passed one) made.
    failing = failing_text(row.votes)
    parts = [f'<span class="locations-failing">{html_text(failing)}</span>'] if failing else []
    if row.last_error is not None:
        parts.append(error_spans(row.last_error))
    elif failing:
        parts += [vote_spans(v) for v in row.votes if v.failed]
    parts += [
        f'<span class="warning">{warning_spans(k, m)}</span>'
        for k, m in row.warnings
        if not (failing and k == "partial_failure")  # says what the spans above say
    ]
    return " ".join(parts)


def render_overview(
    rows: list[OverviewRow], chosen: OverviewFilter, now: datetime, location: str
) -> str:
    """The whole overview document for ``rows``, of which the ones ``chosen`` matches
    are listed."""
    shown = [row for row in rows if chosen.matches(row)]
    parts = [
        "<h1>Targets</h1>\n",
        _summary(rows, shown),
        _form(chosen),
        _table(shown, now),
    ]
    if not rows:
        parts.append('<p class="empty">No targets yet: add one with smtpwatch targets add.</p>\n')
    elif not shown:
        parts.append('<p class="empty">No target matches this filter.</p>\n')
    down = sum(1 for row in rows if row.view.state == "down")
    title = f"{down} down · Targets" if down else "Targets"  # the browser tab says it
    return page(title, "".join(parts), now, location)


def _summary(rows: list[OverviewRow], shown: list[OverviewRow]) -> str:
    counts = Counter(row.view.state for row in rows)
    by_state = ", ".join(
        f'<a class="count state-{s}" href="/?state={s}">{counts[s]} {s}</a>'
        for s in STATES
        if counts[s]
    )
    total = f"{len(rows)} target{'' if len(rows) == 1 else 's'}"
    text = f"{total}: {by_state}" if by_state else total
    if len(shown) != len(rows):
        text += f"; {len(shown)} shown"
    return f'<p class="summary">{text}</p>\n'


def _form(chosen: OverviewFilter) -> str:
    options = "".join(
        f'<option value="{s}"{" selected" if s == chosen.state else ""}>{s}</option>'
        for s in STATES
    )
    tags = chosen.tag_texts
    first = html_text(tags[0]) if tags else ""
    more = "".join(f'<input type="hidden" name="tag" value="{html_text(t)}">' for t in tags[1:])
    return (
        '<form id="filter" method="get" action="/">\n'
        '<label>State <select name="state"><option value="">any</option>'
        f"{options}</select></label>\n"
        f'<label>Tag <input name="tag" value="{first}" placeholder="key=value"></label>{more}\n'
        '<button type="submit">Filter</button> <a class="clear" href="/">Clear</a>\n'
        "</form>\n"
    )


def _table(rows: list[OverviewRow], now: datetime) -> str:
    head = "".join(f'<th scope="col" class="{cls}">{label}</th>' for cls, label in COLUMNS)
    body = "".join(_row(row, now) for row in rows)
    return (
        f'<div class="table-scroll"><table id="targets">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}</tbody>\n</table></div>\n"
    )


def _row(row: OverviewRow, now: datetime) -> str:
    view = row.view
    state = html_text(view.state)
    target_id = html_text(view.target_id)
    error_title = ""
    if row.last_error is not None and row.last_error.at:
        error_title = f' title="at {html_text(row.last_error.at)}"'
    cells = {
        "name": f'<a class="target-link" href="{target_href(view.target_id)}">{target_id}</a>',
        "state": state.upper(),
        "since": moment(view.since, now),
        "error": _problems(row),
        "uptime-24h": percent(row.uptime.day),
        "uptime-7d": percent(row.uptime.week),
        "uptime-30d": percent(row.uptime.month),
        "cert-days": days(row.cert_days_left),
        "last-check": moment(row.last_check, now),
        "location": checked_where(row.votes, row.view.location) or NONE,
        "host": html_text(view.host) or NONE,
        "tags": tag_spans(view.tags),
    }
    tds = "".join(
        f'<td class="{cls}"{error_title if cls == "error" else ""}>{cells[cls]}</td>'
        for cls, _ in COLUMNS
    )
    return (
        f'<tr class="target state-{state}" data-target-id="{target_id}" '
        f'data-state="{state}">{tds}</tr>\n'
    )


def tag_spans(tags: dict[str, str]) -> str:
    return " ".join(
        f'<span class="tag">{html_text(key)}={html_text(value)}</span>'
        for key, value in sorted(tags.items())
    )
