"""Running `smtpwatch targets …` as a user does: a subprocess on a temporary store.

Imported by the targets test modules (tests/cli is on sys.path under pytest), which
each define a ``cli`` fixture as ``make_cli(tmp_path)``.

Every run gets its own data directory, secrets directory and database, so nothing
touches the user's real ``~/.local/share/smtpwatch`` and no AWS variable leaks in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Cli:
    db: Path
    env: dict[str, str]

    def __call__(
        self,
        *args: str,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        db: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """``smtpwatch targets ARGS --db DB`` → the finished process (text output)."""
        argv = [sys.executable, "-m", "smtpwatch", "targets", *args]
        if "--db" not in args:
            argv += ["--db", str(db or self.db)]
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env | (env or {}),
            timeout=timeout,
            # No controlling terminal: getpass then reads the password from stdin.
            start_new_session=True,
        )


def make_cli(tmp_path: Path) -> Cli:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "SMTPWATCH_")) and k not in ("XDG_DATA_HOME",)
    }
    env |= {
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "SMTPWATCH_SECRETS_DIR": str(tmp_path / "secrets"),
        "PYTHONWARNINGS": "ignore",
        # Any AWS call would go nowhere: the local backend must not need one.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return Cli(db=tmp_path / "targets.db", env=env)
