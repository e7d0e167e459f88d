"""The frame every page shares: head, header, footer; the error page; the headers
that go with HTML (Content-Security-Policy and friends)."""

from __future__ import annotations

from datetime import datetime

from smtpwatch.core.safe_text import for_html
from smtpwatch.local.pages.formats import stamp

__all__ = ["CSP", "HTML_HEADERS", "REFRESH_S", "error_page", "page"]

# No script can run, whatever a page holds: no script source is allowed at all.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HTML_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
REFRESH_S = 60  # a page reloads itself this often


def page(title: str, main: str, now: datetime, location: str, *, refresh: bool = True) -> str:
    """A whole HTML document; ``title`` is plain text, ``main`` is HTML already escaped."""
    meta = f'<meta http-equiv="refresh" content="{REFRESH_S}">\n' if refresh else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{meta}<title>{for_html(title)} · smtpwatch</title>\n"
        '<link rel="stylesheet" href="/static/style.css">\n'
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">\n'
        "</head>\n<body>\n"
        '<header class="top"><a class="home" href="/">smtpwatch</a></header>\n'
        f"<main>\n{main}</main>\n{_footer(now, location)}</body>\n</html>\n"
    )


def _footer(now: datetime, location: str) -> str:
    where = f' at <span class="location">{for_html(location)}</span>' if location else ""
    return (
        f'<footer>Generated <time datetime="{now.isoformat()}">{stamp(now)}</time>{where}'
        ' · <a href="/">All targets</a></footer>\n'
    )


def error_page(code: int, title: str, message: str, now: datetime, location: str) -> str:
    """A page saying what went wrong (a bad parameter, an unknown target)."""
    main = (
        f'<h1 class="error-title">{code} {for_html(title)}</h1>\n'
        f'<p class="error-detail">{for_html(message)}</p>\n'
        '<p><a href="/">Back to all targets</a></p>\n'
    )
    return page(title, main, now, location, refresh=False)
