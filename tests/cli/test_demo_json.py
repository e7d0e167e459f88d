"""`smtpwatch demo --json`: the story goes to stderr, stdout is one JSON document of what
the demo found (the targets' states, each one's checks in order, the alerts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_json_is_one_document_on_stdout_and_the_story_on_stderr(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "SMTPWATCH_")) and k not in ("NO_COLOR", "FORCE_COLOR")
    }
    env |= {
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    db = tmp_path / "demo.db"
    # WHEN the demo runs with --json (~30 s; the timeout is generous for a busy CI box)
    done = subprocess.run(
        [sys.executable, "-m", "smtpwatch", "demo", "--json", "--db", str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    # THEN stdout is exactly one JSON document with the documented keys
    doc = json.loads(done.stdout)
    assert set(doc) == {"ok", "seconds", "database", "targets", "checks", "alerts"}
    assert doc["ok"] is True and doc["database"] == str(db) and doc["seconds"] > 0
    assert {t["target_id"]: t["status"] for t in doc["targets"]} == {
        "mail": "up",
        "flaky": "up",
        "expired-cert": "down",
    }
    # flaky failed while its server was stopped and passed again after
    flaky = doc["checks"]["flaky"]
    assert "critical" in flaky and flaky[-1] == "ok"
    assert flaky.index("critical") > flaky.index("ok")
    events = [(a["event"], a["target"]["target_id"]) for a in doc["alerts"]]
    assert ("down", "expired-cert") in events
    assert events.index(("down", "flaky")) < events.index(("recovered", "flaky"))

    # AND the story, alerts included, went to stderr, uncoloured in a pipe
    assert "ALERT [DOWN] flaky" in done.stderr and "ALERT [RECOVERED] flaky" in done.stderr
    assert "\x1b" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
