"""A target's lists of recent failures and recent alerts, as tables that stack into
cards on a narrow screen (the stylesheet names each cell's column there)."""

from __future__ import annotations

from datetime import datetime

from smtpwatch.core.locations import LocationVote
from smtpwatch.core.safe_text import for_html
from smtpwatch.local.page_model import AlertRow, CheckCell
from smtpwatch.local.pages.formats import NONE, moment
from smtpwatch.local.pages.locations import checked_where, vote_spans

__all__ = ["alerts_table", "failures_table", "votes_table"]


def failures_table(failures: list[CheckCell], now: datetime, table_id: str = "failures") -> str:
    """Failed checks; a verdict of several locations names the failing ones, and a
    partial failure (no error of its own) each failing location's error."""
    if not failures:
        return '<p class="empty">No failed checks stored.</p>\n'
    rows = [
        {
            "at": moment(cell.started_at, now),
            "status": f'<span class="status-{_token(cell.status)}">{for_html(cell.status)}</span>',
            "error": for_html(cell.error)
            or " ".join(vote_spans(v) for v in cell.votes if v.failed),
            "location": checked_where(cell.votes, cell.location, names=True) or NONE,
        }
        for cell in failures
    ]
    columns = (("at", "Time"), ("status", "Status"), ("error", "Error"), ("location", "Location"))
    return _table(table_id, columns, rows)


def votes_table(votes: tuple[LocationVote, ...]) -> str:
    """One row per location of a verdict: its status, failing phase, error and message."""
    columns = (
        ("location", "Location"),
        ("status", "Status"),
        ("phase", "Phase"),
        ("error", "Error"),
        ("message", "Message"),
    )
    rows = [
        {
            "location": for_html(vote.location),
            "status": f'<span class="status-{_token(vote.status)}">{for_html(vote.status)}</span>',
            "phase": for_html(vote.phase or "") or NONE,
            "error": for_html(vote.error or "") or NONE,
            "message": for_html(vote.message or "") or NONE,
        }
        for vote in votes
    ]
    return _table("locations", columns, rows)


def alerts_table(alerts: list[AlertRow], now: datetime) -> str:
    if not alerts:
        return '<p class="empty">No alerts stored.</p>\n'
    columns = (
        ("at", "Time"),
        ("event", "Event"),
        ("channel", "Channel"),
        ("delivery", "Delivery"),
        ("detail", "Detail"),
    )
    rows = [
        {
            "at": moment(alert.at, now),
            "event": for_html(alert.event),
            "channel": for_html(alert.channel),
            "delivery": for_html(alert.state),
            "detail": for_html(alert.detail),
        }
        for alert in alerts
    ]
    return _table("alerts", columns, rows)


def _token(text: str) -> str:
    """A status as a class name part: one of the known ones, else "unknown"."""
    return text if text in ("ok", "warning", "critical", "unknown") else "unknown"


def _table(table_id: str, columns: tuple[tuple[str, str], ...], rows: list[dict[str, str]]) -> str:
    head = "".join(f'<th scope="col" class="{cls}">{label}</th>' for cls, label in columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{cls}">{row[cls]}</td>' for cls, _ in columns) + "</tr>\n"
        for row in rows
    )
    return (
        f'<div class="table-scroll"><table id="{table_id}" class="list">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table></div>\n"
    )
