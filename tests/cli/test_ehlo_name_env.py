"""The default EHLO name from the environment is input like any other: a line break or
an escape sequence in ``SMTPWATCH_EHLO_NAME`` is refused before any server is
contacted, naming the variable — never sent, never a crash of the probe."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpwatch.core.errors import ConfigError
from smtpwatch.core.probe import ProbeEnvironment
from smtpwatch.testing.servers import SmtpServer

BAD_NAMES = ["mx.example.com\r\nMAIL FROM:<a@b>", "mx\x1b[2J.example.com", "a" * 300]


def _run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTPWATCH_"))}
    full |= {"XDG_DATA_HOME": str(tmp_path / "xdg"), "PYTHONWARNINGS": "ignore", **env}
    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
    )


@pytest.mark.parametrize("bad", BAD_NAMES, ids=["crlf", "escape", "long"])
def test_probe_refuses_a_bad_ehlo_name_from_the_environment(
    bad: str, tmp_path: Path, smtp_server: Callable[..., SmtpServer]
) -> None:
    server = smtp_server("127.0.0.1")
    proc = _run(
        ["probe", f"127.0.0.1:{server.port}", "--encryption", "none"],
        {"SMTPWATCH_EHLO_NAME": bad},
        tmp_path,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "SMTPWATCH_EHLO_NAME" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert server.ehlo_names == []  # nothing was sent


@pytest.mark.parametrize("bad", BAD_NAMES, ids=["crlf", "escape", "long"])
def test_run_refuses_a_bad_ehlo_name_from_the_environment(bad: str, tmp_path: Path) -> None:
    proc = _run(
        ["run", "--once", "--db", str(tmp_path / "db")], {"SMTPWATCH_EHLO_NAME": bad}, tmp_path
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "SMTPWATCH_EHLO_NAME" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("variable", ["SMTPWATCH_EHLO_NAME", "EHLO_NAME"])
def test_the_environment_reader_names_the_variable(variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        ProbeEnvironment.from_environ({variable: "bad\nname"})
    assert ProbeEnvironment.from_environ({variable: " mx.example.com "}).default_ehlo_name == (
        "mx.example.com"
    )


def test_the_lambda_settings_refuse_a_bad_ehlo_name_naming_the_variable() -> None:
    from smtpwatch.handlers.settings import load_probe_settings

    with pytest.raises(ValueError, match="EHLO_NAME"):
        load_probe_settings({"EHLO_NAME": "mx.example.com\r\nRSET"})
    assert load_probe_settings({"EHLO_NAME": "[192.0.2.1]"}).ehlo_name == "[192.0.2.1]"
