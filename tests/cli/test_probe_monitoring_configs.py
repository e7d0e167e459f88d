"""The Nagios command definition and the Icinga 2 CheckCommand of docs/probe.md, read
from the page and turned into the command line Nagios or Icinga 2 would run: each
option exists, means what the page says, and the first service, run against a loopback
STARTTLS server, is an OK verdict whose performance data carries the page's thresholds.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smtpwatch.cli import probe_cmd
from smtpwatch.cli.check_smtp_options import check_limits
from smtpwatch.cli.probe_target import build_target
from smtpwatch.core.probe.check_limits import CheckLimits
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer

PAGE = Path(__file__).resolve().parents[2] / "docs" / "probe.md"
ADDRESS = "192.0.2.25"
ENV = {"SMTP_MONITOR_PW": "not-sent"}


def blocks(marker: str) -> str:
    found: list[str] = [b for b in re.findall(r"```text\n(.*?)```", PAGE.read_text("utf-8"), re.S)
                        if marker in b]  # fmt: skip
    (block,) = found
    return block


def parser() -> argparse.ArgumentParser:
    built = argparse.ArgumentParser(prog="smtpwatch probe")
    probe_cmd.add_arguments(built)
    return built


def probed(argv: list[str]) -> tuple[Target, CheckLimits | None]:
    """What ``smtpwatch probe ARGV`` would probe and judge (nothing is connected to)."""
    args = parser().parse_args(argv)
    target, _ = build_target(args, ENV)
    return target, check_limits(args)


def nagios_command_lines() -> list[list[str]]:
    """Each service's command line, as Nagios expands ``$HOSTADDRESS$`` and ``$ARG1$``."""
    text = blocks("define command")
    (line,) = re.findall(r"command_line\s+(.+)", text)
    lines = []
    for check in re.findall(r"check_command\s+check_smtpwatch!(.+)", text):
        expanded = line.replace("$HOSTADDRESS$", ADDRESS).replace("$ARG1$", check.strip())
        lines.append(shlex.split(expanded))
    return lines


def test_the_nagios_services_mean_what_the_page_says() -> None:
    first, second = nagios_command_lines()
    assert first[:2] == second[:2] == ["/opt/smtpwatch/.venv/bin/smtpwatch", "probe"]
    # -S -w 2 -c 5 -D 30,7 -t 20: check_smtp's port 25 with STARTTLS required
    target, limits = probed(first[2:])
    assert (target.host, target.port, target.encryption) == (ADDRESS, 25, "explicit")
    assert (target.timeout_s, target.warn_ms, target.cert_warn_days) == (20, 2000, 31)
    assert limits is not None and (limits.crit_ms, limits.cert_crit_days) == (5000, 7)
    # -p 587 -S -D 30,7 with a login whose password comes from the environment
    target, _ = probed(second[2:])
    assert (target.port, target.encryption, target.username) == (
        587,
        "explicit",
        "monitor@example.com",
    )
    assert target.password_ref == "env:SMTP_MONITOR_PW"


def icinga_argv(text: str) -> list[str]:
    """The CheckCommand's arguments as Icinga 2 fills them from the command's and the
    service's vars: a value whose macro is unset is left out, ``set_if`` adds the key."""
    values: dict[str, Any] = {}
    for name, value in re.findall(r"vars\.(\w+) = (.+)", text):
        values[name] = value.strip().strip('"') if value.strip() != "true" else True
    values["smtpwatch_address"] = ADDRESS  # "$address$": the host's address
    argv = []
    for key, spec in re.findall(r'^\s+"(-[^"]+)" = (.+)$', text, re.M):
        macro = re.search(r"\$(\w+)\$", spec)
        assert macro, spec
        value = values.get(macro.group(1))
        if value is None:
            continue
        argv += [key] if "set_if" in spec else [key, str(value)]
    return argv


def test_every_icinga_argument_is_a_probe_option() -> None:
    options = {flag for action in parser()._actions for flag in action.option_strings}
    keys = re.findall(r'^\s+"(-[^"]+)" = ', blocks("CheckCommand"), re.M)
    assert len(keys) >= 10 and set(keys) <= options


def test_the_icinga_service_means_what_the_page_says() -> None:
    argv = icinga_argv(blocks("CheckCommand"))
    assert argv == ["-H", ADDRESS, "-S", "-t", "20", "-w", "2", "-c", "5", "-D", "30,7"]
    target, limits = probed(argv)
    assert (target.port, target.encryption, target.timeout_s) == (25, "explicit", 20)
    assert limits is not None and (limits.crit_ms, limits.cert_crit_days) == (5000, 7)


def test_the_first_nagios_service_against_a_starttls_server_is_ok_with_its_thresholds(
    smtp_server: Callable[..., SmtpServer], certs: Certificates, tmp_path: Path
) -> None:
    server = smtp_server(cert=certs.valid(), starttls=True)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(certs.ca_pem, encoding="ascii")
    first = nagios_command_lines()[0]
    # The page's options; the server's name mapped to loopback and its port, the test CA.
    argv = [a if a != ADDRESS else DEFAULT_HOSTNAME for a in first[2:]]
    argv += ["-p", str(server.port), "--dns-host", f"127.0.0.1 {DEFAULT_HOSTNAME}"]
    argv += ["--ca-bundle", str(ca_file)]
    done = subprocess.run(
        [sys.executable, "-m", "smtpwatch", "probe", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    verdict, perfdata = done.stdout.splitlines()[0].split(" | ")
    assert verdict.startswith(f"SMTP OK - {DEFAULT_HOSTNAME}:{server.port} explicit")
    items = dict(item.split("=", 1) for item in perfdata.split())
    # 'label'=value[UOM];[warn];[crit];[min];[max], in seconds, min 0
    assert re.fullmatch(r"\d+\.\d{6}s;2\.000000;5\.000000;0", items["time"])
    assert re.fullmatch(r"\d+;31:;8:", items["cert_days"])
    assert set(items) >= {"dns", "connect", "banner", "ehlo", "starttls", "tls", "time"}


@pytest.mark.parametrize("flag", ["-4", "-6"])
def test_the_icinga_family_switches_choose_the_family(flag: str) -> None:
    target, _ = probed(["-H", "mx1.example.com", flag])
    assert target.ip_family == {"-4": "ipv4", "-6": "ipv6"}[flag]
