"""What a user meets at the edges of the command line: parser errors, closed pipes,
the small conveniences of `targets`. Each test runs `smtpwatch` as a subprocess on a
temporary store, the way a mail admin types it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from targets_helpers import Cli, make_cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def smtpwatch(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", *args],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=120,
    )


PARSER_ERRORS = [
    (["probe"], "HOST[:PORT]"),
    (["probe", "127.0.0.1", "--frob"], "--frob"),
    (["targets", "add", "mx1"], "HOST[:PORT]"),
    (["targets", "add", "mx1", "mx1.example.com", "--encryption"], "--encryption"),
    (["targets", "remove", "mx1", "--yes"], "--yes"),
    (["history"], "TARGET"),
]


@pytest.mark.parametrize(
    ("argv", "option"), PARSER_ERRORS, ids=[" ".join(a) for a, _ in PARSER_ERRORS]
)
def test_a_parser_error_is_one_line_naming_the_option_and_pointing_to_help(
    cli: Cli, argv: list[str], option: str
) -> None:
    # GIVEN a command line argparse itself refuses (missing argument, unknown option)
    # WHEN it runs
    proc = smtpwatch(cli, *argv, *(["--db", str(cli.db)] if argv[0] == "targets" else []))
    # THEN one line on stderr names the option and where help is, exit 3, no usage dump
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("smtpwatch ")
    assert option in lines[0]
    assert "--help" in lines[0]
    assert "usage:" not in proc.stderr
    assert proc.stdout == ""


def test_output_into_a_closed_pipe_ends_quietly_without_a_traceback(cli: Cli) -> None:
    # GIVEN a reader that has already gone away (`smtpwatch targets list --json | head -0`)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        # WHEN a command prints data into that pipe
        proc = subprocess.run(
            [sys.executable, "-m", "smtpwatch", "targets", "list", "--json", "--db", str(cli.db)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=cli.env,
            timeout=120,
        )
    finally:
        os.close(write_end)
    # THEN it exits like a process ended by SIGPIPE, with nothing on stderr
    assert proc.returncode == 141
    assert "Traceback" not in proc.stderr
    assert "BrokenPipeError" not in proc.stderr
    assert proc.stderr == ""
