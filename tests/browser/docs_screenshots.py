"""The screenshots in the docs: the browser tests' fleet without its hostile targets and
with more sweeps (a fuller bar, an outage in it), shot in headless Chromium. The sweeps
take a minute; their checks are then moved back in time to one every SPACING_S seconds,
so the pictures show a day of history.

    .venv-test311/bin/python tests/browser/docs_screenshots.py docs/img
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from dashboard_fleet import (
    CHROMIUM,
    OUTAGE_ID,
    fill,
    python_env,
    serve,
    smtp_servers,
    webhook_receiver,
)
from playwright.sync_api import ViewportSize, sync_playwright

from smtpwatch.testing.servers import Certificates

SWEEPS = 72
OUTAGE = range(40, 44)
SPACING_S = 1200  # 72 checks 20 minutes apart: the last 24 hours
SHOTS = {
    "overview": "/",
    "target": f"/targets/{OUTAGE_ID}",
}
VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1100, "height": 700},
    "375": {"width": 375, "height": 700},
}


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f"{epoch % 1:.3f}Z"[1:]


def spread(db: Path, now: float) -> None:
    """Each target's checks, newest at ``now``, SPACING_S apart (the store's trigger
    counts them into the rollup tables again); the states' times move with them."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT target_id, status, data FROM results ORDER BY target_id, started DESC"
        ).fetchall()
        moved: dict[str, str] = {}
        for table in ("results", "rollup_hour", "rollup_day"):
            conn.execute(f"DELETE FROM {table}")
        previous, index = None, 0
        for target_id, status, data in rows:
            index = index + 1 if target_id == previous else 0
            previous = target_id
            doc = json.loads(data)
            started = now - index * SPACING_S
            moved[doc["started_at"]] = doc["started_at"] = _stamp(started)
            conn.execute(
                "INSERT INTO results (target_id, ts, started, status, data) VALUES (?,?,?,?,?)",
                (target_id, doc["started_at"], started, status, json.dumps(doc)),
            )
        for target_id, data in conn.execute("SELECT target_id, data FROM state").fetchall():
            for old, new in moved.items():
                data = data.replace(old, new)
            conn.execute("UPDATE state SET data = ? WHERE target_id = ?", (data, target_id))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smtpwatch-docs-") as tmp_text:
        tmp = Path(tmp_text)
        env = python_env(tmp)
        db = tmp / "smtpwatch.db"
        with smtp_servers(Certificates()) as targets, webhook_receiver() as (webhook, _):
            del targets["banner-xss"]  # the tests' hostile cases stay out of the pictures
            fill(db, targets, env, sweeps=SWEEPS, outage=OUTAGE, hostile=False, webhook=webhook)
            spread(db, time.time())
            with serve(db, env, tmp / "serve.log") as base_url, sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                for size, viewport in VIEWPORTS.items():
                    page = browser.new_page(viewport=viewport)
                    for name, path in SHOTS.items():
                        page.goto(base_url + path)
                        shot = out / f"serve-{name}-{size}.png"
                        page.screenshot(path=str(shot), full_page=True)
                        print(shot, shot.stat().st_size, "bytes")
                    page.close()
                browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"))
