"""``smtpwatch probe`` as a user runs it: a subprocess against real loopback servers.

Exit codes follow the monitoring-plugin convention; the first line is the verdict with
Nagios performance data; bad input is one line naming the option, exit 3.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpwatch.testing.servers import (
    DEFAULT_HOSTNAME,
    WRONG_HOSTNAME,
    Certificates,
    HostileServer,
    SmtpServer,
)

PASSWORD = "s3cret-Pa55-never-shown"
PASSWORD_VAR = "SMTPWATCH_TEST_PW"
# One performance-data item: label=value[UOM];[warn];[crit];[min];[max]
PERF_ITEM = re.compile(r"^[a-z_]+=-?[0-9.]+(s|%|B|KB|MB|TB|c)?(;[0-9.:~@-]*){0,4}$")

StartServer = Callable[..., SmtpServer]


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


def hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory, certs: Certificates) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(certs.ca_pem, encoding="ascii")
    return str(path)


def verdict_and_perf(stdout: str) -> tuple[str, list[str]]:
    first = stdout.splitlines()[0]
    text, _, perf = first.partition(" | ")
    return text, perf.split()


# -- verdicts and exit codes ------------------------------------------------------------
def test_explicit_tls_with_login_is_ok_with_exit_0_and_nagios_perfdata(
    ip: str, certs: Certificates, smtp_server: StartServer, ca_file: str
) -> None:
    # GIVEN a STARTTLS server with a trusted certificate and a user
    server = smtp_server(ip, cert=certs.valid(), starttls=True, credentials={"alice": PASSWORD})
    # WHEN probed with a login whose password comes from the environment
    proc = smtpwatch(
        hostport(ip, server.port),
        "--ca-bundle",
        ca_file,
        "--user",
        "alice",
        "--password-env",
        PASSWORD_VAR,
        "--auth-methods",
        "PLAIN",
        "--ehlo-name",
        "probe.smtpwatch.test",
        password=PASSWORD,
    )
    # THEN exit 0, an OK verdict, valid perfdata with a time per phase, and the facts
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text, perf = verdict_and_perf(proc.stdout)
    assert text.startswith(f"SMTP OK - {hostport(ip, server.port)} explicit")
    assert all(PERF_ITEM.match(item) for item in perf), perf
    labels = [item.split("=")[0] for item in perf]
    for label in ("dns", "connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "auth"):
        assert label in labels
    assert "time" in labels and "cert_days" in labels
    assert "auth: PLAIN ok over TLS" in proc.stdout
    assert "verified" in proc.stdout
    assert server.auth_attempts == ["PLAIN"]


def test_password_never_appears_in_any_output(
    certs: Certificates, smtp_server: StartServer, ca_file: str
) -> None:
    server = smtp_server(cert=certs.valid(), starttls=True, credentials={"alice": "other"})
    outputs = []
    for extra in ((), ("--json",)):
        proc = smtpwatch(
            f"127.0.0.1:{server.port}",
            "--ca-bundle",
            ca_file,
            "--user",
            "alice",
            "--password-env",
            PASSWORD_VAR,
            *extra,
            password=PASSWORD,
        )
        # a wrong password: critical, auth_failed
        assert proc.returncode == 2, proc.stdout + proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    assert "auth_failed" in outputs[0].splitlines()[0]
    for out in outputs:
        assert PASSWORD not in out


def test_expired_certificate_is_critical_with_exit_2_and_cert_expired_in_the_verdict(
    ip: str, certs: Certificates, smtp_server: StartServer, ca_file: str
) -> None:
    server = smtp_server(ip, cert=certs.expired(), implicit_tls=True)
    proc = smtpwatch(hostport(ip, server.port), "--encryption", "implicit", "--ca-bundle", ca_file)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    text, _ = verdict_and_perf(proc.stdout)
    assert text.startswith("SMTP CRITICAL - ")
    assert "cert_expired" in text
    # the certificate facts are there although verification failed
    # expired 2 days (+ seconds) ago: the verdict and the facts say 2, like the alert
    assert "certificate expired 2 days ago" in text
    assert re.search(r"not after: \S+ \(expired 2 days ago\)", proc.stdout)
    _, perf = verdict_and_perf(proc.stdout)
    assert any(item.startswith("cert_days=-") for item in perf)


def test_expiring_certificate_is_a_warning_with_exit_1(
    certs: Certificates, smtp_server: StartServer, ca_file: str
) -> None:
    server = smtp_server(cert=certs.expiring(5), starttls=True)
    proc = smtpwatch(f"127.0.0.1:{server.port}", "--ca-bundle", ca_file, "--cert-warn-days", "10")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text, perf = verdict_and_perf(proc.stdout)
    assert text.startswith("SMTP WARNING - ")
    assert "cert_expiring" in text
    assert any(item.startswith("cert_days=") and ";10:;" in item for item in perf)


def test_plain_smtp_without_tls_is_ok(smtp_server: StartServer) -> None:
    server = smtp_server()
    proc = smtpwatch(f"127.0.0.1:{server.port}", "--encryption", "none")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"SMTP OK - 127.0.0.1:{server.port} none")


def test_refused_port_is_critical_naming_the_failure_class(ip: str) -> None:
    from smtpwatch.testing.servers import closed_port

    port = closed_port(ip)
    proc = smtpwatch(hostport(ip, port), "--encryption", "none", "--timeout", "5")
    assert proc.returncode == 2
    assert "connect_refused" in proc.stdout.splitlines()[0]


def test_server_text_cannot_inject_terminal_escapes_or_fake_perfdata(
    hostile: Callable[[HostileServer], HostileServer],
) -> None:
    # GIVEN a server whose 554 greeting carries an escape sequence and a "|"
    server = hostile(HostileServer.greeting(b"554 no \x1b[2J service | fake=1s\r\n"))
    # WHEN probed
    proc = smtpwatch(f"127.0.0.1:{server.port}", "--encryption", "none", "--timeout", "5")
    # THEN the verdict is critical, one line, with no control character and one "|"
    assert proc.returncode == 2, proc.stdout + proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("SMTP CRITICAL - ")
    assert "\x1b" not in proc.stdout
    assert first.count("|") == 1
    assert "fake=1s" not in first.split("|")[1]


def test_probe_command_loads_neither_aws_sdk_nor_dnspython_for_a_mapped_name(
    smtp_server: StartServer,
) -> None:
    # A Nagios check starts a process per run: only what the command needs is imported.
    server = smtp_server()
    args = [f"{DEFAULT_HOSTNAME}:{server.port}", "--dns-host", f"127.0.0.1 {DEFAULT_HOSTNAME}"]
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "smtpwatch",
            "probe",
            *args,
            "--encryption",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    for heavy in ("boto3", "botocore", "aws_lambda_powertools", "dns", "json", "sqlite3"):
        assert heavy not in imported


# -- DNS options ------------------------------------------------------------------------
@pytest.mark.parametrize("family_flag", ["-4", "-6"])
def test_dns_host_maps_the_name_and_tls_is_checked_against_the_name(
    family_flag: str, certs: Certificates, smtp_server: StartServer, ca_file: str
) -> None:
    ip = "127.0.0.1" if family_flag == "-4" else "::1"
    server = smtp_server(ip, cert=certs.valid(), starttls=True)
    # GIVEN the certificate's name mapped to the loopback address
    proc = smtpwatch(
        f"{DEFAULT_HOSTNAME}:{server.port}",
        "--dns-host",
        f"{ip} {DEFAULT_HOSTNAME}",
        family_flag,
        "--ca-bundle",
        ca_file,
        "--json",
    )
    # THEN it connects there and the certificate verifies for that name
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["address"]["ip"] == ip
    assert doc["address"]["source"] == "dns_hosts"
    assert doc["tls"]["verified"] is True


def test_dns_host_with_a_name_the_certificate_lacks_is_a_hostname_failure(
    certs: Certificates, smtp_server: StartServer, ca_file: str
) -> None:
    # GIVEN a name mapped to a server whose certificate does not carry that name
    server = smtp_server(cert=certs.valid(), starttls=True)
    proc = smtpwatch(
        f"{WRONG_HOSTNAME}:{server.port}",
        "--dns-host",
        f"127.0.0.1 {WRONG_HOSTNAME}",
        "--ca-bundle",
        ca_file,
    )
    # THEN the TLS check used the name, not the address: cert_hostname
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cert_hostname" in proc.stdout.splitlines()[0]


def test_json_output_is_the_result_document(smtp_server: StartServer) -> None:
    server = smtp_server("::1")
    proc = smtpwatch(f"[::1]:{server.port}", "--encryption", "none", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema_version"] >= 1
    assert doc["status"] == "ok"
    assert doc["host"] == "::1"
    assert doc["port"] == server.port
    assert doc["address"]["source"] == "literal"
    assert set(doc["phases"]) >= {"dns", "connect", "banner", "ehlo", "quit"}


# -- bad usage ------------------------------------------------------------------------
BAD_INPUTS = [
    (["mx.example.com:99999"], "HOST[:PORT]"),
    (["[::1"], "HOST[:PORT]"),
    (["mx.example.com:25:25"], "HOST[:PORT]"),
    (["mx.example.com", "--encryption", "tls1"], "--encryption"),
    (["mx.example.com", "--timeout", "0"], "--timeout"),
    (["mx.example.com", "--timeout", "soon"], "--timeout"),
    (["mx.example.com", "--dns-mode", "cached"], "--dns-mode"),
    (["mx.example.com", "--dns-host", "300.1.1.1 mx.example.com"], "--dns-host"),
    (["mx.example.com", "--dns-host", "127.0.0.1"], "--dns-host"),
    (["[::1]:25", "--port", "2525"], "--port"),
    (["mx.example.com", "--port", "0"], "--port"),
    (["[mx.example.com]:25"], "HOST[:PORT]"),
    (["mx.example.com", "--nameserver", "ns.example.com"], "--nameserver"),
    (
        ["mx.example.com", "--nameserver", "192.0.2.53", "--dns-mode", "non_cached"],
        "--nameserver: only used with dns_mode external",
    ),
    (["mx.example.com", "--dns-mode", "external"], "--nameserver"),
    (["::1", "-4"], "-4/-6"),
    (["mx.example.com", "--cert-warn-days=-1"], "--cert-warn-days"),
    # A negative value after a space reaches the model too (-4/-6 exist as options).
    (["mx.example.com", "--cert-warn-days", "-1"], "--cert-warn-days: -1 is out of range"),
    (["mx.example.com", "--warn-ms", "-5", "-4"], "--warn-ms: -5 is out of range"),
    (["mx.example.com", "--timeout", "-5"], "--timeout: -5"),
    (["mx.example.com", "--warn-ms", "fast"], "--warn-ms"),
    (["mx.example.com", "--auth-methods", "NTLM"], "--auth-methods"),
    (["mx.example.com", "--ehlo-name", "bad name!"], "--ehlo-name"),
    (["mx.example.com", "--ca-bundle", "/nonexistent/ca.pem"], "--ca-bundle"),
    (["mx.example.com", "--user", "alice"], "--password-env"),
    (["mx.example.com", "--password-env", PASSWORD_VAR], "--user"),
    (["mx.example.com", "--user", "alice", "--password-env", "NOT A VAR"], "--password-env"),
    (
        ["mx.example.com", "--user", "alice", "--password-env", "SMTPWATCH_UNSET_VAR"],
        "SMTPWATCH_UNSET_VAR",
    ),
    (
        ["mx.example.com", "--encryption", "none", "--user", "a", "--password-env", PASSWORD_VAR],
        "--allow-plaintext-auth",
    ),
]


@pytest.mark.parametrize(("argv", "option"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_naming_the_option_with_exit_3(argv: list[str], option: str) -> None:
    proc = smtpwatch(*argv, password="x")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("smtpwatch probe: error: ")
    assert option in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_conflicting_family_flags_are_refused_by_the_parser_with_exit_3() -> None:
    proc = smtpwatch("mx.example.com", "-4", "-6")
    assert proc.returncode == 3
    assert "not allowed with argument" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ca_bundle_that_is_not_text_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.der"
    bundle.write_bytes(b"\x30\x82\xff\xfe")
    proc = smtpwatch("mx.example.com", "--ca-bundle", str(bundle))
    assert proc.returncode == 3
    assert "--ca-bundle" in proc.stderr


@pytest.mark.parametrize(
    ("argv", "host", "port"),
    [(["[fe80::1%eth0]:25"], "fe80::1%eth0", 25), (["fe80::1%eth0"], "fe80::1%eth0", None)],
)
def test_scoped_ipv6_literal_is_accepted_as_the_host(
    argv: list[str], host: str, port: int | None
) -> None:
    # GIVEN a link-local address with its zone (valid for a target's host)
    import argparse

    from smtpwatch.cli import probe_cmd
    from smtpwatch.cli.probe_target import build_target

    parser = argparse.ArgumentParser()
    probe_cmd.add_arguments(parser)
    # WHEN the command builds its target (nothing is probed here: not loopback)
    target, password = build_target(parser.parse_args(argv), {})
    # THEN the host keeps its zone and the derived target id is a valid one
    assert (target.host, target.port, password) == (host, port, None)
    assert "%" not in target.target_id


def test_bare_ipv6_address_with_port_option_probes_that_port(smtp_server: StartServer) -> None:
    # GIVEN a server on ::1 and its port (a bare IPv6 address cannot carry a port)
    server = smtp_server("::1")
    # WHEN the address is given bare and the port with --port
    proc = smtpwatch("::1", "--port", str(server.port), "--encryption", "none")
    # THEN that port is probed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"SMTP OK - [::1]:{server.port} none")


def test_same_port_in_host_and_port_option_is_accepted(smtp_server: StartServer) -> None:
    server = smtp_server()
    proc = smtpwatch(f"127.0.0.1:{server.port}", "--port", str(server.port), "--encryption", "none")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _built(argv: list[str]) -> tuple[str, int | None]:
    import argparse

    from smtpwatch.cli import probe_cmd
    from smtpwatch.cli.probe_target import build_target

    parser = argparse.ArgumentParser()
    probe_cmd.add_arguments(parser)
    target, _ = build_target(parser.parse_args(argv), {})
    return target.host, target.port


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # A Nagios command [$HOSTADDRESS$]:$ARG1$ filled with either family.
        (["[192.0.2.25]:25"], ("192.0.2.25", 25)),
        (["[2001:db8::25]:25"], ("2001:db8::25", 25)),
        # Without brackets every group belongs to the address: no port is guessed.
        (["2001:db8::1:25"], ("2001:db8::1:25", None)),
        (["2001:db8::1", "--port", "25"], ("2001:db8::1", 25)),
    ],
)
def test_host_port_forms_give_the_host_and_port(
    argv: list[str], expected: tuple[str, int | None]
) -> None:
    assert _built(argv) == expected


def test_nameserver_without_dns_mode_means_external() -> None:
    import argparse

    from smtpwatch.cli import probe_cmd
    from smtpwatch.cli.probe_target import build_target

    parser = argparse.ArgumentParser()
    probe_cmd.add_arguments(parser)
    args = parser.parse_args(["mx.example.com", "--nameserver", "[::1]:5353"])
    target, _ = build_target(args, {})
    assert target.dns_mode == "external"
    assert [(ns.ip, ns.port) for ns in target.nameservers] == [("::1", 5353)]


def test_the_probes_field_tables_agree_with_its_parser_and_the_target_model() -> None:
    # GIVEN the probe's parser, the options it passes to Target fields as given, and
    # the options its usage errors name for each field
    import argparse

    from smtpwatch.cli import probe_cmd
    from smtpwatch.cli.probe_target import FIELD_OF_DEST, OPTION_OF_FIELD
    from smtpwatch.core.target import TARGET_FIELDS

    parser = argparse.ArgumentParser()
    probe_cmd.add_arguments(parser)
    dests = {action.dest for action in parser._actions}
    options = {option for action in parser._actions for option in action.option_strings}
    # THEN every option read is the parser's, every field is Target's, and every option
    # a usage error names exists (the positional is named by its metavar)
    assert set(FIELD_OF_DEST) <= dests
    assert set(FIELD_OF_DEST.values()) | set(OPTION_OF_FIELD) <= set(TARGET_FIELDS)
    named = {part for option in OPTION_OF_FIELD.values() for part in option.split("/")}
    assert named - {"HOST[:PORT]"} <= options
