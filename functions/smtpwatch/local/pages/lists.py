"""A target's lists of recent failures and recent alerts, as tables that stack into
cards on a narrow screen (the stylesheet names each cell's column there)."""

from __future__ import annotations

from datetime import datetime

from smtpwatch.core.safe_text import for_html
from smtpwatch.local.page_model import AlertRow, CheckCell
from smtpwatch.local.pages.formats import NONE, moment

__all__ = ["alerts_table", "failures_table"]


def failures_table(failures: list[CheckCell], now: datetime) -> str:
    if not failures:
        return '<p class="empty">No failed checks stored.</p>\n'
    rows = [
        {
            "at": moment(cell.started_at, now),
            "status": f'<span class="status-{_token(cell.status)}">{for_html(cell.status)}</span>',
            "error": for_html(cell.error),
            "location": for_html(cell.location) or NONE,
        }
        for cell in failures
    ]
    columns = (("at", "Time"), ("status", "Status"), ("error", "Error"), ("location", "Location"))
    return _table("failures", columns, rows)


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
