"""``smtpwatch probe`` is started once per check by a monitoring system: its start must
not load modules it does not need (bench/README.md has the figures). These tests name
the modules, never a time: whatever the machine's speed, a module that is not imported
costs nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer

# Each was measured on the probe's path (ms of import at every start): typing ~3,
# dataclasses with inspect/ast/dis/tokenize ~7, zoneinfo ~3, decimal ~1.3, difflib
# ~1.7, _strptime ~1, threading ~0.8; dnspython ~70 when nothing is asked of DNS.
NOT_NEEDED = (
    "typing",
    "dataclasses",
    "inspect",
    "zoneinfo",
    "decimal",
    "difflib",
    "_strptime",
    "threading",
    "contextlib",
    "json",
    "dns",
    "boto3",
    "smtpwatch.core.maintenance",
)

# The CLI entry point as the console script runs it (no runpy, unlike -m).
CODE = "import sys; from smtpwatch.cli.main import main; sys.exit(main(sys.argv[1:]))"


def imported_modules(*args: str, **extra_env: str) -> tuple[int, set[str]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | extra_env
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CODE, "probe", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    return proc.returncode, names


def test_a_tls_probe_with_login_imports_only_what_it_needs(
    certs: Certificates, smtp_server: Callable[..., SmtpServer], tmp_path: Path
) -> None:
    # GIVEN a STARTTLS server with AUTH, its name mapped with --dns-host (no DNS)
    server = smtp_server(cert=certs.valid(), starttls=True, credentials={"u": "p"})
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(certs.ca_pem, encoding="ascii")
    # WHEN `smtpwatch probe` checks it, certificate facts and login included
    code, modules = imported_modules(
        f"{DEFAULT_HOSTNAME}:{server.port}",
        "--dns-host",
        f"127.0.0.1 {DEFAULT_HOSTNAME}",
        "--ca-bundle",
        str(ca_file),
        "--user",
        "u",
        "--password-env",
        "SMTPWATCH_STARTUP_TEST_PW",
        "--auth-methods",
        "PLAIN",
        SMTPWATCH_STARTUP_TEST_PW="p",
    )
    # THEN it passes, having loaded none of the modules it has no use for
    assert code == 0
    assert "smtpwatch.core.probe" in modules and "ssl" in modules
    assert {m for m in modules if m.split(".")[0] in NOT_NEEDED or m in NOT_NEEDED} == set()


def test_the_json_output_loads_json_and_still_no_typing(
    smtp_server: Callable[..., SmtpServer],
) -> None:
    server = smtp_server()
    code, modules = imported_modules(f"127.0.0.1:{server.port}", "--encryption", "none", "--json")
    assert code == 0
    assert "json" in modules
    assert not {"typing", "dataclasses", "decimal", "zoneinfo"} & modules
