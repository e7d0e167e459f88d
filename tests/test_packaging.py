"""The package as users install it: entry points, typing marker, import boundaries."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import smtpwatch
import smtpwatch.core

AWS_MODULES = ("boto3", "botocore", "aws_lambda_powertools")


def _run(*code_or_args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *code_or_args], capture_output=True, text=True, timeout=60, check=False
    )


def test_core_modules_import_no_aws_sdk() -> None:
    # GIVEN every module of the pure core
    names = [m.name for m in pkgutil.iter_modules(smtpwatch.core.__path__, "smtpwatch.core.")]
    assert "smtpwatch.core.result" in names
    code = (
        "import importlib, json, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "import smtpwatch\n"
        "smtpwatch.Target; smtpwatch.ProbeResult\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {AWS_MODULES!r})))"
    )
    # WHEN they are imported in a fresh interpreter
    proc = _run("-c", code)
    # THEN no AWS SDK module was loaded
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_probe_command_imports_no_aws_sdk() -> None:
    code = (
        "import json, sys\n"
        "from smtpwatch.cli import main\n"
        "try:\n"
        "    main.main(['probe', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {AWS_MODULES!r})))"
    )
    proc = _run("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_package_ships_py_typed_marker() -> None:
    assert (Path(smtpwatch.__file__).parent / "py.typed").is_file()


def test_python_dash_m_and_console_script_show_every_command() -> None:
    proc = _run("-m", "smtpwatch", "--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("probe", "targets", "run", "status", "history", "alerts", "demo"):
        assert f"  {command} " in proc.stdout
    script = Path(sys.executable).parent / "smtpwatch"
    assert script.exists(), "console script `smtpwatch` not installed"


def test_unknown_command_is_usage_error_exit_3() -> None:
    proc = _run("-m", "smtpwatch", "frobnicate")
    assert proc.returncode == 3
    assert "unknown command 'frobnicate'" in proc.stderr
    assert "Traceback" not in proc.stderr
