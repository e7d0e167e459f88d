"""The per-phase response-time chart: a line and a dot per measurement for each phase,
over the chosen window, with time and millisecond axes and a legend. Each dot's
``<title>`` says when, which phase and how long."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

from smtpwatch.core.kinds import PHASES
from smtpwatch.core.safe_text import for_html
from smtpwatch.local.page_model import PhasePoint
from smtpwatch.local.pages.formats import ms_label

__all__ = ["PHASE_COLOURS", "nice_top", "phase_chart", "time_ticks"]

Scale = Callable[[float], float]  # a value to its coordinate

PHASE_COLOURS = {
    "dns": "#8c564b",
    "connect": "#0072b2",
    "banner": "#e69f00",
    "ehlo": "#cc79a7",
    "starttls": "#56b4e9",
    "tls": "#009e73",
    "ehlo_tls": "#d55e00",
    "auth": "#6a3d9a",
    "quit": "#7f7f7f",
}
_OTHER = "#333333"
_WIDTH, _LEFT, _RIGHT, _TOP, _BOTTOM = 560, 58, 536, 12, 200  # the plot area
_LEGEND_Y, _LEGEND_ROW, _LEGEND_PER_ROW = _BOTTOM + 62, 22, 4
_TEXT = 'font-size="12" fill="#444"'
# The spacing of the time axis's ticks and how they are labelled, per window length.
_TICKS = ((86_400, 6 * 3600, "%H:%M"), (7 * 86_400, 86_400, "%m-%d"))
_LONG_TICKS = (5 * 86_400, "%m-%d")


def phase_chart(points: list[PhasePoint], start: float, end: float, caption: str) -> str:
    """The SVG for ``points`` between the Unix times ``start`` and ``end``."""
    series = _series(points)
    top = nice_top(max((ms for values in series.values() for _, ms in values), default=0.0))
    rows = math.ceil(len(series) / _LEGEND_PER_ROW)
    height = _LEGEND_Y + rows * _LEGEND_ROW

    def x(at: float) -> float:
        span = max(end - start, 1.0)
        return _LEFT + (min(max(at, start), end) - start) / span * (_RIGHT - _LEFT)

    def y(ms: float) -> float:
        return _BOTTOM - ms / top * (_BOTTOM - _TOP)

    body = [_y_axis(top, y), _x_axis(start, end, x)]
    body += [_line(phase, values, x, y) for phase, values in series.items()]
    body.append(_legend(list(series)))
    return (
        f'<svg class="phase-chart" role="img" aria-label="{for_html(caption)}" '
        f'viewBox="0 0 {_WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">\n'
        f"<title>{for_html(caption)}</title>\n{''.join(body)}</svg>\n"
    )


def _series(points: list[PhasePoint]) -> dict[str, list[tuple[float, float]]]:
    """phase -> [(at, ms)] oldest first, phases in probe order (unknown names last)."""
    found: dict[str, list[tuple[float, float]]] = {}
    for point in sorted(points, key=lambda p: p.at):
        for phase, ms in point.ms.items():
            if isinstance(ms, int | float) and math.isfinite(ms) and ms >= 0:
                found.setdefault(phase, []).append((point.at, float(ms)))
    order = [p.value for p in PHASES]
    return dict(sorted(found.items(), key=lambda kv: (_rank(order, kv[0]), kv[0])))


def _rank(order: list[str], phase: str) -> int:
    return order.index(phase) if phase in order else len(order)


def nice_top(largest: float) -> float:
    """The y axis's top: ``largest`` rounded up to a multiple of a 1-2-2.5-5 step
    (``largest`` itself when that would pass the largest float)."""
    step = _step(max(largest, 1.0))
    top = step * max(1, math.ceil(largest / step - 1e-9))
    return top if math.isfinite(top) else largest


def _step(largest: float) -> float:
    raw = largest / 4
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def _y_axis(top: float, y: Scale) -> str:
    step = _step(top)
    parts = []
    for i in range(round(top / step) + 1):
        ms = i * step
        at = y(ms)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_RIGHT}" y1="{at:.1f}" y2="{at:.1f}" '
            'stroke="#dddddd" stroke-width="1"/>'
            f'<text class="tick y" x="{_LEFT - 6}" y="{at + 4:.1f}" text-anchor="end" {_TEXT}>'
            f"{ms_label(ms)}</text>\n"
        )
    return f'<g class="axis y-axis">\n{"".join(parts)}</g>\n'


def time_ticks(start: float, end: float) -> tuple[list[float], str]:
    """Tick times (whole UTC hours or days) between start and end, and their format."""
    every, fmt = next(((e, f) for span, e, f in _TICKS if end - start <= span), _LONG_TICKS)
    first = math.ceil(start / every) * every
    return [float(t) for t in range(int(first), int(end) + 1, every)], fmt


def _x_axis(start: float, end: float, x: Scale) -> str:
    ticks, fmt = time_ticks(start, end)
    parts = [
        f'<line class="axis-line" x1="{_LEFT}" x2="{_RIGHT}" y1="{_BOTTOM}" y2="{_BOTTOM}" '
        'stroke="#888888" stroke-width="1"/>\n'
    ]
    for tick in ticks:
        at = x(tick)
        label = datetime.fromtimestamp(tick, UTC).strftime(fmt)
        parts.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{_BOTTOM}" y2="{_BOTTOM + 5}" '
            'stroke="#888888" stroke-width="1"/>'
            f'<text class="tick x" x="{at:.1f}" y="{_BOTTOM + 20}" text-anchor="middle" '
            f"{_TEXT}>{label}</text>\n"
        )
    parts.append(
        f'<text class="axis-title" x="{_RIGHT}" y="{_BOTTOM + 34}" text-anchor="end" '
        f"{_TEXT}>time (UTC)</text>\n"
    )
    return f'<g class="axis x-axis">\n{"".join(parts)}</g>\n'


def _line(phase: str, values: list[tuple[float, float]], x: Scale, y: Scale) -> str:
    colour = PHASE_COLOURS.get(phase, _OTHER)
    name = for_html(phase)
    xy = [(x(at), y(ms), at, ms) for at, ms in values]
    line = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in xy)
    dots = "".join(
        f'<circle class="point" data-phase="{name}" cx="{px:.1f}" cy="{py:.1f}" r="2" '
        f'fill="{colour}"><title>{_when(at)} {name}: {ms:.1f} ms</title></circle>\n'
        for px, py, at, ms in xy
    )
    return (
        f'<g class="series" data-phase="{name}">\n'
        f'<polyline class="line" data-phase="{name}" points="{line}" fill="none" '
        f'stroke="{colour}" stroke-width="1.5"/>\n{dots}</g>\n'
    )


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _legend(phases: list[str]) -> str:
    width = (_RIGHT - _LEFT) / _LEGEND_PER_ROW
    items = []
    for i, phase in enumerate(phases):
        left = _LEFT + (i % _LEGEND_PER_ROW) * width
        top = _LEGEND_Y + (i // _LEGEND_PER_ROW) * _LEGEND_ROW - 14
        items.append(
            f'<g class="legend-item" data-phase="{for_html(phase)}">'
            f'<rect x="{left:.1f}" y="{top}" width="13" height="13" '
            f'fill="{PHASE_COLOURS.get(phase, _OTHER)}"/>'
            f'<text x="{left + 19:.1f}" y="{top + 11}" {_TEXT}>{for_html(phase)}</text></g>\n'
        )
    return f'<g class="legend">\n{"".join(items)}</g>\n'
