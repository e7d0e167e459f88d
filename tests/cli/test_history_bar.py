"""`smtpwatch history` draws the bar of recent checks: one cell per stored check, oldest
first, the newest that fit the terminal; coloured blocks on a terminal, letters in a pipe,
no colour with NO_COLOR; `--json` has no bar."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smtpwatch.cli.check_bar import BLOCKS, COLORS, LETTERS, MAX_CELLS
from smtpwatch.cli.history_report import summarize
from smtpwatch.core.kinds import ErrorKind, Phase, Status
from smtpwatch.core.result import ErrorInfo, PhaseResult, ProbeResult
from smtpwatch.core.schedule import format_ts
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.servers import SmtpServer, closed_port

ESC = "\x1b"
SGR = re.compile(r"\x1b\[([0-9;]*)m")
OK, W, X, U = Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN


def _result(at: datetime, status: Status) -> ProbeResult:
    failed = status is Status.CRITICAL
    phases = (PhaseResult(Phase.CONNECT, reached=True, ok=not failed, ms=12.0),)
    error = ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "refused") if failed else None
    return ProbeResult("mx1", format_ts(at), status, host="mx1.example.com", port=25,
                       phases=phases, error=error, total_ms=40.0)  # fmt: skip


def _store(db: Path, statuses: Sequence[Status]) -> None:
    """``statuses`` as mx1's stored results, oldest first, one minute apart, ending now."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=len(statuses))
    with SqliteStore(db) as store:
        store.put_items([{"target_id": "mx1", "host": "mx1.example.com", "interval_s": 60}])
        for i, status in enumerate(statuses):
            assert store.add_result(_result(start + timedelta(minutes=i), status))


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "SMTPWATCH_")) and k not in ("NO_COLOR", "COLUMNS")
    }
    return env | {"PYTHONWARNINGS": "ignore", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"} | extra


def _argv(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "smtpwatch", "history", "mx1", "--db", str(db), *args]


def piped(db: Path, *args: str, **env: str) -> str:
    done = subprocess.run(
        _argv(db, *args), capture_output=True, text=True, env=_env(**env), timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def on_terminal(db: Path, *args: str, columns: int = 120, **env: str) -> str:
    """What `history` writes to a terminal (a pty of ``columns`` columns)."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        _argv(db, *args), stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
        env=_env(**env),
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            assert ready, "no output from history on the terminal"
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the program closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def bar_line(text: str) -> str:
    """The bar: the line after the one that says how many checks it shows."""
    lines = text.splitlines()
    (at,) = [i for i, line in enumerate(lines) if SGR.sub("", line).startswith("last ")]
    return lines[at + 1]


def cells(line: str) -> str:
    """The bar's cells, without its indent and colours."""
    return SGR.sub("", line).strip()


# ---- what the bar shows ------------------------------------------------------------


def test_one_letter_per_stored_check_oldest_first_in_a_pipe(tmp_path: Path) -> None:
    # GIVEN 7 stored checks: ok, ok, warning, critical, critical, unknown, ok
    statuses = [OK, OK, W, X, X, U, OK]
    _store(tmp_path / "db", statuses)
    # WHEN history is piped
    text = piped(tmp_path / "db")
    # THEN the bar has one cell per check, in order, as plain letters and no escapes
    assert cells(bar_line(text)) == "".join(LETTERS[s] for s in statuses) == "oowXX?o"
    assert (
        "\nlast 7 of 7 checks, oldest first:\n  oowXX?o\n  o ok  w warning  X critical  ? unknown\n"
    ) in text
    assert ESC not in text
    # AND a critical check looks different from an ok one
    assert LETTERS[X] != LETTERS[OK]
    # AND the bar sits between the uptime line and the timings
    assert text.index("uptime ") < text.index("last 7 of 7") < text.index("PHASE")


def test_a_terminal_gets_coloured_blocks_one_per_check(tmp_path: Path) -> None:
    statuses = [OK, OK, X, W, U, OK]
    _store(tmp_path / "db", statuses)
    text = on_terminal(tmp_path / "db")
    line = bar_line(text)
    # one block per check, oldest first, its height saying the status
    assert cells(line) == "".join(BLOCKS[s] for s in statuses) == "██▁▄?█"
    # coloured by status (green, red, yellow, grey), each run reset after
    assert SGR.findall(line) == ["32", "0", "31", "0", "33", "0", "90", "0", "32", "0"]
    assert f"\x1b[31m{BLOCKS[X]}\x1b[0m" in line and f"\x1b[32m{BLOCKS[OK] * 2}\x1b[0m" in line
    # AND the legend below it in the same colours
    lines = text.splitlines()
    key = lines[lines.index(line) + 1]
    assert SGR.sub("", key) == "  █ ok  ▄ warning  ▁ critical  ? unknown"
    assert SGR.findall(key) == ["32", "0", "33", "0", "31", "0", "90", "0"]
    # AND no colour anywhere else
    assert ESC not in "\n".join(lines[: lines.index(line)] + lines[lines.index(key) + 1 :])


@pytest.mark.parametrize("value", ["1", "0", "yes"])
def test_no_color_on_a_terminal_keeps_the_blocks_without_escapes(
    tmp_path: Path, value: str
) -> None:
    statuses = [OK, X, OK]
    _store(tmp_path / "db", statuses)
    text = on_terminal(tmp_path / "db", NO_COLOR=value)
    assert ESC not in text
    assert cells(bar_line(text)) == "█▁█"


def test_an_empty_no_color_does_not_turn_colour_off(tmp_path: Path) -> None:
    _store(tmp_path / "db", [OK, X])
    assert SGR.findall(bar_line(on_terminal(tmp_path / "db", NO_COLOR=""))) == [
        "32", "0", "31", "0"
    ]  # fmt: skip


def test_the_bar_shows_the_newest_checks_that_fit_the_terminal(tmp_path: Path) -> None:
    # GIVEN 60 checks, the last 10 critical, on a terminal 30 columns wide
    statuses = [OK] * 50 + [X] * 10
    _store(tmp_path / "db", statuses)
    text = on_terminal(tmp_path / "db", columns=30)
    line = bar_line(text)
    # THEN the bar line fits and holds the newest 28 checks (2 columns of indent)
    assert len(SGR.sub("", line)) <= 30
    assert cells(line) == BLOCKS[OK] * 18 + BLOCKS[X] * 10
    assert "last 28 of 60 checks, oldest first" in text
    # AND the legend, too wide for the terminal, is left out rather than wrapped
    lines = text.splitlines()
    assert lines[lines.index(line) + 1] == "" and " critical" not in text.split(line)[1]


def test_the_bar_holds_at_most_90_checks_and_columns_applies_to_a_pipe(tmp_path: Path) -> None:
    statuses = [X] * 10 + [OK] * 100
    _store(tmp_path / "db", statuses)
    wide = piped(tmp_path / "db", COLUMNS="300")
    assert cells(bar_line(wide)) == "o" * MAX_CELLS and "last 90 of 110 checks" in wide
    narrow = piped(tmp_path / "db", COLUMNS="22")
    assert len(bar_line(narrow)) <= 22 and cells(bar_line(narrow)) == "o" * 20


def test_json_has_no_bar_and_no_escapes_even_on_a_terminal(tmp_path: Path) -> None:
    _store(tmp_path / "db", [OK, X, OK])
    text = on_terminal(tmp_path / "db", "--json")
    assert ESC not in text
    doc = json.loads(text)
    assert doc["checks"] == 3 and doc["counts"]["critical"] == 1
    # the same document as in a pipe, with the report's keys and nothing more
    now = datetime.now(UTC)
    assert set(doc) == set(summarize("mx1", [], since=now, until=now))
    in_pipe = json.loads(piped(tmp_path / "db", "--json"))
    assert {k: v for k, v in in_pipe.items() if k not in ("since", "until")} == {
        k: v for k, v in doc.items() if k not in ("since", "until")
    }


def test_no_bar_when_the_window_has_no_checks(tmp_path: Path) -> None:
    _store(tmp_path / "db", [OK, X])
    text = piped(tmp_path / "db", "--since", "2999-01-01")
    assert "no checks in this period" in text and "last " not in text


# ---- filled by a real run ----------------------------------------------------------


def test_run_once_over_loopback_gives_one_cell_per_check(
    tmp_path: Path, smtp_server: Callable[..., SmtpServer]
) -> None:
    # GIVEN a plain SMTP server on loopback and a port nobody listens on
    server = smtp_server("127.0.0.1")
    db = tmp_path / "db"
    with SqliteStore(db) as store:
        store.put_items(
            [
                {"target_id": "mx1", "host": "127.0.0.1", "port": server.port,
                 "encryption": "none", "interval_s": 60},
                {"target_id": "dead", "host": "127.0.0.1", "port": closed_port(),
                 "encryption": "none", "recheck_delay_s": 0, "interval_s": 60},
            ]
        )  # fmt: skip
    # WHEN `run --once` checks both three times
    env = _env(XDG_DATA_HOME=str(tmp_path / "xdg"))
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-m", "smtpwatch", "run", "--once", "--db", str(db)],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
    # THEN each target's bar has three cells: ok for the server, critical for the closed port
    assert cells(bar_line(piped(db))) == "ooo"
    dead = subprocess.run(
        [sys.executable, "-m", "smtpwatch", "history", "dead", "--db", str(db)],
        capture_output=True, text=True, env=env, timeout=60,
    ).stdout  # fmt: skip
    assert cells(bar_line(dead)) == "XXX"
    assert cells(bar_line(on_terminal(db))) == BLOCKS[OK] * 3
    assert COLORS[OK] in SGR.findall(bar_line(on_terminal(db)))
