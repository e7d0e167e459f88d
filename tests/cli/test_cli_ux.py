"""What a user meets at the edges of the command line: parser errors, closed pipes,
the small conveniences of `targets`. Each test runs `smtpwatch` as a subprocess on a
temporary store, the way a mail admin types it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from targets_helpers import Cli, make_cli

from smtpwatch.testing.servers import Certificates, SmtpServer


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


SUBCOMMAND_ERRORS = [
    (["targets", "add", "mx1", "mx1.example.com", "--frob"], "smtpwatch targets add: error: "),
    (["targets", "add", "mx1", "mx1.example.com:0"], "smtpwatch targets add: error: "),
    (["targets", "add", "mx1"], "smtpwatch targets add: error: "),
    (["targets", "update", "nope", "--port", "2525"], "smtpwatch targets update: error: "),
    (["targets", "show", "nope", "--json", "extra"], "smtpwatch targets show: error: "),
    (["targets", "frob"], "smtpwatch targets: error: "),
]


@pytest.mark.parametrize(
    ("argv", "prefix"), SUBCOMMAND_ERRORS, ids=[" ".join(a) for a, _ in SUBCOMMAND_ERRORS]
)
def test_errors_of_a_subcommand_name_the_whole_subcommand(
    cli: Cli, argv: list[str], prefix: str
) -> None:
    # GIVEN a bad `targets ACTION` line, refused by the parser or by the command
    proc = smtpwatch(cli, *argv, "--db", str(cli.db))
    # THEN the one error line starts with the full command the user typed
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith(prefix), proc.stderr


PARSER_ERRORS = [
    (["probe"], "HOST[:PORT]"),
    (["probe", "127.0.0.1", "--frob"], "--frob"),
    (["targets", "add", "mx1"], "HOST[:PORT]"),
    (["targets", "add", "mx1", "mx1.example.com", "--encryption"], "--encryption"),
    (["targets", "remove", "mx1", "--yes"], "--yes"),
    (["history"], "TARGET"),
    (["alerts"], "ACTION"),
    (["alerts", "tset"], "'tset'"),
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


def test_add_with_username_and_password_ref_logs_in_without_a_separate_login_flag(
    cli: Cli,
) -> None:
    # GIVEN a user who names the account and where its password is, but not --login
    result = smtpwatch(
        cli, "targets", "add", "sub", "smtp.example.com", "--username", "monitor@example.com",
        "--password-ref", "env:SMTP_PW", "--db", str(cli.db),
    )  # fmt: skip
    # THEN the target logs in (it would otherwise never test AUTH)
    assert result.returncode == 0, result.stderr
    shown = smtpwatch(cli, "targets", "show", "sub", "--json", "--db", str(cli.db))
    item = json.loads(shown.stdout)
    assert item["login"] is True
    assert item["username"] == "monitor@example.com"
    assert item["password_ref"] == "env:SMTP_PW"


def test_add_with_username_but_no_password_says_how_to_give_one(cli: Cli) -> None:
    # GIVEN --username without any password option
    result = smtpwatch(
        cli, "targets", "add", "sub", "smtp.example.com", "--username", "u", "--db", str(cli.db)
    )
    # THEN one line names --username and the ways to give a password; nothing stored
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--username" in lines[0]
    assert "--password-prompt" in lines[0] and "--password-ref" in lines[0]
    listed = smtpwatch(cli, "targets", "list", "--json", "--db", str(cli.db))
    assert json.loads(listed.stdout) == []


def test_explicit_no_login_keeps_a_username_without_logging_in(cli: Cli) -> None:
    result = smtpwatch(
        cli, "targets", "add", "sub", "smtp.example.com", "--username", "u",
        "--password-ref", "env:X", "--no-login", "--db", str(cli.db),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = smtpwatch(cli, "targets", "show", "sub", "--json", "--db", str(cli.db))
    assert json.loads(shown.stdout).get("login", False) is False


def test_add_with_a_bad_port_names_the_host_port_argument(cli: Cli) -> None:
    result = smtpwatch(cli, "targets", "add", "mx1", "mx1.example.com:0", "--db", str(cli.db))
    assert result.returncode == 3
    assert (
        result.stderr.strip()
        == "smtpwatch targets add: error: HOST[:PORT]: 0 is out of range (1-65535)"
    )


PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBzzCCAXWgAwIBAgIULqBAsoOD6nQSZ227kYSvy/U4YZ0wCgYIKoZIzj0EAwIw\n"
    "-----END CERTIFICATE-----\n"
)


def test_export_writes_a_ca_bundle_as_a_readable_yaml_block_that_imports_back(
    cli: Cli, tmp_path: Path
) -> None:
    # GIVEN a target that trusts its own CA
    bundle = tmp_path / "ca.pem"
    bundle.write_text(PEM)
    added = smtpwatch(
        cli, "targets", "add", "mx1", "mx1.example.com", "--ca-bundle", str(bundle),
        "--db", str(cli.db),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    # WHEN it is exported as YAML
    exported = smtpwatch(cli, "targets", "export", "--db", str(cli.db))
    assert exported.returncode == 0, exported.stderr
    # THEN the PEM is a `|` block with its lines as they are in the file
    assert "  ca_bundle: |\n    -----BEGIN CERTIFICATE-----\n    MIIB" in exported.stdout
    # AND importing that file into a new store gives the same target
    other = tmp_path / "other.db"
    (tmp_path / "t.yaml").write_text(exported.stdout)
    imported = smtpwatch(cli, "targets", "import", str(tmp_path / "t.yaml"), "--db", str(other))
    assert imported.returncode == 0, imported.stderr
    shown = smtpwatch(cli, "targets", "show", "mx1", "--json", "--db", str(other))
    assert json.loads(shown.stdout)["ca_bundle"] == PEM


def test_export_json_flag_prints_the_same_items_as_format_json(cli: Cli) -> None:
    added = smtpwatch(cli, "targets", "add", "mx1", "mx1.example.com:25", "--db", str(cli.db))
    assert added.returncode == 0, added.stderr
    by_flag = smtpwatch(cli, "targets", "export", "--json", "--db", str(cli.db))
    by_format = smtpwatch(cli, "targets", "export", "--format", "json", "--db", str(cli.db))
    assert by_flag.returncode == 0, by_flag.stderr
    assert json.loads(by_flag.stdout) == json.loads(by_format.stdout)
    assert json.loads(by_flag.stdout) == [
        {"target_id": "mx1", "host": "mx1.example.com", "port": 25}
    ]


READ_ONLY_COMMANDS = [
    (["status"], 0, "no targets"),
    (["status", "--json"], 0, "[]"),
    (["history", "mx1"], 3, "no target 'mx1'"),
    (["targets", "list"], 0, "no targets"),
    (["targets", "export", "--json"], 0, "[]"),
    (["targets", "show", "mx1"], 3, "no target 'mx1'"),
    (["targets", "remove", "mx1"], 3, "no target 'mx1'"),
]


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    READ_ONLY_COMMANDS,
    ids=[" ".join(a) for a, _, _ in READ_ONLY_COMMANDS],
)
def test_a_command_that_only_reads_creates_no_database_at_a_mistyped_path(
    cli: Cli, tmp_path: Path, argv: list[str], code: int, says: str
) -> None:
    # GIVEN a --db path where nothing exists (a typo, say)
    db = tmp_path / "typo" / "smtpwatch.db"
    # WHEN a command that only reads runs on it
    proc = smtpwatch(cli, *argv, "--db", str(db))
    # THEN it reads as an empty store, naming the path, and leaves nothing behind
    assert proc.returncode == code, proc.stderr
    assert says in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "typo").exists()


def test_add_still_creates_the_database_and_its_directory(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "new" / "smtpwatch.db"
    proc = smtpwatch(cli, "targets", "add", "mx1", "mx1.example.com", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert db.is_file()
    listed = smtpwatch(cli, "status", "--json", "--db", str(db))
    assert [row["target_id"] for row in json.loads(listed.stdout)] == ["mx1"]


def test_two_databases_keep_their_own_passwords_for_the_same_target_id(
    cli: Cli, tmp_path: Path
) -> None:
    from smtpwatch.testing.servers import Certificates, SmtpServer

    certs = Certificates()
    ca = tmp_path / "ca.pem"
    ca.write_text(certs.ca_pem)
    env = {k: v for k, v in cli.env.items() if k != "SMTPWATCH_SECRETS_DIR"}
    db_a, db_b = tmp_path / "a" / "smtpwatch.db", tmp_path / "b" / "smtpwatch.db"

    def run(*args: str, pw: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "smtpwatch", *args],
            capture_output=True,
            text=True,
            env=env | {"MX_PW": pw},
            timeout=120,
        )

    with SmtpServer(cert=certs.valid(), starttls=True, credentials={"u": "pw-of-a"}) as server:
        # GIVEN target "mx" in database A with the right password, and a target with
        # the same id in database B (another --db) with a different password
        for db, pw in ((db_a, "pw-of-a"), (db_b, "pw-of-b")):
            added = run(
                "targets", "add", "mx", f"127.0.0.1:{server.port}", "--ca-bundle", str(ca),
                "--username", "u", "--password-env", "MX_PW", "--db", str(db), pw=pw,
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
        # THEN each password lives beside its own database
        assert (tmp_path / "a" / "secrets" / "mx").is_file()
        assert (tmp_path / "b" / "secrets" / "mx").is_file()
        # AND A still logs in with its own password; B fails with its wrong one
        assert run("run", "--once", "-q", "--db", str(db_a)).returncode == 0
        assert run("run", "--once", "-q", "--db", str(db_b)).returncode == 2
        # WHEN the target is removed from B, A's password stays
        assert run("targets", "remove", "mx", "--db", str(db_b)).returncode == 0
        assert not (tmp_path / "b" / "secrets" / "mx").exists()
        assert run("run", "--once", "-q", "--db", str(db_a)).returncode == 0


def test_history_of_one_check_says_one_check() -> None:
    from datetime import UTC, datetime, timedelta

    from smtpwatch.cli.history_cmd import render_text
    from smtpwatch.cli.history_report import summarize
    from smtpwatch.core.result import ProbeResult, Status

    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    result = ProbeResult(target_id="mx1", started_at="2026-11-25T11:59:00.000Z", status=Status.OK)
    report = summarize("mx1", [result], since=now - timedelta(days=1), until=now)
    text = render_text(report, {"target_id": "mx1", "host": "mx1.example.com"})
    assert "uptime 100.00% over 1 check (1 ok," in text


def test_status_shows_no_error_for_a_healthy_target_and_full_errors_when_piped(
    cli: Cli, certs: Certificates, smtp_server: Callable[..., SmtpServer]
) -> None:
    from smtpwatch.local.sqlite_store import SqliteStore

    # GIVEN a healthy TLS target and a stored item whose error is longer than a cell
    server = smtp_server("127.0.0.1", cert=certs.valid(), starttls=True)
    healthy = {
        "target_id": "good", "host": "127.0.0.1", "port": server.port,
        "ca_bundle": certs.ca_pem, "interval_s": 60,
    }  # fmt: skip
    broken = {"target_id": "broken", "host": "a-rather-long-mail-host-name.example.com:25"}
    with SqliteStore(cli.db) as store:
        store.put_items([healthy, broken])
    assert smtpwatch(cli, "run", "--once", "-q", "--db", str(cli.db)).returncode != 3
    # WHEN status is piped (not a terminal)
    text = smtpwatch(cli, "status", "--db", str(cli.db))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    # THEN the healthy target's last error is "-", not its certificate's days
    good = next(line for line in lines if line.startswith("good"))
    assert " up " in good
    assert good.rstrip().endswith(" -"), good
    assert "days left" not in good
    # AND the long error is printed whole, for grep and for the reader
    bad = next(line for line in lines if line.startswith("broken"))
    assert "…" not in bad
    assert bad.rstrip().endswith("is not a host name; give the port separately"), bad
