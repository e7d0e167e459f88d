"""Arguments that are not text: a shell passes any bytes, and Python hands bytes that
are not UTF-8 on as lone surrogates, which SQLite, JSON and the terminal cannot take.
Every command refuses them up front, naming the argument — never a traceback."""

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


def smtpwatch_bytes(cli: Cli, *args: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"smtpwatch", *args],
        capture_output=True,
        env=cli.env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        [b"history", b"x\xff"],
        [b"targets", b"show", b"mx\xfe1"],
        [b"targets", b"add", b"mx1", b"mx1.example.com", b"--name", b"caf\xe9"],
        [b"status", b"--db", b"/tmp/\xff.db"],
    ],
    ids=["history", "show", "add-name", "status-db"],
)
def test_an_argument_that_is_not_utf8_is_refused_naming_it(cli: Cli, args: list[bytes]) -> None:
    before = smtpwatch_bytes(cli, b"targets", b"list", b"--json").stdout
    proc = smtpwatch_bytes(cli, *args)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    assert "not valid UTF-8" in err
    assert len(err.strip().splitlines()) == 1, err
    # the offending argument is named (escaped), and nothing was written
    assert "\\x" in err or "\\u" in err, err
    assert smtpwatch_bytes(cli, b"targets", b"list", b"--json").stdout == before
