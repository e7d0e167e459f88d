"""Nothing smtpwatch prints can drive the terminal that shows it.

Server text (greeting, replies, EHLO keywords) and user text (names, tags, ids, items
edited by hand in the store) may carry escape sequences (``ESC ]0;title BEL`` sets the
window title, ``ESC [2J`` clears the screen), C1 controls, bidi overrides or lone
surrogates. Whatever comes in, what the CLI writes is valid UTF-8 with no C0 control
but newline and tab, no DEL or C1 control, no bidi or other format character — except
the project's own colour sequences — and ``--json`` output still parses, to the very
text that was stored.

The commands run in-process (``smtpwatch.cli.main.main``) with stdout and stderr as
strict UTF-8 byte streams, so one example costs milliseconds; the SMTP servers are
real listeners on loopback.
"""

from __future__ import annotations

import io
import json
import os
import re
import socketserver
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smtpwatch.core.result import (
    ErrorInfo,
    ErrorKind,
    Phase,
    ProbeResult,
    ServerInfo,
    Status,
    WarningInfo,
    WarningKind,
)
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.sqlite_store import SqliteStore

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# For the tests that run a dozen commands on a fresh store per example (~0.2 s each).
FEWER = settings(SETTINGS, max_examples=30)

# Fragments a hostile server or a careless user sends, mixed into arbitrary text.
NASTY = (
    "\x1b]0;pwned\x07",  # window title
    "\x1b[2J",  # clear screen
    "\x1b[31m",  # colour
    "\x1b[1;31m",  # one of the project's own colours, from outside
    "\x9b31m",  # C1 CSI
    "\x1bP+q\x1b\\",  # DCS query
    "\r",
    "\x08",
    "\x00",
    "\x7f",
    "\x85",
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u2028",
    "\U000e0041",  # a tag character (format)
)
FORMAT_CHARS = frozenset(
    {0x061C, 0x180E, 0xFEFF, 0x2028, 0x2029, *range(0xE0000, 0xE0080), *range(0x200B, 0x2010)}
    | {*range(0x202A, 0x202F), *range(0x2060, 0x2065), *range(0x2066, 0x2070)}
    | {*range(0xFFF9, 0xFFFC)}
)
# The exact sequences the project itself writes (alert heads, the demo's story).
PROJECT_STYLES = tuple(
    f"\x1b[{code}m" for code in ("1;31", "1;32", "1;33", "1;35", "1;36", "1", "31", "32", "0")
)


def hostile_text(*, surrogates: bool = False, max_parts: int = 6) -> st.SearchStrategy[str]:
    chars = (
        st.characters(exclude_categories=())
        if surrogates
        else st.characters(exclude_categories=["Cs"])
    )
    part = st.one_of(st.text(chars, max_size=8), st.sampled_from(NASTY))
    return st.lists(part, max_size=max_parts).map("".join)


def unsafe_chars(text: str) -> list[str]:
    def bad(c: str) -> bool:
        o = ord(c)
        return (
            (o < 0x20 and c not in "\n\t")
            or 0x7F <= o <= 0x9F
            or 0xD800 <= o <= 0xDFFF
            or o in FORMAT_CHARS
        )

    return sorted({c for c in text if bad(c)})


def assert_terminal_safe(data: bytes, what: str, *, styles: int = 0) -> str:
    """The decoded text; fails on invalid UTF-8 or any unsafe character. ``styles``:
    how many of the project's own colour sequences are expected (they are removed
    before the check, and only that many)."""
    text = data.decode("utf-8")  # strict: a raw surrogate or stray byte fails here
    plain = text
    found = 0
    for seq in PROJECT_STYLES:
        found += plain.count(seq)
        plain = plain.replace(seq, "")
    assert found == styles, f"{what}: {found} colour sequences, expected {styles}: {text!r}"
    bad = unsafe_chars(plain)
    assert not bad, f"{what}: {bad!r} reached the terminal: {text[:3000]!r}"
    return text


@dataclass
class Printed:
    code: int
    out: bytes
    err: bytes

    def safe(self, what: str) -> Printed:
        assert_terminal_safe(self.out, f"{what} stdout")
        assert_terminal_safe(self.err, f"{what} stderr")
        return self


def smtpwatch(*argv: str) -> Printed:
    """``smtpwatch ARGV`` in-process, stdout and stderr strict UTF-8 byte streams."""
    from smtpwatch.cli.main import main

    out, err = io.BytesIO(), io.BytesIO()
    streams = [
        io.TextIOWrapper(buf, encoding="utf-8", errors="strict", write_through=True)
        for buf in (out, err)
    ]
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = streams
    try:
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
    finally:
        sys.stdout, sys.stderr = saved
    return Printed(code, out.getvalue(), err.getvalue())


def _ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hostile_result(target_id: str, host: str, text: str) -> ProbeResult:
    return ProbeResult(
        target_id=target_id,
        started_at=_ago(5),
        status=Status.CRITICAL,
        host=host,
        port=25,
        encryption="none",
        error=ErrorInfo(ErrorKind.BANNER, Phase.BANNER, text, 554, "5.3.2"),
        warnings=(WarningInfo(WarningKind.SLOW, text),),
        server=ServerInfo(banner=text, extensions=(text, "PIPELINING")),
        total_ms=12.5,
    )


# ---------------------------------------------------------------------------- stored text


@FEWER
@given(
    ident=hostile_text(max_parts=3),
    name=hostile_text(),
    host=hostile_text(max_parts=3),
    tag=hostile_text(),
    message=hostile_text(),
)
@example(ident="", name="\x1b]0;pwned\x07", host="\x1b[2J", tag="\u202e", message="\x9b2J")
def test_hostile_stored_targets_and_results_print_safely_everywhere(
    ident: str, name: str, host: str, tag: str, message: str
) -> None:
    # GIVEN a store holding hostile text: an item edited by hand (id, host, name, tag,
    # an unknown attribute), a target whose zone id carries an escape sequence, a
    # valid target with a hostile name, and stored results quoting hostile server text
    bad_id = "x" + ident
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "t.db")
        raw = {
            "target_id": bad_id,
            "host": host or "h",
            "name": name,
            "tags": {"env": tag},
            "note" + name: tag,
        }
        with SqliteStore(Path(db)) as store:
            store.put_items(
                [
                    raw,
                    {"target_id": "zone", "host": "fe80::1%\x1b]0;pwned\x07", "port": 25},
                    {"target_id": "ok", "host": "mail.example.com", "port": 25},
                ]
            )
            store.add_result(_hostile_result(bad_id, host, message))
            store.add_result(_hostile_result("ok", "mail.example.com", message))
        # a user naming and tagging a target (the model refuses what it refuses)
        smtpwatch("targets", "update", "ok", f"--name={name}", f"--tag=env={tag}", "--db", db).safe(
            "targets update"
        )
        doc = Path(tmp) / "in.json"
        doc.write_text(json.dumps([raw | {"target_id": "imp"}]), encoding="utf-8")
        smtpwatch("targets", "import", str(doc), "--db", db).safe("targets import")

        # WHEN every reading command prints them, as text and as JSON
        for target in (bad_id, "ok", "zone"):
            smtpwatch("targets", "show", target, "--db", db).safe("targets show")
            smtpwatch("history", target, "--db", db).safe("history")
            hist = smtpwatch("history", target, "--json", "--db", db).safe("history --json")
            assert json.loads(hist.out)["target_id"] == target
        smtpwatch("targets", "list", "--db", db).safe("targets list")
        smtpwatch("status", "--db", db).safe("status")
        smtpwatch("status", "--problems", "--db", db).safe("status --problems")

        # THEN (checked by .safe) nothing unsafe reached stdout or stderr, and the JSON
        # outputs parse to exactly what is stored
        shown = smtpwatch("targets", "show", bad_id, "--json", "--db", db).safe("show --json")
        assert json.loads(shown.out)["target_id"] == bad_id
        listed = smtpwatch("targets", "list", "--json", "--db", db).safe("list --json")
        assert bad_id in {t["target_id"] for t in json.loads(listed.out)}
        status = smtpwatch("status", "--json", "--db", db).safe("status --json")
        rows = {r["target_id"]: r for r in json.loads(status.out)}
        assert rows["ok"]["error"]["message"] == message
        assert {bad_id, "ok", "zone"} <= set(rows)


def _valid_name(text: str) -> bool:
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.target import Target

    try:
        Target(target_id="a", host="mail.example.com", name=text or "n", tags={"env": text})
    except ConfigError:
        return False
    return True


@FEWER
@given(name=hostile_text().filter(_valid_name), fmt=st.sampled_from(["yaml", "json"]))
@example(name="team \U0001f468\u200d\U0001f4bb zero\u200bwidth\ufeff", fmt="yaml")
@example(
    name="flag \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", fmt="yaml"
)
def test_export_prints_safely_and_imports_back_to_the_same_targets(name: str, fmt: str) -> None:
    # GIVEN a valid target whose name and tag hold format characters the model accepts
    # (a zero-width joiner in an emoji, tag characters in a flag)
    with tempfile.TemporaryDirectory() as tmp:
        db, other = str(Path(tmp) / "a.db"), str(Path(tmp) / "b.db")
        added = smtpwatch(
            "targets", "add", "t1", "mail.example.com", f"--name={name or 'n'}",
            f"--tag=env={name}", "--db", db,
        )  # fmt: skip
        assert added.code == 0, added.err
        # WHEN it is exported (to a terminal or a file: the same bytes)
        exported = smtpwatch("targets", "export", "--format", fmt, "--db", db).safe("export")
        # THEN importing that output gives the very same target back
        path = Path(tmp) / f"t.{fmt}"
        path.write_bytes(exported.out)
        assert smtpwatch("targets", "import", str(path), "--db", other).code == 0
        with SqliteStore(Path(db)) as a, SqliteStore(Path(other)) as b:
            assert b.get_item("t1") == a.get_item("t1")


# ---------------------------------------------------------------------------- server text


class _Script:
    greeting = b"220 ok\r\n"
    ehlo = b"250 ok\r\n"
    other = b"250 ok\r\n"


class _Smtp(socketserver.StreamRequestHandler):
    """Greets with the script's greeting, answers EHLO/HELO with its EHLO reply and
    anything else with ``other``; QUIT ends the dialogue."""

    timeout = 10
    server: _ScriptedServer

    def handle(self) -> None:
        script = self.server.script
        try:
            self.wfile.write(script.greeting)
            for line in self.rfile:
                verb = line[:4].upper()
                if verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                self.wfile.write(script.ehlo if verb in (b"EHLO", b"HELO") else script.other)
        except OSError:
            return


class _ScriptedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Smtp)
        self.script = _Script()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@pytest.fixture(scope="module")
def scripted() -> Iterator[_ScriptedServer]:
    """One loopback SMTP listener whose replies each example sets."""
    server = _ScriptedServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


PASSWORD_VAR = "SMTPWATCH_TERMINAL_TEST_PW"

server_bytes = st.one_of(
    st.binary(max_size=40),
    hostile_text(surrogates=True).map(lambda s: s.encode("utf-8", "surrogatepass")),
    hostile_text().map(lambda s: s.encode("latin-1", "replace")),
)


@SETTINGS
@given(
    code=st.sampled_from([b"220 ", b"554 ", b"220-"]),
    banner=server_bytes,
    keyword=server_bytes,
    reply=server_bytes,
)
@example(code=b"554 ", banner=b"\x1b]0;pwned\x07\x9b2J", keyword=b"", reply=b"")
@example(code=b"220 ", banner=b"ok", keyword=b"X\x1b[2J\xe2\x80\xae", reply=b"\x1b[2J\xe2\x80\xae")
def test_server_text_never_reaches_the_terminal_raw(
    scripted: _ScriptedServer, code: bytes, banner: bytes, keyword: bytes, reply: bytes
) -> None:
    # GIVEN a loopback server whose greeting, EHLO keywords and other replies carry
    # arbitrary bytes
    scripted.script.greeting = (
        code + banner + b"\r\n" + (b"220 more\r\n" if code[3:] == b"-" else b"")
    )
    scripted.script.ehlo = b"250-mail\r\n250-" + keyword + b"\r\n250 AUTH PLAIN " + banner + b"\r\n"
    scripted.script.other = b"550 " + reply + b"\r\n"
    where = f"127.0.0.1:{scripted.port}"
    # WHEN smtpwatch probe prints its verdict and details, and its JSON
    text = smtpwatch("probe", where, "--encryption", "none", "--timeout", "5").safe("probe")
    as_json = smtpwatch("probe", where, "--encryption", "none", "--timeout", "5", "--json")
    # (and with a login, so the AUTH reply is quoted too)
    os.environ[PASSWORD_VAR] = "pw-for-the-terminal-tests"
    try:
        login = smtpwatch(
            "probe", where, "--encryption", "none", "--timeout", "5", "--user", "u",
            "--password-env", PASSWORD_VAR, "--allow-plaintext-auth",
        )  # fmt: skip
    finally:
        del os.environ[PASSWORD_VAR]
    # THEN (checked by .safe) no control, C1 or format character reached the terminal,
    # and the JSON parses
    as_json.safe("probe --json")
    login.safe("probe --user")
    assert json.loads(as_json.out)["target_id"]
    for done in (text, login):
        assert done.code in (0, 1, 2) and done.out.startswith(b"SMTP "), done


# ---------------------------------------------------------------------------- output bound

MAX_PROBE_TEXT = 16 * 1024


def _timeless(text: str) -> str:
    """Two probes differ in their timings only."""
    return re.sub(r" +", " ", re.sub(r"[0-9.]+", "N", text))


def test_probe_text_output_is_at_most_16_kb_unless_verbose(scripted: _ScriptedServer) -> None:
    # GIVEN a server answering EHLO with thousands of keywords full of control bytes
    # (each one printed as a six-character escape)
    keywords = b"".join(b"250-K%04d\x01\x02\x03\x04\x05\x06\x07\x08\r\n" % i for i in range(900))
    scripted.script.greeting = b"220 mail ESMTP " + b"\x1b[2J" * 500 + b"\r\n"
    scripted.script.ehlo = keywords + b"250 PIPELINING\r\n"
    where = f"127.0.0.1:{scripted.port}"
    # WHEN probed without and with -v
    short = smtpwatch("probe", where, "--encryption", "none", "--timeout", "5").safe("probe")
    full = smtpwatch("probe", where, "--encryption", "none", "--timeout", "5", "-v").safe("-v")
    # THEN the text output stays within 16 KB, says what was cut and how to see it all
    assert len(short.out) <= MAX_PROBE_TEXT
    assert short.code == full.code
    if len(full.out) > MAX_PROBE_TEXT:
        *kept, cut, last = short.out.decode().splitlines()
        assert "-v" in last and "cut" in last, last
        # what is kept is the start of the whole output, verdict line first
        whole = _timeless(full.out.decode()).splitlines()
        assert _timeless("\n".join(kept)).splitlines() == whole[: len(kept)]
        assert whole[len(kept)].startswith(_timeless(cut.rstrip("…")))
        assert kept[0].startswith("SMTP ")
    # AND -v prints every keyword the result keeps
    result = json.loads(
        smtpwatch("probe", where, "--encryption", "none", "--timeout", "5", "--json").out
    )
    for kw in result["server"]["extensions"]:
        assert kw.split("\x01")[0] in full.out.decode()


# ---------------------------------------------------------------------------- alerts


def _alert(name: str, host: str, tag: str, text: str, event: AlertEvent) -> Alert:
    result = _hostile_result("t1", host, text).to_dict()
    return Alert(
        alert_id="a1",
        event=event,
        target_id="t1",
        status="down",
        created_at=_ago(0),
        target={"target_id": "t1", "name": name, "host": host, "port": 25, "tags": {"env": tag}},
        result=result,
        since=_ago(5),
    )


@SETTINGS
@given(
    name=hostile_text(surrogates=True),
    host=hostile_text(surrogates=True),
    tag=hostile_text(surrogates=True),
    text=hostile_text(surrogates=True),
    event=st.sampled_from(list(AlertEvent)),
)
def test_console_alerts_keep_only_the_projects_own_colours(
    name: str, host: str, tag: str, text: str, event: AlertEvent
) -> None:
    from smtpwatch.core import alert_text
    from smtpwatch.local.sinks import ConsoleSink

    alert = _alert(name, host, tag, text, event)
    for color in (True, False):
        # GIVEN the console sink writing to a strict UTF-8 stream, in colour or not
        buf = io.BytesIO()
        stream = io.TextIOWrapper(buf, encoding="utf-8", errors="strict", write_through=True)
        # WHEN it prints an alert full of hostile text
        ConsoleSink(stream, color=color).send(alert)
        # THEN the only escape sequences are the head's own colour and its reset
        out = assert_terminal_safe(buf.getvalue(), "console alert", styles=2 if color else 0)
        assert out.splitlines()[0].endswith("\x1b[0m") == color
    # AND as JSON lines it parses to the alert's own document
    buf = io.BytesIO()
    stream = io.TextIOWrapper(buf, encoding="utf-8", errors="strict", write_through=True)
    ConsoleSink(stream, json_lines=True).send(alert)
    line = assert_terminal_safe(buf.getvalue(), "console alert --json")
    assert json.loads(line)["alert"] == json.loads(json.dumps(alert_text.document(alert)))


# ---------------------------------------------------------------------------- run --once


def test_run_prints_hostile_ids_names_and_server_text_safely(
    scripted: _ScriptedServer, tmp_path: Path
) -> None:
    # GIVEN a store with an item edited by hand (escape sequences in its id and in an
    # attribute name) and a valid target on a server whose greeting is hostile
    scripted.script.greeting = b"554 \x1b]0;pwned\x07 \x9b2J \xe2\x80\xae no\r\n"
    db = tmp_path / "run.db"
    with SqliteStore(db) as store:
        store.put_items(
            [
                {
                    "target_id": "bad\x1b]0;pwned\x07",
                    "host": "\x1b[2J",
                    "name": "\u202eevil\u202c",
                    "x\x1b[2J": 1,
                },
                {
                    "target_id": "mx1",
                    "name": "mail \u200bzero\ufeffwidth",
                    "host": "127.0.0.1",
                    "port": scripted.port,
                    "encryption": "none",
                    "timeout_s": 5,
                    "recheck_delay_s": 0,
                    "tags": {"env": "\u200dprod"},
                },
            ]
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTPWATCH_"))}
    env |= {"XDG_DATA_HOME": str(tmp_path / "xdg"), "PYTHONWARNINGS": "ignore"}
    for extra in ((), ("--json",)):
        # WHEN `run --once` checks them and reports
        done = subprocess.run(
            [sys.executable, "-m", "smtpwatch", "run", "--once", "--db", str(db), *extra],
            capture_output=True,
            env=env,
            timeout=120,
        )
        # THEN it reports the failure, and nothing unsafe reached the terminal
        assert done.returncode == 2, done.stderr
        out = assert_terminal_safe(done.stdout, f"run {extra} stdout")
        assert_terminal_safe(done.stderr, f"run {extra} stderr")
        assert "mx1" in out and "bad" in out
        if extra:
            docs: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines()]
            assert any(d.get("target_id") == "mx1" for d in docs)


def test_a_line_break_in_stored_text_cannot_forge_a_line_of_run_or_history(
    tmp_path: Path,
) -> None:
    # GIVEN items edited by hand whose id and name hold a line break and a fake line
    db = tmp_path / "forged.db"
    with SqliteStore(db) as store:
        store.put_items(
            [
                {"target_id": "evil\nSMTP OK - forged by an id", "host": "h.example.com"},
                {"target_id": "h1", "host": "h.example.com", "name": "n\nFORGED by a name"},
            ]
        )
    # WHEN `history` prints the target's header and `run --once` its notices
    history = smtpwatch("history", "h1", "--db", str(db)).safe("history")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTPWATCH_"))}
    env |= {"XDG_DATA_HOME": str(tmp_path / "xdg"), "PYTHONWARNINGS": "ignore"}
    run = subprocess.run(
        [sys.executable, "-m", "smtpwatch", "run", "--once", "--db", str(db)],
        capture_output=True,
        env=env,
        timeout=120,
    )
    # THEN every line is smtpwatch's own: the stored text stays inside its line
    for out in (history.out, run.stdout, run.stderr):
        lines = assert_terminal_safe(out, "forged").splitlines()
        assert not [line for line in lines if line.startswith(("SMTP OK", "FORGED"))], lines
