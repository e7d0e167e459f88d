"""`serve --password-file` keeps the dashboard's password to the rules of every other
secret file: a file other users can read is refused with the fix, before anything is
served; a private one is taken."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from smtpwatch.local.sqlite_store import SqliteStore


def _serve(tmp_path: Path, password_file: Path) -> subprocess.CompletedProcess[str]:
    db = tmp_path / "smtpwatch.db"
    SqliteStore(db).close()
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("SMTPWATCH_SERVE_PASSWORD", None)
    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", "serve", "--db", str(db),
         "--listen", "127.0.0.1:0", "--password-file", str(password_file)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_a_password_file_others_can_read_is_refused(tmp_path: Path) -> None:
    password_file = tmp_path / "pw"
    password_file.write_text("dashboard-secret-value\n")
    password_file.chmod(0o644)
    done = _serve(tmp_path, password_file)
    assert done.returncode == 3, done.stderr
    assert f"--password-file {password_file}: readable by others; chmod 600" in done.stderr
    assert "dashboard-secret-value" not in done.stderr + done.stdout
    assert "serving" not in done.stderr + done.stdout
