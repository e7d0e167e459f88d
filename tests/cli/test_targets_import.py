"""`smtpwatch targets import` on the local store: whole-file validation, every error
with its item number, all-or-nothing writes, 10,000 targets."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from targets_helpers import Cli, make_cli

from smtpwatch.cli.targets_io import parse_text, validate_items
from smtpwatch.local.sqlite_store import SqliteStore


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def stored(cli: Cli) -> dict[str, dict[str, object]]:
    with SqliteStore(cli.db) as store:
        return {str(i["target_id"]): i for i in store.iter_items()}


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(data))
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


GOOD = [
    {"target_id": "mx1", "host": "mx1.example.com"},
    {"target_id": "mx2", "host": "mx2.example.com", "port": 465, "encryption": "implicit"},
    {"target_id": "mx3", "host": "192.0.2.3", "tags": {"env": "prod"}, "interval_s": 60},
]


@pytest.mark.parametrize("name", ["targets.yaml", "targets.json", "targets.yml"])
def test_import_adds_every_target_of_a_yaml_or_json_list(
    cli: Cli, tmp_path: Path, name: str
) -> None:
    result = cli("import", str(write(tmp_path, name, GOOD)))
    assert result.returncode == 0, result.stderr
    assert "imported 3 target(s)" in result.stdout and "3 new" in result.stdout
    assert stored(cli) == {t["target_id"]: t for t in GOOD}


def test_import_reports_every_error_with_item_number_and_writes_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    # GIVEN a store with one target and a file with good items and several bad ones
    assert cli("add", "keep", "keep.example.com").returncode == 0
    items = [
        {"target_id": "ok1", "host": "ok1.example.com"},
        {"target_id": "bad2", "host": "bad2.example.com", "timeout": 30},  # unknown attribute
        {"target_id": "bad3", "host": "bad3.example.com", "port": 99999, "encryption": "tls"},
        {"target_id": "ok4", "host": "ok4.example.com"},
        "not a target",
        {"host": "no-id.example.com"},
        {"target_id": "ok1", "host": "dup.example.com"},  # duplicate of item 1
    ]
    result = cli("import", str(write(tmp_path, "bad.yaml", items)))
    # THEN every error is listed with its item number and field
    assert result.returncode == 3
    err = result.stderr
    assert "item 2 (bad2): timeout: unknown attribute 'timeout' (did you mean timeout_s?)" in err
    assert "item 3 (bad3): port:" in err
    assert "item 3 (bad3): encryption:" in err  # two errors of one item, both reported
    assert "item 5: item: expected a target object, got a string" in err
    assert "item 6: target_id: is required" in err
    assert "item 7 (ok1): target_id: duplicate: item 1 has the same target_id" in err
    assert "6 error(s) in 5 of 7 item(s); nothing imported" in err
    assert "bad.yaml: item 1 " not in err and "bad.yaml: item 4 " not in err
    # AND nothing was written: not even the good items
    assert list(stored(cli)) == ["keep"]


def test_import_error_lines_follow_the_file_order(tmp_path: Path) -> None:
    raw = [{"target_id": f"t{i}", "host": "h.example.com", "warn_ms": -i} for i in range(1, 6)]
    _targets, errors = validate_items(raw)
    assert [e.item for e in errors] == [1, 2, 3, 4, 5]
    assert all(e.field == "warn_ms" for e in errors)


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("{target_id: mx1", "t.yaml", "not valid YAML"),
        ("[{]", "t.json", "not valid JSON"),
        ("target_id: mx1\nhost: mx1.example.com\n", "t.yaml", "expected a list of target objects"),
        ('"just text"', "t.json", "expected a list of target objects, got a string"),
    ],
)
def test_a_file_that_is_not_a_list_is_one_error(
    cli: Cli, tmp_path: Path, text: str, name: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = cli("import", str(path))
    assert result.returncode == 3
    assert expected in result.stderr and "nothing imported" in result.stderr
    assert "Traceback" not in result.stderr


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(Exception, match="line 3 column"):
        parse_text("- target_id: a\n  host: b\n- host: c: d\n", fmt="yaml")


def test_a_targets_mapping_is_accepted_too(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", {"targets": GOOD[:1]})
    assert cli("import", str(path)).returncode == 0
    assert list(stored(cli)) == ["mx1"]


def test_import_reads_stdin(cli: Cli) -> None:
    result = cli("import", "-", stdin=json.dumps(GOOD))
    assert result.returncode == 0, result.stderr
    assert len(stored(cli)) == 3


def test_missing_file_is_one_line(cli: Cli, tmp_path: Path) -> None:
    result = cli("import", str(tmp_path / "nope.yaml"))
    assert result.returncode == 3 and "cannot read" in result.stderr


def test_reimport_replaces_and_reports_unchanged(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "t.json", GOOD)
    cli("import", str(path))
    changed = [dict(GOOD[0], port=2525), *GOOD[1:], {"target_id": "mx4", "host": "mx4.example.com"}]
    result = cli("import", str(write(tmp_path, "t2.json", changed)))
    assert result.returncode == 0
    assert "1 new, 1 replaced, 2 unchanged" in result.stdout
    assert stored(cli)["mx1"]["port"] == 2525


def test_reimport_of_the_same_file_says_processed_not_written(cli: Cli, tmp_path: Path) -> None:
    # GIVEN a file imported once
    path = write(tmp_path, "t.json", GOOD)
    assert cli("import", str(path)).returncode == 0
    # WHEN the same file is imported again
    result = cli("import", str(path))
    # THEN the progress line counts the items processed, as the summary does
    assert result.returncode == 0, result.stderr
    n = len(GOOD)
    assert f"0 new, 0 replaced, {n} unchanged" in result.stdout
    assert f"import: {n}/{n} processed" in result.stderr
    assert "written" not in result.stderr


def test_import_keeps_targets_not_in_the_file(cli: Cli, tmp_path: Path) -> None:
    cli("add", "other", "other.example.com")
    cli("import", str(write(tmp_path, "t.json", GOOD)))
    assert set(stored(cli)) == {"other", "mx1", "mx2", "mx3"}


def test_sqlite_import_is_atomic_when_the_write_fails_midway(cli: Cli, tmp_path: Path) -> None:
    # GIVEN a store whose database refuses one row of the import (a trigger: a real
    # SQLite failure in the middle of the transaction, nothing mocked)
    cli("add", "keep", "keep.example.com")
    conn = sqlite3.connect(cli.db)
    conn.execute(
        "CREATE TRIGGER refuse_t600 BEFORE INSERT ON targets WHEN NEW.target_id = 't600' "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    conn.commit()
    conn.close()
    items = [{"target_id": f"t{i}", "host": f"h{i}.example.com"} for i in range(1000)]
    # WHEN the import of 1,000 valid targets fails at the 601st
    result = cli("import", str(write(tmp_path, "t.json", items)))
    # THEN it reports one line and none of the 600 before it was kept
    assert result.returncode == 1
    assert "disk says no" in result.stderr and "Traceback" not in result.stderr
    assert list(stored(cli)) == ["keep"]


def test_import_of_10000_targets(cli: Cli, tmp_path: Path) -> None:
    # The speed is printed by bench/import_10k.py, not asserted here.
    items = [
        {
            "target_id": f"mx{i:05d}",
            "host": f"mx{i}.example.com",
            "interval_s": 60 + i % 600,
            "tags": {"shard": str(i % 16)},
        }
        for i in range(10_000)
    ]
    result = cli("import", str(write(tmp_path, "big.json", items)))
    assert result.returncode == 0, result.stderr
    assert "imported 10000 target(s)" in result.stdout
    assert "import: 10000/10000 processed" in result.stderr
    targets = stored(cli)
    assert len(targets) == 10_000
    assert targets["mx09999"] == items[-1]
    listed = cli("list")
    assert len(listed.stdout.splitlines()) == 10_001
