"""A database path the store cannot use is one line naming the path, exit 3, never a
traceback: a directory that cannot be made, a parent that is a file, a directory given
as the database. Each command runs `smtpwatch` as a subprocess, as a user types it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = [
    ["run", "--once"],
    ["targets", "add", "mx1", "127.0.0.1:2525"],
    ["targets", "import", "-"],
]


def _bad_paths(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "plain-file"
    a_file.write_text("not a directory\n")
    a_dir = tmp_path / "a-directory"
    a_dir.mkdir()
    return {
        "parent cannot be made": Path("/proc/smtpwatch-no-such-dir/x.db"),
        "parent is a file": a_file / "x.db",
        "database is a directory": a_dir,
    }


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
@pytest.mark.parametrize(
    "case", ["parent cannot be made", "parent is a file", "database is a directory"]
)
def test_an_unusable_database_path_is_one_line_naming_it(
    tmp_path: Path, command: list[str], case: str
) -> None:
    db = _bad_paths(tmp_path)[case]
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("SMTPWATCH_DB", None)
    done = subprocess.run(
        [sys.executable, "-m", "smtpwatch", *command, "--db", str(db)],
        input="[]",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(db) in lines[0]
    assert done.stdout == ""
