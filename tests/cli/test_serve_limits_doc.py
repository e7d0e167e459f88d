"""The limits page lists the dashboard's bounds with the numbers the server uses, and
the serve page says that a warning target names its warnings."""

from __future__ import annotations

import re
from pathlib import Path

from smtpwatch.core.target_validators import MAX_STORED_TAGS
from smtpwatch.local.page_model import MAX_WARNINGS_SHOWN
from smtpwatch.local.web import MAX_CONNECTIONS, MAX_HEAD_BYTES

DOCS = Path(__file__).parents[2] / "docs"


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


def test_the_limits_page_lists_the_dashboards_bounds() -> None:
    section = _section((DOCS / "limits.md").read_text(encoding="utf-8"), "## The dashboard")
    flat = " ".join(section.split())
    assert f"{MAX_CONNECTIONS} connections" in flat
    assert "503" in flat and "`Retry-After: 1`" in flat
    assert f"{MAX_HEAD_BYTES // 1024} KiB" in flat and "431" in flat
    assert re.search(rf"at most {MAX_STORED_TAGS} .*385 characters", flat)
    assert "421" in flat and "loopback" in flat and "password" in flat
    assert "`--request-timeout`" in flat


def test_the_serve_page_says_a_warning_target_names_its_warnings() -> None:
    text = (DOCS / "serve.md").read_text(encoding="utf-8")
    overview = " ".join(text[text.index("### The overview") : text.index("### A target")].split())
    assert "warning" in overview and "cert_expiring" in overview
    assert f"at most {MAX_WARNINGS_SHOWN}" in overview
    assert "expired" in overview
