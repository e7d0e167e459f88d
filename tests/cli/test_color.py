"""Colour is decided in one place for every command that colours: `--color auto` (the
default) colours a terminal unless NO_COLOR is set and not empty, and a pipe only when
FORCE_COLOR asks; `--color always` colours even a pipe and beats NO_COLOR; `--color
never` and its alias `--no-color` never colour. Seen through `history`'s bar, the alert
heads of `alerts test` and `run --once`, and the demo's story under --json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_history_bar import on_terminal

from smtpwatch.core.kinds import ErrorKind, Phase, Status
from smtpwatch.core.result import ErrorInfo, PhaseResult, ProbeResult
from smtpwatch.core.schedule import format_ts
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import closed_port

ESC = "\x1b"
SGR = re.compile(r"\x1b\[([0-9;]*)m")
COLOUR_VARIABLES = ("NO_COLOR", "FORCE_COLOR", "COLUMNS")


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "SMTPWATCH_")) and k not in COLOUR_VARIABLES
    }
    return (
        base
        | {
            "PYTHONWARNINGS": "ignore",
            "XDG_DATA_HOME": str(tmp_path / "xdg"),
            "SMTPWATCH_SECRETS_DIR": str(tmp_path / "secrets"),
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        | extra
    )


def smtpwatch(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """``smtpwatch ARGS`` with stdout a pipe."""
    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", *args],
        capture_output=True,
        text=True,
        env=env(tmp_path, **extra),
        timeout=120,
    )


def store_checks(db: Path, statuses: Sequence[Status]) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=len(statuses))
    with SqliteStore(db) as store:
        store.put_items([{"target_id": "mx1", "host": "mx1.example.com", "interval_s": 60}])
        for i, status in enumerate(statuses):
            failed = status is Status.CRITICAL
            error = ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "refused")
            assert store.add_result(
                ProbeResult(
                    "mx1", format_ts(start + timedelta(minutes=i)), status,
                    host="mx1.example.com", port=25,
                    phases=(PhaseResult(Phase.CONNECT, reached=True, ok=not failed, ms=12.0),),
                    error=error if failed else None, total_ms=40.0,
                )
            )  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "checks.db"
    store_checks(path, [Status.OK, Status.CRITICAL, Status.OK])
    return path


def history(tmp_path: Path, db: Path, *args: str, **extra: str) -> str:
    done = smtpwatch(tmp_path, "history", "mx1", "--db", str(db), *args, **extra)
    assert done.returncode == 0, done.stderr
    return done.stdout


# ---- in a pipe ---------------------------------------------------------------------


def test_a_pipe_gets_no_colour_by_default(tmp_path: Path, db: Path) -> None:
    assert ESC not in history(tmp_path, db)


def test_color_always_colours_a_pipe_even_with_no_color_set(tmp_path: Path, db: Path) -> None:
    for extra in ({}, {"NO_COLOR": "1"}):
        text = history(tmp_path, db, "--color", "always", **extra)
        # the bar, one colour per run of checks, in letters (a pipe still gets letters)
        assert "\x1b[32mo\x1b[0m\x1b[31mX\x1b[0m\x1b[32mo\x1b[0m" in text


def test_force_color_colours_a_pipe_unless_no_color_says_otherwise(
    tmp_path: Path, db: Path
) -> None:
    assert SGR.search(history(tmp_path, db, FORCE_COLOR="1"))
    assert ESC not in history(tmp_path, db, FORCE_COLOR="0")
    assert ESC not in history(tmp_path, db, FORCE_COLOR="1", NO_COLOR="1")
    assert ESC not in history(tmp_path, db, "--color", "never", FORCE_COLOR="1")


# ---- on a terminal -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "no_color"),
    [
        ((), "1"),
        ((), "anything"),
        (("--color", "never"), None),
        (("--no-color",), None),
        (("--color", "auto"), "1"),
    ],
    ids=["NO_COLOR=1", "NO_COLOR=anything", "--color never", "--no-color", "auto+NO_COLOR"],
)
def test_a_terminal_gets_no_escape_sequences_when_told_so(
    db: Path, args: tuple[str, ...], no_color: str | None
) -> None:
    text = on_terminal(db, *args) if no_color is None else on_terminal(db, *args, NO_COLOR=no_color)
    assert ESC not in text
    assert "█▁█" in text  # still blocks: only the colour goes


def test_a_terminal_is_coloured_by_default_and_with_always(db: Path) -> None:
    for args in ((), ("--color", "always"), ("--color", "auto")):
        assert SGR.findall(on_terminal(db, *args))[:4] == ["32", "0", "31", "0"]


# ---- the other commands that colour ------------------------------------------------


def test_alerts_test_colours_its_head_only_when_asked(tmp_path: Path) -> None:
    plain = smtpwatch(tmp_path, "alerts", "test")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith("ALERT [TEST]") and ESC not in plain.stdout
    forced = smtpwatch(tmp_path, "alerts", "test", "--color", "always", NO_COLOR="1")
    assert forced.stdout.startswith("\x1b[1;36mALERT [TEST]")
    assert forced.stdout.count(ESC) == 2  # the head's colour and its reset, nothing else


def test_run_once_colours_a_down_alert_with_always_and_never_with_no_color(
    tmp_path: Path,
) -> None:
    db = tmp_path / "run.db"
    port = closed_port()
    add = smtpwatch(
        tmp_path, "targets", "add", "down1", f"127.0.0.1:{port}", "--encryption", "none",
        "--recheck-delay", "0", "--db", str(db),
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    coloured = smtpwatch(tmp_path, "run", "--once", "--db", str(db), "--color", "always")
    assert coloured.returncode == 2, coloured.stderr
    assert f"\x1b[1;31mALERT [DOWN] 127.0.0.1:{port} connect_refused" in coloured.stdout
    # the second run's check fails again: a reminder is not due, so no alert; the
    # check line itself is never coloured
    plain = smtpwatch(tmp_path, "run", "--once", "--db", str(db), "--no-color", FORCE_COLOR="1")
    assert plain.returncode == 2
    assert ESC not in plain.stdout


def test_json_output_never_carries_colour(tmp_path: Path, db: Path) -> None:
    done = smtpwatch(tmp_path, "history", "mx1", "--db", str(db), "--json", "--color", "always")
    assert done.returncode == 0
    assert ESC not in done.stdout
    assert json.loads(done.stdout)["target_id"] == "mx1"


def test_status_colours_the_state_word_only_and_keeps_the_columns(tmp_path: Path) -> None:
    db = tmp_path / "status.db"
    port = closed_port()
    for target_id in ("down1", "off1"):
        add = smtpwatch(
            tmp_path, "targets", "add", target_id, f"127.0.0.1:{port}", "--encryption", "none",
            "--recheck-delay", "0", "--db", str(db),
        )  # fmt: skip
        assert add.returncode == 0, add.stderr
    assert smtpwatch(tmp_path, "run", "--once", "--db", str(db)).returncode == 2
    assert smtpwatch(tmp_path, "targets", "disable", "off1", "--db", str(db)).returncode == 0
    plain = smtpwatch(tmp_path, "status", "--db", str(db))
    coloured = smtpwatch(tmp_path, "status", "--db", str(db), "--color", "always", NO_COLOR="1")
    assert plain.returncode == coloured.returncode == 0
    assert ESC not in plain.stdout
    # down in red, disabled in grey, each reset at once; the rest exactly as without
    assert SGR.findall(coloured.stdout) == ["31", "0", "90", "0"]
    assert "\x1b[31mdown\x1b[0m" in coloured.stdout
    assert "\x1b[90mdisabled\x1b[0m" in coloured.stdout

    # the same text without the colours (the times apart: a second may have passed) ...
    def words(text: str) -> list[str]:
        return re.sub(r"\d+s ago", "ago", text).split()

    assert words(SGR.sub("", coloured.stdout)) == words(plain.stdout)
    # ... and the STATE column where the heading is
    head, *lines = SGR.sub("", coloured.stdout).splitlines()[:3]
    at = head.index("STATE")
    assert [line[at:].split()[0] for line in lines] == ["down", "disabled"]
