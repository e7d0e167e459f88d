"""check_smtp's options on ``smtpwatch probe``, run as a monitoring system runs them:
a subprocess against real loopback servers (trustme certificates for TLS).

``-H`` brings check_smtp's defaults (port 25, no TLS unless ``-S`` or ``-D``); ``-w``/
``-c`` are seconds of total time; ``-e`` is text the greeting must contain; ``-D
WARN[,CRIT]`` counts whole days left; the probe's own deadline defaults to 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from smtpwatch.cli import probe_cmd
from smtpwatch.cli.main import UsageError
from smtpwatch.cli.probe_target import build_target
from smtpwatch.core.target import Target
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, HostileServer, SmtpServer

PASSWORD_VAR = "SMTPWATCH_CHECK_SMTP_PW"
StartServer = Callable[..., SmtpServer]
StartHostile = Callable[[HostileServer], HostileServer]


def smtpwatch(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_VAR}
    if password is not None:
        env[PASSWORD_VAR] = password
    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", "probe", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def as_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def perf(stdout: str, label: str) -> str:
    items = stdout.splitlines()[0].split(" | ", 1)[1].split()
    return next(item for item in items if item.startswith(label + "="))


def parsed(*argv: str) -> Target:
    """The Target ``smtpwatch probe ARGV`` would probe (nothing is connected to)."""
    parser = argparse.ArgumentParser()
    probe_cmd.add_arguments(parser)
    target, _ = build_target(parser.parse_args(list(argv)), {})
    return target


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory, certs: Certificates) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(certs.ca_pem, encoding="ascii")
    return str(path)


def tls_args(port: int, ca_file: str) -> list[str]:
    """-H with the certificate's name, mapped to loopback, trusting the test CA."""
    return [
        "-H",
        DEFAULT_HOSTNAME,
        "-p",
        str(port),
        "--dns-host",
        f"127.0.0.1 {DEFAULT_HOSTNAME}",
        "--ca-bundle",
        ca_file,
    ]


# ------------------------------------------------------------------ defaults


def test_dash_h_takes_check_smtps_defaults_port_25_and_no_tls() -> None:
    target = parsed("-H", "mx.example.com")
    assert (target.host, target.effective_port, target.encryption) == ("mx.example.com", 25, "none")


def test_dash_s_is_starttls_required_and_keeps_port_25_with_dash_h() -> None:
    target = parsed("-H", "mx.example.com", "-S")
    assert (target.effective_port, target.encryption) == (25, "explicit")


def test_dash_d_alone_runs_starttls_as_check_smtp_does() -> None:
    target = parsed("-H", "mx.example.com", "-D", "30,7")
    assert (target.effective_port, target.encryption) == (25, "explicit")
    # 30 whole days or fewer → warning: fewer than 31.
    assert target.cert_warn_days == 31


def test_host_port_keeps_smtpwatchs_own_defaults() -> None:
    target = parsed("mx.example.com")
    assert (target.effective_port, target.encryption) == (587, "explicit")
    assert parsed("mx.example.com", "--encryption", "implicit").effective_port == 465


def test_the_probe_command_defaults_to_a_10_s_deadline_while_targets_keep_120() -> None:
    assert parsed("mx.example.com").timeout_s == 10
    assert parsed("-H", "mx.example.com", "-t", "3").timeout_s == 3
    assert parsed("mx.example.com", "--timeout", "45").timeout_s == 45
    assert Target(target_id="t", host="mx.example.com").timeout_s == 120


def test_check_smtps_dash_q_is_accepted_and_changes_nothing() -> None:
    assert parsed("-H", "mx.example.com", "-q") == parsed("-H", "mx.example.com")


def test_long_options_still_override_dash_h_defaults() -> None:
    target = parsed("-H", "mx.example.com", "--encryption", "implicit", "-w", "2.5")
    assert (target.effective_port, target.encryption, target.warn_ms) == (465, "implicit", 2500)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-H", "a.example", "b.example"], "-H: the host is given twice"),
        ([], "the host is missing"),
        (["-H", "mx.example.com:25"], "-H: 'mx.example.com:25' names a port"),
        (["-H", "mx.example.com", "-w", "0:1"], "-w: '0:1' is not a number of seconds"),
        (["-H", "mx.example.com", "-c", "@1:2"], "-c: '@1:2' is not a number of seconds"),
        (["-H", "mx.example.com", "-w", "0"], "-w: seconds must be more than 0"),
        (["-H", "mx.example.com", "-c", "301"], "-c: seconds must be more than 0 and at most 300"),
        (["-H", "mx.example.com", "-w", "1", "--warn-ms", "500"], "-w: give either"),
        (["-H", "mx.example.com", "-D", "30,x"], "-D: '30,x' is not WARN[,CRIT]"),
        (["-H", "mx.example.com", "-D", "30,7,1"], "is not WARN[,CRIT]"),
        (["-H", "mx.example.com", "-D", "30", "--cert-warn-days", "9"], "-D: give either"),
        (["-H", "mx.example.com", "-D", "30", "--encryption", "none"], "-D: a certificate needs"),
        (["-H", "mx.example.com", "-S", "--encryption", "implicit"], "-S: STARTTLS is"),
        (["-H", "mx.example.com", "-t", "0"], "-t/--timeout:"),
    ],
)
def test_a_bad_check_smtp_option_is_one_usage_line_exit_3(argv: list[str], message: str) -> None:
    proc = smtpwatch(*argv)
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr


def test_an_empty_expected_greeting_is_refused() -> None:
    proc = smtpwatch("-H", "mx.example.com", "-e", "")
    assert proc.returncode == 3
    assert "-e: give 1 to 1000 characters" in proc.stderr


def test_usage_errors_raise_before_any_connection() -> None:
    with pytest.raises(UsageError, match="-S: STARTTLS is --encryption explicit"):
        parsed("-H", "mx.example.com", "-S", "--encryption", "auto")


# ------------------------------------------------------------------ against servers


def test_dash_h_dash_p_probes_a_plain_server_ok(smtp_server: StartServer) -> None:
    server = smtp_server()
    proc = smtpwatch("-H", "127.0.0.1", "-p", str(server.port), "--json")
    doc = as_json(proc)
    assert proc.returncode == 0
    assert (doc["status"], doc["encryption"], doc["tls"]) == ("ok", "none", None)


def test_over_dash_w_is_a_slow_warning_with_seconds_in_the_perfdata(
    hostile: StartHostile,
) -> None:
    server = hostile(HostileServer.delayed(0.8))
    proc = smtpwatch("-H", "127.0.0.1", "-p", str(server.port), "-w", "0.3", "-c", "30")
    assert proc.returncode == 1
    assert "SMTP WARNING" in proc.stdout and "slow: probe took" in proc.stdout
    assert perf(proc.stdout, "time").endswith("s;0.300000;30.000000;0")


def test_over_dash_c_is_a_critical_slow_error_that_replaces_the_warning(
    hostile: StartHostile,
) -> None:
    server = hostile(HostileServer.delayed(0.8))
    proc = smtpwatch("-H", "127.0.0.1", "-p", str(server.port), "-w", "0.1", "-c", "0.3", "--json")
    doc = as_json(proc)
    assert proc.returncode == 2
    assert doc["status"] == "critical"
    assert doc["error"]["kind"] == "slow" and doc["error"]["phase"] is None
    assert "critical over 0.3 s" in doc["error"]["message"]
    assert [w["kind"] for w in doc["warnings"]] == []
    # The dialogue itself went through: every phase up to QUIT passed.
    assert doc["phases"]["ehlo"]["ok"] is True


def test_a_failed_dialogue_wins_over_the_critical_time(hostile: StartHostile) -> None:
    server = hostile(HostileServer.greeting(b"554 5.3.2 no service\r\n"))
    proc = smtpwatch("-H", "127.0.0.1", "-p", str(server.port), "-c", "0.000001", "--json")
    assert as_json(proc)["error"]["kind"] == "banner"


def test_dash_e_missing_from_the_greeting_is_a_banner_mismatch_warning(
    smtp_server: StartServer,
) -> None:
    server = smtp_server()
    proc = smtpwatch("-H", "127.0.0.1", "-p", str(server.port), "-e", "Postfix")
    assert proc.returncode == 1
    assert "banner_mismatch: greeting does not contain 'Postfix'" in proc.stdout.splitlines()[0]


def test_dash_e_matches_the_reply_code_and_every_line_of_the_greeting(
    hostile: StartHostile,
) -> None:
    server = hostile(
        HostileServer.scripted(greeting=b"220-mx1.example.test first line\r\n220 ESMTP ready\r\n")
    )
    for expect in ("220-mx1.example.test", "220 ESMTP ready", "220"):
        proc = smtpwatch("-H", "127.0.0.1", "-p", str(server.port), "-e", expect, "--json")
        doc = as_json(proc)
        assert [w["kind"] for w in doc["warnings"]] == [], expect
    # Compared case-sensitively, as check_smtp compares.
    proc = smtpwatch("-H", "127.0.0.1", "-p", str(server.port), "-e", "esmtp", "--json")
    assert [w["kind"] for w in as_json(proc)["warnings"]] == ["banner_mismatch"]


def test_dash_d_warns_with_warn_days_or_fewer_left(
    smtp_server: StartServer, certs: Certificates, ca_file: str
) -> None:
    server = smtp_server(cert=certs.expiring(20.5), starttls=True)
    proc = smtpwatch(*tls_args(server.port, ca_file), "-D", "20,7")
    assert proc.returncode == 1
    assert "cert_expiring: certificate expires in 20 days" in proc.stdout
    assert perf(proc.stdout, "cert_days") == "cert_days=20;21:;8:"


def test_dash_d_critical_is_a_cert_expiring_error_in_tls(
    smtp_server: StartServer, certs: Certificates, ca_file: str
) -> None:
    server = smtp_server(cert=certs.expiring(5.5), starttls=True)
    proc = smtpwatch(*tls_args(server.port, ca_file), "-D", "30,7", "--json")
    doc = as_json(proc)
    assert proc.returncode == 2
    assert (doc["error"]["kind"], doc["error"]["phase"]) == ("cert_expiring", "tls")
    assert "expires in 5 days" in doc["error"]["message"]
    assert "critical at 7 days or fewer" in doc["error"]["message"]
    assert doc["warnings"] == []
    # Unlike check_smtp's -D, the dialogue went on after the certificate.
    assert doc["phases"]["ehlo_tls"]["ok"] is True


def test_dash_d_without_crit_makes_the_last_24_hours_critical(
    smtp_server: StartServer, certs: Certificates, ca_file: str
) -> None:
    server = smtp_server(cert=certs.expiring(0.5), starttls=True)
    proc = smtpwatch(*tls_args(server.port, ca_file), "-D", "30")
    assert proc.returncode == 2
    assert "tls cert_expiring: certificate expires within 24 hours" in proc.stdout


def test_a_failed_login_wins_over_cert_expiring_which_stays_a_warning(
    smtp_server: StartServer, certs: Certificates, ca_file: str
) -> None:
    server = smtp_server(cert=certs.expiring(3.5), starttls=True, credentials={"u": "right"})
    proc = smtpwatch(
        *tls_args(server.port, ca_file),
        "-D",
        "30,7",
        "--user",
        "u",
        "--password-env",
        PASSWORD_VAR,
        "--json",
        password="wrong-password",
    )
    doc = as_json(proc)
    assert proc.returncode == 2
    assert doc["error"]["kind"] == "auth_failed"
    assert [w["kind"] for w in doc["warnings"]] == ["cert_expiring"]


def test_the_new_kinds_leave_a_passing_probe_ok(
    smtp_server: StartServer, certs: Certificates, ca_file: str
) -> None:
    server = smtp_server(cert=certs.valid(), starttls=True)
    proc = smtpwatch(
        *tls_args(server.port, ca_file), "-S", "-D", "30,7", "-c", "30", "-e", "220", "--json"
    )
    doc = as_json(proc)
    assert proc.returncode == 0
    assert (doc["status"], doc["error"], doc["warnings"]) == ("ok", None, [])
