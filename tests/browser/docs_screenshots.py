"""The screenshots in the docs: the browser tests' fleet without its hostile targets and
with more sweeps (a fuller bar, an outage in it), shot in headless Chromium. The sweeps
take a minute; their checks are then moved back in time to one every SPACING_S seconds,
so the pictures show a day of history.

    .venv-test311/bin/python tests/browser/docs_screenshots.py docs/img

With ``pngquant`` on the PATH (Debian package pngquant) the PNGs are then quantised to a
palette: about a third of the size, no visible change.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
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
from playwright.sync_api import FloatRect, ViewportSize, sync_playwright

from smtpwatch.testing.servers import Certificates

SWEEPS = 72
OUTAGE = range(40, 44)
SPACING_S = 1200  # 72 checks 20 minutes apart: the last 24 hours
SHOTS = {
    "overview": "/",
    "target": f"/targets/{OUTAGE_ID}",
}
VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 800},
    "375": {"width": 375, "height": 800},
}
PHONE_HEIGHT = 1150  # the phone pictures show the top of the page: the first cards


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f"{epoch % 1:.3f}Z"[1:]


def spread(db: Path, now: float) -> None:
    """Each target's checks, newest at ``now``, SPACING_S apart (the store's trigger
    counts them into the rollup tables again); the states and alerts move with them."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT target_id, status, data FROM results ORDER BY target_id, started DESC"
        ).fetchall()
        moved: dict[str, tuple[str, float]] = {}  # old started_at -> new one, its epoch
        for table in ("results", "rollup_hour", "rollup_day"):
            conn.execute(f"DELETE FROM {table}")
        previous, index = None, 0
        for target_id, status, data in rows:
            index = index + 1 if target_id == previous else 0
            previous = target_id
            doc = json.loads(data)
            started = now - index * SPACING_S
            moved[doc["started_at"]] = (_stamp(started), started)
            doc["started_at"] = _stamp(started)
            conn.execute(
                "INSERT INTO results (target_id, ts, started, status, data) VALUES (?,?,?,?,?)",
                (target_id, doc["started_at"], started, status, json.dumps(doc)),
            )

        def move(text: str) -> str:
            for old, (new, _) in moved.items():
                text = text.replace(old, new)
            return text

        for target_id, data in conn.execute("SELECT target_id, data FROM state").fetchall():
            conn.execute("UPDATE state SET data = ? WHERE target_id = ?", (move(data), target_id))
        for seq, text in conn.execute("SELECT seq, alert FROM outbox").fetchall():
            alert = json.loads(move(text))
            at, epoch = moved[json.loads(text)["result"]["started_at"]]
            alert["created_at"] = at[:19] + "Z"
            if "down_for_s" in alert.get("details", {}):
                since = next(e for new, e in moved.values() if new == alert["since"])
                alert["details"]["down_for_s"] = round(epoch - since)
            conn.execute(
                "UPDATE outbox SET alert = ?, queued = ?, next_attempt = ?, last_attempt = ?, "
                "done = ? WHERE seq = ?",
                (json.dumps(alert), epoch, epoch, epoch + 0.1, epoch + 0.1, seq),
            )


def _shrink(png: Path) -> None:
    pngquant = shutil.which("pngquant")
    if pngquant is not None:
        quality = ["--quality", "80-98", "--strip", "--force"]
        subprocess.run([pngquant, *quality, "--output", str(png), str(png)], check=True)


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
                        clip: FloatRect | None = None
                        if viewport["width"] < 700:
                            clip = {"x": 0, "y": 0, "width": 375, "height": PHONE_HEIGHT}
                        page.screenshot(path=str(shot), full_page=True, clip=clip)
                        _shrink(shot)
                        print(shot, shot.stat().st_size, "bytes")
                    page.close()
                browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"))
