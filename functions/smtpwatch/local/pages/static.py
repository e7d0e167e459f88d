"""The files under ``/static/``: the stylesheet (package data) and the icon."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["FILES", "static_file"]

_ICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    b'<circle cx="8" cy="8" r="7" fill="#2e7d32"/></svg>\n'
)
FILES = {"/static/style.css": "text/css; charset=utf-8", "/static/favicon.svg": "image/svg+xml"}


@cache
def static_file(path: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of a file under /static/, or None."""
    if path == "/static/style.css":
        css = resources.files("smtpwatch.local.pages").joinpath("style.css").read_bytes()
        return FILES[path], css
    if path == "/static/favicon.svg":
        return FILES[path], _ICON
    return None
