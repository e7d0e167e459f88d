"""One vocabulary across the commands: an old spelling gives what its canonical name
gives, `targets` takes probe's short options, and the vocabulary page lists every alias.
`--json` on the commands that change targets and on import: JSON on stdout only, with
the documented keys; an error under --json is a JSON document too."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from targets_helpers import Cli, make_cli

from smtpwatch.cli.main import COMMANDS, _Parser
from smtpwatch.cli.vocabulary import ALIASES

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cli-vocabulary.md"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def stored(cli: Cli, target_id: str, db: Path) -> dict[str, object]:
    done = cli("show", target_id, "--json", db=db)
    assert done.returncode == 0, done.stderr
    item = json.loads(done.stdout)
    assert isinstance(item, dict)
    return item


# ---- an alias gives what its canonical name gives ---------------------------------

SAME_TARGET = [
    (["--timeout", "30"], ["--timeout-s", "30"], {"timeout_s": 30}),
    (["-t", "30"], ["--timeout-s", "30"], {"timeout_s": 30}),
    (["--interval", "600"], ["--interval-s", "600"], {"interval_s": 600}),
    (["--recheck-delay", "0"], ["--recheck-delay-s", "0"], {"recheck_delay_s": 0}),
    (["--remind-every", "3600"], ["--remind-every-s", "3600"], {"remind_every_s": 3600}),
    (["--ip-family", "ipv4"], ["-4"], {"ip_family": "ipv4"}),
    (["--ip-family", "ipv6"], ["-6"], {"ip_family": "ipv6"}),
    (["--port", "2525"], ["-p", "2525"], {"port": 2525}),
]


@pytest.mark.parametrize(
    ("canonical", "alias", "fields"), SAME_TARGET, ids=[" ".join(a) for _, a, _ in SAME_TARGET]
)
def test_targets_add_stores_the_same_target_whichever_spelling(
    cli: Cli, tmp_path: Path, canonical: list[str], alias: list[str], fields: dict[str, object]
) -> None:
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    assert cli("add", "mx1", "mx1.example.com", *canonical, db=one).returncode == 0
    assert cli("add", "mx1", "mx1.example.com", *alias, db=two).returncode == 0
    first, second = stored(cli, "mx1", one), stored(cli, "mx1", two)
    assert first == second
    assert fields.items() <= first.items()


def test_targets_update_takes_the_aliases_too(cli: Cli) -> None:
    assert cli("add", "mx1", "mx1.example.com").returncode == 0
    done = cli("update", "mx1", "--timeout-s", "45", "--user", "alice", "--use-ipv4")
    assert done.returncode == 0, done.stderr
    item = stored(cli, "mx1", cli.db)
    assert (item["timeout_s"], item["username"], item["ip_family"]) == (45, "alice", "ipv4")


def test_a_family_given_twice_is_refused_naming_both(cli: Cli) -> None:
    done = cli("add", "mx1", "mx1.example.com", "-4", "--ip-family", "ipv6")
    assert done.returncode == 3
    assert "not allowed with argument" in done.stderr and "-4" in done.stderr


def test_a_negative_number_still_reaches_the_model_with_its_option_named(cli: Cli) -> None:
    # -4/-6 exist as options: argparse must not take "-5" for one.
    done = cli("add", "mx1", "mx1.example.com", "--cert-warn-days", "-5")
    assert done.returncode == 3
    assert "cert_warn_days" in done.stderr or "--cert-warn-days" in done.stderr
    assert "expected one argument" not in done.stderr


def _parsers() -> list[argparse.ArgumentParser]:
    """Every command's parser and every `targets` action's, built as smtpwatch does."""
    out: list[argparse.ArgumentParser] = []
    for name, (module_name, help_text) in COMMANDS.items():
        module = __import__(module_name, fromlist=["add_arguments"])
        parser = _Parser(prog=f"smtpwatch {name}", description=help_text)
        module.add_arguments(parser)
        out.append(parser)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                out.extend(action.choices.values())
    return out


def test_every_alias_stands_beside_its_canonical_name_wherever_it_is_accepted() -> None:
    seen: set[str] = set()
    for parser in _parsers():
        by_flag = {f: a for a in parser._actions for f in a.option_strings}
        for alias, canonical in ALIASES.items():
            flag, *value = canonical.split()
            # An alias is accepted wherever its canonical name is, and only there.
            assert (alias in by_flag) == (flag in by_flag), (parser.prog, alias)
            if alias not in by_flag:
                continue
            seen.add(alias)
            a, c = by_flag[alias], by_flag[flag]
            # The same destination; a value alias is the same action, a flag alias
            # stores what the canonical option stores with that value.
            assert a.dest == c.dest, (parser.prog, alias)
            if value:
                assert getattr(a, "const", None) == value[0], (parser.prog, alias)
            else:
                assert a is c or getattr(a, "const", None) == getattr(c, "const", None)
    assert seen == set(ALIASES)


def test_probe_takes_username_and_ip_family_as_targets_do() -> None:
    (probe,) = [p for p in _parsers() if p.prog == "smtpwatch probe"]
    ns1 = probe.parse_args(["mx1", "--username", "a", "--ip-family", "ipv4"])
    ns2 = probe.parse_args(["mx1", "--user", "a", "-4"])
    ns3 = probe.parse_args(["mx1", "--user", "a", "--use-ipv4"])
    assert vars(ns1) == vars(ns2) == vars(ns3)
    assert (ns1.user, ns1.ip_family) == ("a", "ipv4")


def test_the_vocabulary_page_lists_every_alias_and_is_in_the_nav() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for alias, canonical in ALIASES.items():
        assert re.search(rf"`{re.escape(canonical)}[^`]*`.*`{re.escape(alias)}", page), alias
    assert "cli-vocabulary.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


# ---- --json on the commands that change targets ----------------------------------


def test_add_update_disable_enable_remove_print_json_documents(cli: Cli) -> None:
    steps = [
        (("add", "mx1", "mx1.example.com", "-t", "30"), "added", True),
        (("update", "mx1", "--interval", "600"), "updated", True),
        (("disable", "mx1"), "disabled", True),
        (("disable", "mx1"), "disabled", False),
        (("enable", "mx1"), "enabled", True),
    ]
    for argv, action, changed in steps:
        done = cli(*argv, "--json")
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert set(doc) == {"action", "target_id", "changed", "store", "target"}
        assert (doc["action"], doc["target_id"], doc["changed"]) == (action, "mx1", changed)
        assert doc["store"] == f"SQLite {cli.db}"
        assert doc["target"] == stored(cli, "mx1", cli.db)
    done = cli("remove", "mx1", "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout) == {
        "action": "removed", "target_id": "mx1", "changed": True, "store": f"SQLite {cli.db}",
    }  # fmt: skip


def test_update_notes_stay_on_stderr_under_json(cli: Cli) -> None:
    env = {"SMTPWATCH_TEST_PW": "secret"}
    assert cli("add", "mx1", "mx1.example.com", "--username", "u", "--password-env",
               "SMTPWATCH_TEST_PW", env=env).returncode == 0  # fmt: skip
    done = cli("update", "mx1", "--host", "mx2.example.com", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["target"]["host"] == "mx2.example.com"
    assert "note: the password of mx1 may be bound to mx1.example.com" in done.stderr


def test_import_json_prints_the_report_and_format_still_names_the_input(
    cli: Cli, tmp_path: Path
) -> None:
    source = tmp_path / "targets.txt"  # no telling extension: --format says JSON
    source.write_text(json.dumps([{"target_id": f"mx{i}", "host": f"mx{i}.example.com"}
                                  for i in range(3)]), encoding="utf-8")  # fmt: skip
    done = cli("import", str(source), "--format", "json", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "file": str(source), "store": f"SQLite {cli.db}",
        "total": 3, "new": 3, "replaced": 0, "unchanged": 0,
    }  # fmt: skip
    again = json.loads(cli("import", str(source), "--format", "json", "--json").stdout)
    assert (again["new"], again["unchanged"]) == (0, 3)
    # The progress line goes to stderr, never into the JSON.
    assert "import: 3/3 processed" in done.stderr


# ---- errors under --json -----------------------------------------------------------


def error_doc(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    doc = json.loads(lines[0])
    assert set(doc) == {"error"}
    assert isinstance(doc["error"], dict)
    return doc["error"]


def test_an_error_under_json_is_a_json_document_and_the_line_on_stderr(cli: Cli) -> None:
    done = cli("remove", "nosuch", "--json")
    assert done.returncode == 3
    err = error_doc(done)
    assert err["command"] == "smtpwatch targets remove"
    assert err["exit_code"] == 3
    assert "nosuch" in str(err["message"])
    assert done.stderr.startswith(f"smtpwatch targets remove: error: {err['message']}")


def test_a_parser_error_under_json_is_json_too(cli: Cli) -> None:
    done = cli("add", "mx1", "--json")  # HOST[:PORT] missing
    assert done.returncode == 3
    err = error_doc(done)
    assert err["exit_code"] == 3 and "HOST[:PORT]" in str(err["message"])


def test_import_errors_under_json_list_each_problem(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "t.yaml"
    source.write_text("- {target_id: a, host: a.example.com}\n"
                      "- {target_id: b, host: b.example.com, port: 99999}\n", "utf-8")  # fmt: skip
    done = cli("import", str(source), "--json")
    assert done.returncode == 3
    err = error_doc(done)
    assert "nothing imported" in str(err["message"])
    (detail,) = err["details"]
    assert "item 2 (b): port" in detail
    assert detail in done.stderr


def test_without_json_an_error_prints_nothing_on_stdout(cli: Cli) -> None:
    done = cli("remove", "nosuch")
    assert (done.returncode, done.stdout) == (3, "")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "--json"],  # the host is missing: found by the command
        ["probe", "mx.example.com", "--json", "--timeout", "soon"],
        ["run", "--once", "--json", "--concurrency", "0"],
        ["history", "nosuch", "--json"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_other_commands_answer_an_error_under_json_the_same_way(cli: Cli, argv: list[str]) -> None:
    db = [] if argv[0] == "probe" else ["--db", str(cli.db)]
    done = subprocess.run(
        [sys.executable, "-m", "smtpwatch", *argv, *db],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    err = error_doc(done)
    assert err["command"] == f"smtpwatch {argv[0]}" and err["exit_code"] == 3
    assert done.stderr.splitlines()[-1] == f"smtpwatch {argv[0]}: error: {err['message']}"


def test_every_option_counting_seconds_calls_its_value_seconds() -> None:
    # One word for one thing in the help and the reference: a time in seconds is SECONDS
    # (never S or N), whether the name says so (-s, -seconds, timeout) or the help does.
    checked = set()
    for parser in _parsers():
        for action in parser._actions:
            longs = [f for f in action.option_strings if f.startswith("--")]
            named = any(f.endswith(("-s", "-seconds", "timeout")) for f in longs)
            told = re.search(r"\bseconds\b", action.help or "") is not None
            if action.nargs != 0 and (named or told):
                checked.add(longs[0])
                assert action.metavar == "SECONDS", (parser.prog, longs, action.metavar)
    assert {"--webhook-timeout", "--passing-result-seconds", "--grace"} <= checked
