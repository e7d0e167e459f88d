"""Hostile or careless input through the real CLI: every bad value is refused before any
work, with exit 3, one line naming the item and field (or the option), no traceback,
nothing written to the store and no unbounded memory or time spent on it."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from targets_helpers import Cli, make_cli

from smtpwatch.local.sqlite_store import SqliteStore

# The old importer expanded a YAML alias bomb until memory ran out; under this address
# space limit a regression fails fast instead of taking the machine's memory.
MEMORY_LIMIT = 2 * 1024**3


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    c = make_cli(tmp_path)
    assert c("add", "keep", "keep.example.com").returncode == 0
    return c


def bounded_run(cli: Cli, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``smtpwatch ARGS`` under an address space limit (``cli`` runs only `targets`)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=120,
        preexec_fn=limit,
    )


def stored(cli: Cli) -> list[str]:
    with SqliteStore(cli.db) as store:
        return sorted(str(i["target_id"]) for i in store.iter_items())


def refused(done: subprocess.CompletedProcess[str], *needles: str, lines: int = 1) -> str:
    """Exit 3, ``lines`` lines on stderr holding every needle, no traceback."""
    err = done.stderr
    assert done.returncode == 3, err[-2000:]
    assert "Traceback" not in err and "MemoryError" not in err, err[-2000:]
    assert len(err.splitlines()) == lines, err[-2000:]
    for needle in needles:
        assert needle in err, err[-2000:]
    return err


def import_file(cli: Cli, tmp_path: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return bounded_run(cli, "targets", "import", str(path), "--db", str(cli.db))


def laughs(levels: int = 9) -> str:
    """The "billion laughs": each anchor is ten aliases of the one before."""
    lines = ["- target_id: lol", "  host: lol.example.com", "  x0: &a0 [lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"  x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


# ---- YAML aliases ----------------------------------------------------------------------


@pytest.mark.parametrize("use", ["  encryption: *a8\n", "  auth_methods: [PLAIN, *a8, LOGIN]\n"])
def test_a_yaml_alias_bomb_is_refused_naming_the_line(cli: Cli, tmp_path: Path, use: str) -> None:
    # GIVEN nine nested anchors of ten aliases each, used as a field's value
    text = laughs(9) + use
    # WHEN it is imported
    done = import_file(cli, tmp_path, "lol.yaml", text)
    # THEN it is refused while it is read: one line naming the alias's line and the bound
    err = refused(done, "lol.yaml", "aliases", "10,000 nodes", "nothing imported")
    assert "line 7" in err  # x4, the first anchor whose aliases pass 10,000 nodes
    # AND nothing was written
    assert stored(cli) == ["keep"]


def test_a_yaml_alias_that_contains_itself_is_refused(cli: Cli, tmp_path: Path) -> None:
    text = "- target_id: a\n  host: a.example.com\n  tags: &t {x: *t}\n"
    done = import_file(cli, tmp_path, "loop.yaml", text)
    refused(done, "item 1", "tags", "line 3", "itself")
    assert stored(cli) == ["keep"]


def test_a_few_aliases_still_work(cli: Cli, tmp_path: Path) -> None:
    # Anchors are how a YAML user shares settings between targets: they stay allowed.
    text = (
        "- target_id: a\n  host: a.example.com\n  tags: &t {env: prod, team: mail}\n"
        "- target_id: b\n  host: b.example.com\n  tags: *t\n"
    )
    done = import_file(cli, tmp_path, "ok.yaml", text)
    assert done.returncode == 0, done.stderr
    assert stored(cli) == ["a", "b", "keep"]


# ---- numbers, nesting and dates in import files -------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("big.json", '[{"target_id": "a", "host": "a.example.com", "port": ' + "9" * 5000 + "}]"),
        ("big.yaml", "- target_id: a\n  host: a.example.com\n  port: " + "9" * 5000 + "\n"),
    ],
)
def test_a_5000_digit_integer_is_one_line_naming_item_and_field(
    cli: Cli, tmp_path: Path, name: str, text: str
) -> None:
    done = import_file(cli, tmp_path, name, text)
    refused(done, "item 1", "port", "5000 digits", "at most 40")
    assert stored(cli) == ["keep"]


def test_json_nested_100k_deep_is_refused(cli: Cli, tmp_path: Path) -> None:
    text = '[{"target_id": "a", "host": "a.example.com", "tags": ' + "[" * 100_000
    text += "]" * 100_000 + "}]"
    done = import_file(cli, tmp_path, "deep.json", text)
    refused(done, "deep.json", "nested more than 32 deep", "nothing imported")
    assert stored(cli) == ["keep"]


@pytest.mark.parametrize("name", ["deep.json", "deep.yaml"])
def test_nesting_past_the_bound_names_item_and_field(cli: Cli, tmp_path: Path, name: str) -> None:
    nested = "[" * 40 + "]" * 40
    if name.endswith(".json"):
        text = '[{"target_id": "a", "host": "a.example.com", "tags": ' + nested + "}]"
    else:
        text = "- target_id: a\n  host: a.example.com\n  tags: " + nested + "\n"
    done = import_file(cli, tmp_path, name, text)
    refused(done, "item 1", "tags", "nested more than 32 deep")
    assert stored(cli) == ["keep"]


def test_a_yaml_timestamp_out_of_range_in_maintenance_names_the_field(
    cli: Cli, tmp_path: Path
) -> None:
    text = (
        "- target_id: a\n  host: a.example.com\n  maintenance:\n"
        "  - start: 2026-01-01T00:00:00Z\n    end: 9999-12-31T23:00:00-12:00\n"
    )
    done = import_file(cli, tmp_path, "ts.yaml", text)
    # one error line and the summary
    refused(done, "item 1 (a): maintenance: window 1: end", "out of range", lines=2)
    assert stored(cli) == ["keep"]


def test_an_impossible_yaml_date_is_one_line(cli: Cli, tmp_path: Path) -> None:
    text = "- target_id: a\n  host: a.example.com\n  maintenance:\n"
    text += "  - {start: 2026-02-30, end: 2026-03-01}\n"
    done = import_file(cli, tmp_path, "date.yaml", text)
    refused(done, "date.yaml", "line 4", "nothing imported")
    assert stored(cli) == ["keep"]


def test_an_endless_import_file_is_refused_by_its_size(cli: Cli) -> None:
    done = bounded_run(
        cli, "targets", "import", "/dev/zero", "--format", "json", "--db", str(cli.db)
    )
    refused(done, "/dev/zero", "larger than")
    assert stored(cli) == ["keep"]


# ---- flooding ------------------------------------------------------------------------


def test_an_item_with_20000_unknown_keys_is_one_error(cli: Cli, tmp_path: Path) -> None:
    item = {"target_id": "a", "host": "a.example.com"} | {f"k{i}": 1 for i in range(20_000)}
    done = import_file(cli, tmp_path, "keys.json", json.dumps([item]))
    # one error line naming the item and the bound, and the summary
    refused(done, "item 1 (a): item: 20002 attributes", "at most 64", lines=2)
    assert stored(cli) == ["keep"]


def test_10000_bad_items_report_50_errors_then_the_count(cli: Cli, tmp_path: Path) -> None:
    items = [
        {"target_id": f"t{i}", "host": "h.example.com", "port": 0, "timeout_s": 0, "tags": 1}
        for i in range(10_000)
    ]
    done = import_file(cli, tmp_path, "bad.json", json.dumps(items))
    err = refused(done, "29950 more error(s) not shown", lines=52)
    lines = err.splitlines()
    assert "bad.json: item 1 (t0): port:" in lines[0]
    assert "item 17 (t16)" in lines[49] and "item 18 " not in err
    assert "30000 error(s) in 10000 of 10000 item(s); nothing imported" in lines[-1]
    assert stored(cli) == ["keep"]


# ---- options -------------------------------------------------------------------------

HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--set", f'tags={{"a": {HUGE}}}'), "tags: an integer of 5000 digits"),
        (("--set", f'maintenance=[{{"start": {HUGE}, "end": 1}}]'), "maintenance: an integer"),
        (("--maintenance", f'{{"start": {HUGE}, "end": 1}}'), "maintenance: an integer"),
        (("--set", "maintenance=" + "[" * 10_000 + "]" * 10_000), "maintenance: nested"),
        (("--set", f"tags=a={HUGE}"), "tags: value of 'a'"),
        (("--set", f"timeout_s={HUGE}"), "timeout_s:"),
        (("--set", f"port={HUGE}"), "port:"),
        (
            (
                "--maintenance",
                '{"start": "2026-01-01T00:00:00Z", "end": "9999-12-31T23:00:00-12:00"}',
            ),
            "maintenance: window 1: end",
        ),
    ],
)
def test_huge_values_in_options_are_one_line_naming_the_field(
    cli: Cli, args: tuple[str, ...], needle: str
) -> None:
    done = bounded_run(cli, "targets", "add", "new", "new.example.com", *args, "--db", str(cli.db))
    refused(done, needle)
    assert stored(cli) == ["keep"]


@pytest.mark.parametrize("command", ["targets-add", "targets-update", "probe"])
def test_a_ca_bundle_that_is_not_a_regular_file_is_refused_unread(cli: Cli, command: str) -> None:
    args = {
        "targets-add": ("targets", "add", "new", "new.example.com", "--db", str(cli.db)),
        "targets-update": ("targets", "update", "keep", "--db", str(cli.db)),
        "probe": ("probe", "127.0.0.1:9", "--timeout", "1"),
    }[command]
    done = bounded_run(cli, *args, "--ca-bundle", "/dev/zero")
    refused(done, "--ca-bundle", "/dev/zero is not a regular file")
    assert stored(cli) == ["keep"]


def test_a_ca_bundle_over_1_mib_is_refused(cli: Cli, tmp_path: Path) -> None:
    big = tmp_path / "big.pem"
    big.write_text("# padding\n" * 110_000)
    for args in (
        ("targets", "add", "new", "new.example.com", "--db", str(cli.db)),
        ("probe", "127.0.0.1:9", "--timeout", "1"),
    ):
        done = bounded_run(cli, *args, "--ca-bundle", str(big))
        refused(done, "--ca-bundle", "is larger than 1 MiB")
    assert stored(cli) == ["keep"]


@pytest.mark.parametrize(
    "args",
    [
        ("--since", "99999999999d"),
        ("--since", "3651d"),
        ("--since", "9" * 400 + "s"),
        ("--since", "0001-01-01"),
        ("--since", "9999-12-31T23:59:59Z"),
        ("--passing-result-seconds", "99999999999999"),
        ("--failures", "9" * 30),
    ],
)
def test_history_refuses_durations_and_numbers_out_of_range(
    cli: Cli, args: tuple[str, ...]
) -> None:
    done = bounded_run(cli, "history", "keep", *args, "--db", str(cli.db))
    refused(done, args[0])


def test_passing_result_seconds_is_checked_before_any_aws_call(cli: Cli) -> None:
    done = bounded_run(
        cli, "history", "keep", "--table", "T", "--results-table", "R",
        "--passing-result-seconds", "86401",
    )  # fmt: skip
    refused(done, "--passing-result-seconds", "86400")


@pytest.mark.parametrize(
    "args",
    [
        ("--retention-days", "nan"),
        ("--retention-days", "inf"),
        ("--retention-days", "1e308"),
        ("--retention-days", "36501"),
        ("--grace", "nan"),
        ("--grace", "inf"),
        ("--webhook-timeout", "nan"),
        ("--webhook-timeout", "1e308"),
        ("--webhook-timeout", "0"),
        ("--ehlo-name", "mx.example.com\r\nRSET"),  # a command of its own in the dialogue
        ("--ehlo-name", "mx\x1b[2J.example.com"),
    ],
)
def test_run_refuses_option_values_out_of_bounds(cli: Cli, args: tuple[str, ...]) -> None:
    # GIVEN a target (on a closed loopback port), so that a run would probe and store
    assert cli("add", "dead", "127.0.0.1:9", "--encryption", "none").returncode == 0
    # WHEN `run --once` is given the bad number
    done = bounded_run(cli, "run", "--once", *args, "--db", str(cli.db))
    # THEN it is refused before anything runs: one line naming the option, nothing stored
    refused(done, args[0])
    with SqliteStore(cli.db) as store:
        assert list(store.iter_results("dead")) == []
