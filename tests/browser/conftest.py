"""`smtpwatch serve` over a database filled by real `smtpwatch run --once` sweeps
(``dashboard_fleet``), and headless Chromium driven by Playwright. Without Chromium or
Playwright the browser tests skip, saying which is missing. Screenshots go to
``$SMTPWATCH_SCREENSHOTS`` (default: a pytest temporary directory).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_fleet import (
    CHROMIUM,
    HTML_ID,
    Fleet,
    fill,
    python_env,
    serve,
    smtp_servers,
    webhook_receiver,
)

from smtpwatch.testing.servers import Certificates


def _missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: run as root (CI), Chromium's sandbox refuses to start
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory, certs: Certificates) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("browser")
    shots = Path(os.environ.get("SMTPWATCH_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    db = tmp / "smtpwatch.db"
    env = python_env(tmp)
    with smtp_servers(certs) as targets, webhook_receiver() as (webhook, _):
        fill(db, targets, env, webhook=webhook)
        with serve(db, env, tmp / "serve.log") as base_url:
            yield Fleet(db, base_url, shots, frozenset({*targets, HTML_ID}), tmp / "serve.log")
