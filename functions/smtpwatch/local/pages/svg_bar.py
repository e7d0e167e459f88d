"""The bar of recent checks: one coloured cell per stored check, oldest left, the
newest at the right edge; each cell's ``<title>`` is its hover text."""

from __future__ import annotations

from collections import Counter

from smtpwatch.core.safe_text import for_html
from smtpwatch.local.page_model import BAR_CHECKS, CheckCell
from smtpwatch.local.pages.locations import failing_text

__all__ = ["STATUS_COLOURS", "check_bar"]

STATUS_COLOURS = {
    "ok": "#2e7d32",
    "warning": "#f9a825",
    "critical": "#c62828",
    "unknown": "#757575",
}
_PITCH = 10  # a cell and the gap after it, in viewBox units
_CELL = 8
_HEIGHT = 32


def check_bar(checks: list[CheckCell]) -> str:
    """The SVG (stretched to the page's width by the stylesheet)."""
    shown = checks[-BAR_CHECKS:]
    first = BAR_CHECKS - len(shown)  # empty slots on the left: the newest is always last
    cells = "".join(_cell(first + i, check) for i, check in enumerate(shown))
    counts = Counter(check.status for check in shown)
    label = f"The last {len(shown)} checks, oldest first: " + ", ".join(
        f"{n} {for_html(status)}" for status, n in sorted(counts.items())
    )
    return (
        f'<svg class="check-bar" role="img" aria-label="{label}" '
        f'viewBox="0 0 {BAR_CHECKS * _PITCH} {_HEIGHT}" preserveAspectRatio="none" '
        f'xmlns="http://www.w3.org/2000/svg">\n{cells}</svg>\n'
    )


def _cell(slot: int, check: CheckCell) -> str:
    status = check.status if check.status in STATUS_COLOURS else "unknown"
    title = f"{check.started_at} {check.status}"
    if failing_text(check.votes):
        title += f" ({failing_text(check.votes)})"
    if check.error:
        title += f" — {check.error}"
    return (
        f'<rect class="cell status-{status}" x="{slot * _PITCH}" y="0" width="{_CELL}" '
        f'height="{_HEIGHT}" rx="1.5" fill="{STATUS_COLOURS[status]}">'
        f"<title>{for_html(title)}</title></rect>\n"
    )
