"""The oldest Apprise the notify extra allows (``apprise>=1.7``), installed beside the test
environment's own: its plugins parse URLs differently, and a channel label must still
show no token, the alert must still arrive, and a failure must still say why.

Marked ``install`` (a pip download from the configured index, like the wheel tests):
``pytest -m install`` runs it, ``-m "not install"`` leaves it out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smtpwatch.testing.webhook_receivers import WebhookReceiver

pytestmark = pytest.mark.install

OLDEST = "1.7.6"
TOKEN = "tok3nSECRETvalue42"
ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, sys
import apprise
from smtpwatch.core.alerting import make_test_alert
from smtpwatch.core.schedule import utc_now
from smtpwatch.local.apprise_sink import AppriseSender, notify_channel
from smtpwatch.local.delivery_errors import DeliveryError

urls, good, bad = json.loads(sys.argv[1])
out = {"version": apprise.__version__}
out["labels"] = [notify_channel(url, index=1).label for url in urls]
alert = make_test_alert(now=utc_now())
AppriseSender(good, timeout_s=10).send(alert)
try:
    AppriseSender(bad, timeout_s=10).send(alert)
    out["failure"] = None
except DeliveryError as exc:
    out["failure"] = str(exc)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def oldest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("apprise-oldest")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--quiet",
         "--no-deps", "--target", str(target), f"apprise=={OLDEST}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target


def test_the_oldest_apprise_allowed_labels_delivers_and_explains(oldest: Path) -> None:
    urls = [
        f"ntfys://{TOKEN}",  # an ntfy.sh topic: the secret, where a host would go
        f"slack://T1JJ3T3L2/A1BRTD4JD/{TOKEN}/#ops",
        f"json://u:{TOKEN}@127.0.0.1:8080/{TOKEN}",
    ]
    with WebhookReceiver(200) as good, WebhookReceiver(503) as bad:
        argv = [good.url("/g").replace("http://", "json://"),
                bad.url("/b").replace("http://", f"json://u:{TOKEN}@")]  # fmt: skip
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(oldest), str(ROOT / "functions")])}
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT, json.dumps([urls, *argv])],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        (got,) = good.posts()
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["version"] == OLDEST
    assert out["labels"] == [
        "notify ntfy ntfys://…",
        "notify Slack slack://…",
        "notify JSON json://127.0.0.1:8080",
    ]
    assert json.loads(got.body)["title"].startswith("[TEST]")
    assert out["failure"].startswith("JSON did not take the notification: ")
    assert "503" in out["failure"]
    assert TOKEN not in proc.stdout + proc.stderr
