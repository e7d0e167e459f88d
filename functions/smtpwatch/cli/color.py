"""Whether a command colours its output: ``--color auto|always|never``, ``NO_COLOR``
and ``FORCE_COLOR``, decided here for every command that colours (``use_color``).

Colours are written through the terminal guard's ``write_style``, never inside text.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["COLOR_MODES", "add_color_argument", "use_color"]

COLOR_MODES = ("auto", "always", "never")


def add_color_argument(parser: argparse.ArgumentParser | Any) -> None:
    """``--color WHEN`` (default auto) and ``--no-color``, its alias for ``never``."""
    parser.add_argument(
        "--color",
        choices=COLOR_MODES,
        default="auto",
        metavar="WHEN",
        help="colour the output: auto (a terminal, unless $NO_COLOR is set; $FORCE_COLOR "
        "forces it), always, never (default: auto)",
    )
    parser.add_argument(
        "--no-color",
        dest="color",
        action="store_const",
        const="never",
        help="alias of --color never",
    )


def use_color(mode: str, stream: Any, environ: Mapping[str, str] | None = None) -> bool:
    """``always`` and ``never`` are the user's word. ``auto``: no when ``NO_COLOR`` is
    set and not empty (no-color.org), yes when ``FORCE_COLOR`` is (and not "0"), else
    yes on a terminal."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR", "0") not in ("", "0"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
