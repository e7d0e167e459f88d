"""`smtpwatch targets …` end to end on a temporary SQLite store, as subprocesses.

Each subcommand is run the way a user runs it (``python -m smtpwatch targets … --db
PATH``); its output, exit code and what ends up in the store are checked. Bad input is
a table of cases: one line naming the field (unknown ones with a suggestion), exit 3,
nothing written.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from targets_helpers import Cli, make_cli

from smtpwatch.core.state import TargetState, TargetStatus
from smtpwatch.local.secrets import FileSecretStore, LocalSecretResolver
from smtpwatch.local.sqlite_store import SqliteStore

PASSWORD = "pw-Zq8#sEcret-7731"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def stored(cli: Cli) -> dict[str, dict[str, object]]:
    """Every item in the store, by id (read directly, not through the CLI)."""
    if not cli.db.exists():
        return {}
    with SqliteStore(cli.db) as store:
        return {str(i["target_id"]): i for i in store.iter_items()}


def test_add_stores_the_minimal_item_and_show_prints_it(cli: Cli) -> None:
    # GIVEN an empty store WHEN a target is added with a few options
    added = cli("add", "mx1", "mx1.example.com", "--tag", "env=prod", "--interval-s", "600")
    # THEN it is stored with only the non-default fields
    assert added.returncode == 0, added.stderr
    assert "added mx1 (mx1.example.com:587)" in added.stdout
    assert stored(cli)["mx1"] == {
        "target_id": "mx1",
        "host": "mx1.example.com",
        "interval_s": 600,
        "tags": {"env": "prod"},
    }
    shown = cli("show", "mx1", "--json")
    assert shown.returncode == 0
    assert json.loads(shown.stdout) == stored(cli)["mx1"]
    human = cli("show", "mx1")
    assert "mx1.example.com:587" in human.stdout
    assert "interval_s" in human.stdout and "600" in human.stdout
    assert "587 (by encryption)" in human.stdout


def test_add_takes_every_kind_of_field_option(cli: Cli, tmp_path: Path) -> None:
    result = cli(
        "add", "mx2", "[2001:db8::25]:2525",
        "--name", "Backup MX", "--encryption", "implicit", "--timeout-s", "7.5",
        "--no-tls-verify", "--auth-methods", "plain,cram_md5", "--dns-mode", "external",
        "--nameserver", "192.0.2.53", "--nameserver", "[2001:db8::53]:5353",
        "--dns-host", "192.0.2.10 mx2.example.com", "--ip-family", "ipv6",
        "--cert-warn-days", "30", "--warn-ms", "2000", "--ehlo-name", "probe.example.net",
        "--failures-before-alert", "3", "--recheck-delay-s", "0", "--no-notify-recovery",
        "--remind-every-s", "3600", "--tag", "team=mail", "--tag", "site=fra",
        "--maintenance", '{"days": "sun", "start": "02:00", "end": "04:00", "tz": "UTC"}',
        "--set", "enabled=no",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    item = stored(cli)["mx2"]
    assert item["host"] == "2001:db8::25" and item["port"] == 2525
    assert item["timeout_s"] == 7.5
    assert item["tls_verify"] is False and item["enabled"] is False
    assert item["auth_methods"] == ["PLAIN", "CRAM-MD5"]
    assert item["nameservers"] == ["192.0.2.53", "[2001:db8::53]:5353"]
    assert item["dns_hosts"] == ["192.0.2.10 mx2.example.com"]
    assert item["tags"] == {"team": "mail", "site": "fra"}
    assert item["notify_recovery"] is False and item["failures_before_alert"] == 3
    assert item["maintenance"] and item["remind_every_s"] == 3600


def test_add_refuses_an_existing_id_and_suggests_update(cli: Cli) -> None:
    assert cli("add", "mx1", "mx1.example.com").returncode == 0
    again = cli("add", "mx1", "other.example.com")
    assert again.returncode == 3
    assert "already exists" in again.stderr and "targets update mx1" in again.stderr
    assert stored(cli)["mx1"]["host"] == "mx1.example.com"  # untouched


def test_list_prints_a_readable_table(cli: Cli) -> None:
    cli("add", "b-mx", "mx2.example.com:465", "--encryption", "implicit", "--tag", "env=dev")
    cli("add", "a-mx", "192.0.2.7", "--interval-s", "90")
    cli("disable", "b-mx")
    listed = cli("list")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "HOST:PORT", "ENCRYPTION", "INTERVAL", "ENABLED", "TAGS"]
    assert lines[1].split() == ["a-mx", "192.0.2.7:587", "explicit", "90s", "yes", "-"]
    assert lines[2].split() == ["b-mx", "mx2.example.com:465", "implicit", "5m", "no", "env=dev"]
    as_json = json.loads(cli("list", "--json").stdout)
    assert [t["target_id"] for t in as_json] == ["a-mx", "b-mx"]


def test_list_of_an_empty_store_says_how_to_add(cli: Cli) -> None:
    listed = cli("list")
    assert listed.returncode == 0 and "no targets" in listed.stdout


def test_update_sets_and_unsets_fields(cli: Cli) -> None:
    cli("add", "mx1", "mx1.example.com", "--timeout-s", "30", "--tag", "a=1", "--tag", "b=2")
    result = cli(
        "update", "mx1", "--set", "port=2525", "--unset", "timeout_s", "--tag", "a=", "--tag", "c=3"
    )
    assert result.returncode == 0, result.stderr
    item = stored(cli)["mx1"]
    assert item["port"] == 2525
    assert "timeout_s" not in item  # back to the default
    assert item["tags"] == {"b": "2", "c": "3"}
    moved = cli("update", "mx1", "--host", "mx9.example.com:26")
    assert moved.returncode == 0
    assert stored(cli)["mx1"]["host"] == "mx9.example.com" and stored(cli)["mx1"]["port"] == 26


def test_update_of_a_missing_target_is_refused(cli: Cli) -> None:
    result = cli("update", "nope", "--set", "port=25")
    assert result.returncode == 3
    assert "no target 'nope'" in result.stderr and "targets add" in result.stderr


def test_update_without_a_change_is_a_usage_error(cli: Cli) -> None:
    cli("add", "mx1", "mx1.example.com")
    result = cli("update", "mx1")
    assert result.returncode == 3 and "nothing to change" in result.stderr


def test_enable_and_disable_toggle_the_enabled_field(cli: Cli) -> None:
    cli("add", "mx1", "mx1.example.com")
    assert cli("disable", "mx1").stdout.strip() == "mx1 disabled"
    assert stored(cli)["mx1"]["enabled"] is False
    assert "already disabled" in cli("disable", "mx1").stdout
    assert cli("enable", "mx1").stdout.strip() == "mx1 enabled"
    assert "enabled" not in stored(cli)["mx1"]  # the default is not stored
    assert cli("enable", "ghost").returncode == 3


def test_remove_deletes_the_target_with_its_state(cli: Cli) -> None:
    cli("add", "mx1", "mx1.example.com")
    cli("add", "mx2", "mx2.example.com")
    with SqliteStore(cli.db) as store:
        assert store.save_state(TargetState("mx1", status=TargetStatus.DOWN, version=1))
        assert store.save_state(TargetState("mx2", status=TargetStatus.UP, version=1))
    removed = cli("remove", "mx1")
    assert removed.returncode == 0 and "removed mx1" in removed.stdout
    assert list(stored(cli)) == ["mx2"]
    with SqliteStore(cli.db) as store:
        assert store.get_state("mx1") is None  # a re-added mx1 starts as pending
        assert store.get_state("mx2") is not None  # others untouched
    again = cli("remove", "mx1")
    assert again.returncode == 3 and "no target 'mx1'" in again.stderr


def test_export_then_import_round_trips(cli: Cli, tmp_path: Path) -> None:
    cli("add", "mx1", "mx1.example.com", "--tag", "env=prod", "--warn-ms", "1500")
    cli("add", "mx2", "[::1]:2525", "--encryption", "none", "--dns-host", "::1 mx2.test")
    cli(
        "add", "mx3", "mx3.example.com", "--maintenance",
        '{"start": "2026-12-24T00:00:00Z", "end": "2026-12-27T00:00:00Z"}',
    )  # fmt: skip
    for fmt in ("yaml", "json"):
        exported = cli("export", "--format", fmt)
        assert exported.returncode == 0
        path = tmp_path / f"targets.{fmt}"
        path.write_text(exported.stdout)
        other = tmp_path / f"other-{fmt}.db"
        imported = cli("import", str(path), db=other)
        assert imported.returncode == 0, imported.stderr
        assert cli("export", "--format", fmt, db=other).stdout == exported.stdout
    assert json.loads(cli("export", "--format", "json").stdout) == list(stored(cli).values())


# ---- bad input: one line naming the field, exit 3, nothing written ---------------------


BAD_ADDS: list[tuple[list[str], list[str]]] = [
    (["--set", "timeout=30"], ["timeout", "did you mean timeout_s?"]),
    (["--set", "intervall_s=600"], ["intervall_s", "did you mean interval_s?"]),
    (["--set", "port=70000"], ["port", "65535"]),
    (["--port", "0"], ["port"]),
    (["--encryption", "tls13"], ["encryption", "explicit, implicit, none, auto"]),
    (["--timeout-s", "900"], ["timeout_s", "1 to 300"]),
    (["--interval-s", "5"], ["interval_s", "10"]),
    (["--login"], ["username", "required when login is true"]),
    (
        ["--encryption", "none", "--login", "--username", "u", "--password-ref", "env:PW"],
        ["allow_plaintext_auth"],
    ),
    (["--auth-methods", "NTLM"], ["auth_methods", "NTLM"]),
    (["--dns-mode", "external"], ["nameservers"]),
    (["--dns-host", "not-an-ip mx.example.com"], ["dns_hosts"]),
    (["--nameserver", "dns.example.com"], ["nameservers"]),
    (
        ["--nameserver", "192.0.2.53", "--dns-mode", "ttl_cached"],
        ["nameservers", "only used with dns_mode external"],
    ),
    (["--ip-family", "ipv5"], ["ip_family"]),
    (["--tag", "env"], ["tags", "KEY=VALUE"]),
    ([f"--tag=k{i}=v" for i in range(7)], ["tags", "at most 6"]),
    (["--tag", "status=up"], ["tags", "reserved"]),
    (["--maintenance", "{bad"], ["maintenance", "JSON"]),
    (["--maintenance", '{"start": "tomorrow"}'], ["maintenance"]),
    (["--set", "tls_verify=maybe"], ["tls_verify", "true or false"]),
    (["--set", "remind_every_s=30"], ["remind_every_s"]),
    (["--set", "host=other.example.com"], ["HOST"]),
    (["--set", "oops"], ["--set", "FIELD=VALUE"]),
    (["--password-env", "SMTPWATCH_TEST_UNSET_VAR"], ["--password-env", "not set"]),
]


@pytest.mark.parametrize(
    ("options", "expected"), BAD_ADDS, ids=[" ".join(c[0])[:40] for c in BAD_ADDS]
)
def test_bad_add_names_the_field_exits_3_and_writes_nothing(
    cli: Cli, options: list[str], expected: list[str]
) -> None:
    result = cli("add", "mx1", "mx1.example.com", *options)
    assert result.returncode == 3
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, result.stderr  # one clear line, no traceback
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in errors[0]
    assert stored(cli) == {}


@pytest.mark.parametrize(
    ("target_id", "host", "expected"),
    [
        ("bad id!", "mx1.example.com", "target_id"),
        ("mx1", "mx1.example.com:abc", "HOST[:PORT]"),
        ("mx1", "mx1.example.com:0", "HOST[:PORT]"),
        ("mx1", "[2001:db8::1", "HOST[:PORT]"),
        ("mx1", "exa mple.com", "HOST[:PORT]"),
    ],
)
def test_bad_id_or_host_names_the_field(cli: Cli, target_id: str, host: str, expected: str) -> None:
    result = cli("add", target_id, host)
    assert result.returncode == 3
    assert f"error: {expected}" in result.stderr
    assert stored(cli) == {}


BAD_UPDATES: list[tuple[list[str], list[str]]] = [
    (["--set", "timeout=30"], ["timeout", "did you mean timeout_s?"]),
    (["--unset", "timeout"], ["timeout", "did you mean timeout_s?"]),
    (["--unset", "host"], ["host", "required"]),
    (["--set", "target_id=mx9"], ["target_id", "cannot change"]),
    (["--interval-s", "1"], ["interval_s"]),
    (["--set", "password_ref=" + PASSWORD], ["password_ref", "reference"]),
]


@pytest.mark.parametrize(
    ("options", "expected"), BAD_UPDATES, ids=[" ".join(c[0])[:30] for c in BAD_UPDATES]
)
def test_bad_update_names_the_field_and_changes_nothing(
    cli: Cli, options: list[str], expected: list[str]
) -> None:
    cli("add", "mx1", "mx1.example.com", "--timeout-s", "30")
    before = stored(cli)
    result = cli("update", "mx1", *options)
    assert result.returncode == 3
    for text in expected:
        assert text in result.stderr
    assert PASSWORD not in result.stderr + result.stdout  # a mistyped password is not echoed
    assert stored(cli) == before


def test_aws_limits_do_not_apply_to_the_local_store(cli: Cli) -> None:
    # 30 s is fine for `smtpwatch run` (≥ 10), though the AWS stack needs ≥ 60.
    assert cli("add", "mx1", "mx1.example.com", "--interval-s", "30").returncode == 0


# ---- passwords -------------------------------------------------------------------------


def _all_output(*results: object) -> str:
    return "".join(getattr(r, "stdout", "") + getattr(r, "stderr", "") for r in results)


def test_password_env_stores_a_user_only_secret_bound_to_the_host(cli: Cli) -> None:
    env = {"MX_PASSWORD": PASSWORD}
    added = cli(
        "add", "mx1", "mx1.example.com", "--username", "alice", "--password-env", "MX_PASSWORD",
        env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    item = stored(cli)["mx1"]
    # The target holds the reference only; login is implied by giving a password.
    assert item["password_ref"] == "file:mx1" and item["login"] is True
    assert PASSWORD not in json.dumps(item)
    secrets_dir = Path(cli.env["SMTPWATCH_SECRETS_DIR"])
    secret = secrets_dir / "mx1"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    assert json.loads(secret.read_text()) == {"password": PASSWORD, "hosts": ["mx1.example.com"]}
    # The local resolver (what `smtpwatch run` uses) sends it to that host only.
    resolver = LocalSecretResolver(files=FileSecretStore(secrets_dir))
    assert resolver.resolve("file:mx1", host="mx1.example.com") == PASSWORD
    with pytest.raises(Exception, match="may only be sent to"):
        resolver.resolve("file:mx1", host="evil.example.net")
    outputs = [added, cli("show", "mx1"), cli("show", "mx1", "--json"), cli("list")]
    outputs += [cli("export"), cli("export", "--format", "json")]
    assert PASSWORD not in _all_output(*outputs)


def test_password_prompt_reads_without_echo_and_never_prints_it(cli: Cli) -> None:
    cli("add", "mx1", "mx1.example.com", "--username", "alice", "--password-ref", "env:OLD")
    updated = cli("update", "mx1", "--password-prompt", stdin=PASSWORD + "\n")
    assert updated.returncode == 0, updated.stderr
    assert stored(cli)["mx1"]["password_ref"] == "file:mx1"
    secret = Path(cli.env["SMTPWATCH_SECRETS_DIR"]) / "mx1"
    assert json.loads(secret.read_text())["password"] == PASSWORD
    assert PASSWORD not in _all_output(updated)


def test_password_with_an_explicit_reference_is_refused(cli: Cli) -> None:
    result = cli(
        "add", "mx1", "mx1.example.com", "--username", "u", "--password-ref", "env:X",
        "--password-env", "PW", env={"PW": PASSWORD},
    )  # fmt: skip
    assert result.returncode == 3 and "either --password-ref or" in result.stderr
    assert not (Path(cli.env["SMTPWATCH_SECRETS_DIR"]) / "mx1").exists()
    assert PASSWORD not in _all_output(result)


def test_invalid_target_with_a_password_stores_no_secret(cli: Cli) -> None:
    # Validation runs before the secret is written: a refused add leaves no secret behind.
    result = cli(
        "add", "mx1", "mx1.example.com", "--password-env", "PW", env={"PW": PASSWORD}
    )  # no --username
    assert result.returncode == 3 and "username" in result.stderr
    assert not (Path(cli.env["SMTPWATCH_SECRETS_DIR"]) / "mx1").exists()


def test_remove_deletes_the_secret_the_cli_created(cli: Cli) -> None:
    cli(
        "add",
        "mx1",
        "mx1.example.com",
        "--username",
        "u",
        "--password-env",
        "PW",
        env={"PW": PASSWORD},
    )
    secret = Path(cli.env["SMTPWATCH_SECRETS_DIR"]) / "mx1"
    assert secret.exists()
    assert cli("remove", "mx1").returncode == 0
    assert not secret.exists()


def test_a_stored_item_with_an_unknown_attribute_is_listed_and_fixable(cli: Cli) -> None:
    # Someone wrote the store directly (as users do with the DynamoDB console).
    with SqliteStore(cli.db) as store:
        store.put_items([{"target_id": "mx1", "host": "mx1.example.com", "timeout": 30}])
    assert "mx1.example.com:587" in cli("list").stdout
    fixed = cli("update", "mx1", "--set", "timeout_s=30")
    assert fixed.returncode == 0, fixed.stderr
    assert "dropped unknown attribute(s) timeout" in fixed.stderr
    assert stored(cli)["mx1"] == {"target_id": "mx1", "host": "mx1.example.com", "timeout_s": 30}


def test_help_lists_every_action(cli: Cli) -> None:
    result = cli("--help", db=Path(os.devnull))
    for action in (
        "add",
        "list",
        "show",
        "update",
        "remove",
        "enable",
        "disable",
        "import",
        "export",
    ):
        assert action in result.stdout


def test_an_invalid_stored_item_can_be_fixed_by_update(cli: Cli) -> None:
    with SqliteStore(cli.db) as store:
        store.put_items([{"target_id": "mx1", "host": "mx1.example.com", "port": "smtp", "tls": 1}])
    listed = cli("list")
    assert "INVALID" in listed.stdout and "port" in listed.stdout
    assert cli("disable", "mx1").returncode == 3  # says to fix it first
    fixed = cli("update", "mx1", "--set", "port=25")
    assert fixed.returncode == 0, fixed.stderr
    assert "dropped unknown attribute(s) tls" in fixed.stderr
    assert stored(cli)["mx1"] == {"target_id": "mx1", "host": "mx1.example.com", "port": 25}


def test_local_commands_do_not_import_the_aws_sdk(cli: Cli) -> None:
    # A laptop user managing local targets pays nothing for boto3 (~150 ms of imports).
    cli("add", "mx1", "mx1.example.com")
    code = (
        "import sys; from smtpwatch.cli.main import main; "
        f"rc = main(['targets', 'list', '--db', {str(cli.db)!r}]); "
        "print('AWS' if {'boto3', 'botocore'} & set(sys.modules) else 'none', rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli.env, timeout=60
    )
    assert done.stdout.splitlines()[-1] == "none 0", done.stderr


def test_add_accepts_ipv4_in_brackets_with_a_port(cli: Cli) -> None:
    # GIVEN a command template [$HOSTADDRESS$]:$PORT$ filled with an IPv4 address
    result = cli("add", "mx4", "[192.0.2.25]:2525")
    # THEN the host is the bare address and the port is kept
    assert result.returncode == 0, result.stderr
    item = stored(cli)["mx4"]
    assert (item["host"], item["port"]) == ("192.0.2.25", 2525)


def test_add_bare_ipv6_takes_the_port_from_the_port_option(cli: Cli) -> None:
    result = cli("add", "mx6", "2001:db8::1", "--port", "25")
    assert result.returncode == 0, result.stderr
    item = stored(cli)["mx6"]
    assert (item["host"], item["port"]) == ("2001:db8::1", 25)


@pytest.mark.parametrize(
    "argv",
    [
        ["add", "mx1", "mx1.example.com:25", "--port", "26"],
        ["add", "mx1", "[::1]:25", "--set", "port=26"],
    ],
)
def test_add_with_two_different_ports_is_refused(cli: Cli, argv: list[str]) -> None:
    result = cli(*argv)
    assert result.returncode == 3
    assert "conflicts with port 25" in result.stderr
    assert stored(cli) == {}


def test_update_with_two_different_ports_is_refused(cli: Cli) -> None:
    assert cli("add", "mx1", "mx1.example.com").returncode == 0
    result = cli("update", "mx1", "--host", "mx2.example.com:25", "--port", "26")
    assert result.returncode == 3
    assert "conflicts with port 25" in result.stderr
    assert stored(cli)["mx1"]["host"] == "mx1.example.com"


def test_nameserver_without_dns_mode_means_external_on_add_and_update(cli: Cli) -> None:
    # GIVEN --nameserver alone on add
    assert cli("add", "mx1", "mx1.example.com", "--nameserver", "192.0.2.53").returncode == 0
    # THEN the target asks that nameserver: dns_mode external
    item = stored(cli)["mx1"]
    assert (item["dns_mode"], item["nameservers"]) == ("external", ["192.0.2.53"])
    # AND on update of a target with the default mode the same holds
    assert cli("add", "mx2", "mx2.example.com").returncode == 0
    assert cli("update", "mx2", "--nameserver", "192.0.2.54").returncode == 0
    assert stored(cli)["mx2"]["dns_mode"] == "external"
    # AND leaving external while nameservers stay is refused, naming the field
    back = cli("update", "mx2", "--dns-mode", "device_cached")
    assert back.returncode == 3
    assert "nameservers: only used with dns_mode external" in back.stderr
