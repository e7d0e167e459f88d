"""`smtpwatch demo` runs end to end on loopback: the down alerts and the recovery show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def smtpwatch(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_demo_shows_the_down_alerts_and_the_recovery_then_leaves_a_usable_store(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTPWATCH_"))}
    env |= {
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # the demo must need no AWS at all
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    db = tmp_path / "demo.db"

    # WHEN the demo runs (it takes ~20-30 s; the timeout is generous for a busy CI box)
    done = smtpwatch("demo", "--no-color", "--db", str(db), env=env, timeout=240)

    # THEN it succeeds and tells the story in order
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    expired_down = out.index("ALERT [DOWN] expired-cert")
    flaky_down = out.index("ALERT [DOWN] flaky")
    recovered = out.index("ALERT [RECOVERED] flaky")
    assert expired_down < flaky_down < recovered
    assert "cert_expired" in out and "connect_refused" in out
    assert "Traceback" not in done.stderr

    # AND the kept database answers status and history
    status = smtpwatch("status", "--json", "--db", str(db), env=env, timeout=60)
    rows = {r["target_id"]: r for r in json.loads(status.stdout)}
    assert {k: r["status"] for k, r in rows.items()} == {
        "mail": "up",
        "flaky": "up",
        "expired-cert": "down",
    }
    history = json.loads(
        smtpwatch("history", "flaky", "--json", "--db", str(db), env=env, timeout=60).stdout
    )
    assert history["counts"]["critical"] >= 1 and history["counts"]["ok"] >= 2
    assert 0 < history["uptime_percent"] < 100
