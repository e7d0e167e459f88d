"""The bar of recent checks that ``smtpwatch history`` draws: one cell per stored
check in the window, oldest on the left, the newest ``MAX_CELLS`` that fit the width,
and a legend below it.

On a terminal a cell is a block whose height gives the status (█ ok, ▄ warning,
▁ critical, ? unknown), coloured as ``cli.color`` decides; elsewhere (a pipe, a
file) it is a letter (o, w, X, ?). Colours go through the terminal guard's
``write_style``, never as escape sequences inside the text.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TextIO

from smtpwatch.cli.color import use_color
from smtpwatch.core.kinds import Status
from smtpwatch.core.safe_text import TerminalGuard

__all__ = ["INDENT", "MAX_CELLS", "BarStyle", "bar_cells", "choose_style", "write_bar"]

MAX_CELLS = 90
INDENT = "  "  # before the bar, so it stands apart from the lines of text around it

BLOCKS = {Status.OK: "█", Status.WARNING: "▄", Status.CRITICAL: "▁", Status.UNKNOWN: "?"}
LETTERS = {Status.OK: "o", Status.WARNING: "w", Status.CRITICAL: "X", Status.UNKNOWN: "?"}
# SGR colours: green, yellow, red, grey ("bright black").
COLORS = {Status.OK: "32", Status.WARNING: "33", Status.CRITICAL: "31", Status.UNKNOWN: "90"}


@dataclass(frozen=True)
class BarStyle:
    """How the cells are drawn: ``blocks`` (else letters), ``color``, and ``columns``,
    the width the bar line must fit in."""

    blocks: bool
    color: bool
    columns: int


def choose_style(
    stream: TextIO | TerminalGuard, color: str = "auto", environ: Mapping[str, str] = os.environ
) -> BarStyle:
    """Blocks on a terminal that can encode them; colour as ``--color`` (``color``),
    ``NO_COLOR`` and ``FORCE_COLOR`` say (``cli.color``); the width from the terminal
    (``COLUMNS`` first, 80 when there is none)."""
    tty = bool(stream.isatty())
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "".join(BLOCKS.values()).encode(encoding)
        encodable = True
    except (LookupError, UnicodeEncodeError):
        encodable = False  # a latin-1 terminal: letters, not escaped block characters
    columns = shutil.get_terminal_size((80, 24)).columns
    return BarStyle(
        blocks=tty and encodable, color=use_color(color, stream, environ), columns=columns
    )


def bar_cells(count: int, columns: int) -> int:
    """How many of ``count`` checks the bar shows: at most ``MAX_CELLS``, and the bar
    line (indent included) no wider than ``columns``; at least one."""
    return max(0, min(count, MAX_CELLS, max(1, columns - len(INDENT))))


def write_bar(
    out: TerminalGuard, statuses: Sequence[Status], style: BarStyle, *, noun: str = "checks"
) -> None:
    """A heading (how many cells), the bar, and the legend below it if it fits."""
    shown = statuses[len(statuses) - bar_cells(len(statuses), style.columns) :]
    out.write(f"last {len(shown)} of {len(statuses)} {noun}, oldest first:\n")
    _cells(out, [(status, len(list(run))) for status, run in groupby(shown)], style)
    key = "  ".join(f"{_glyphs(style)[s]} {s.value}" for s in Status)
    if len(INDENT + key) <= style.columns:
        _cells(out, [(s, 1) for s in Status], style, labels=True)


def _glyphs(style: BarStyle) -> dict[Status, str]:
    return BLOCKS if style.blocks else LETTERS


def _cells(
    out: TerminalGuard, runs: Sequence[tuple[Status, int]], style: BarStyle, *, labels: bool = False
) -> None:
    """One line: each run of equal statuses in one colour (fewer escape sequences than
    one per cell); ``labels``: the legend, each glyph followed by its status."""
    out.write(INDENT)
    for i, (status, count) in enumerate(runs):
        if labels and i:
            out.write("  ")
        if style.color:
            out.write_style(COLORS[status])
        out.write(_glyphs(style)[status] * count)
        if style.color:
            out.write_style("0")
        if labels:
            out.write(f" {status.value}")
    out.write("\n")
