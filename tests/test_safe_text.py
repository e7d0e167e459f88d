"""``core.safe_text``: text made safe for a terminal and for an HTML page.

for_terminal: no C0 control but newline and tab, no DEL, C1, format (bidi, zero-width)
or line-separator character, no lone surrogate; each shown as a visible ``\\uXXXX``
that is also a valid JSON escape, so escaping JSON text keeps it valid and equal.
for_html: markup escaped, then the same control handling.
TerminalGuard: the stream wrapper the CLI installs on stdout and stderr.
"""

from __future__ import annotations

import html
import io
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smtpwatch.core.safe_text import TerminalGuard, for_html, for_terminal, guard

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=60)
SAFE_TEXT = st.text(
    st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")), max_size=60
)
FORMAT_CHARS = frozenset(
    {0x061C, 0x180E, 0xFEFF, 0x2028, 0x2029, *range(0xE0000, 0xE0080), *range(0x200B, 0x2010)}
    | {*range(0x202A, 0x202F), *range(0x2060, 0x2065), *range(0x2066, 0x2070)}
    | {*range(0xFFF9, 0xFFFC)}
)


def unsafe(text: str) -> list[str]:
    return [
        c
        for c in text
        if (ord(c) < 0x20 and c not in "\n\t")
        or 0x7F <= ord(c) <= 0x9F
        or 0xD800 <= ord(c) <= 0xDFFF
        or ord(c) in FORMAT_CHARS
    ]


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
@example("\x1b]0;pwned\x07")
@example("a\ud800b\udfffc")
def test_for_terminal_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    out = for_terminal(text)
    assert unsafe(out) == []
    out.encode("utf-8")  # no lone surrogate left
    assert for_terminal(out) == out  # idempotent: escaping twice changes nothing
    assert out.count("\n") == text.count("\n") and out.count("\t") == text.count("\t")


@settings(max_examples=200, deadline=None)
@given(SAFE_TEXT)
def test_for_terminal_keeps_printable_text_as_it_is(text: str) -> None:
    assert for_terminal(text) == text
    assert for_terminal(text + "\n\t" + text) == text + "\n\t" + text


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
@example("\U000e0067\u202e\x85\x1b")
def test_escaped_json_is_still_json_of_the_same_text(text: str) -> None:
    # json.dumps with ensure_ascii=False leaves DEL, C1, bidi and surrogates raw; the
    # escapes for_terminal puts in their place are JSON escapes of the same characters.
    document = json.dumps({"name": text}, ensure_ascii=False, indent=2)
    assert json.loads(for_terminal(document)) == {"name": text}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;pwned\x07", "\\u001b]0;pwned\\u0007"),
        ("\x1b[2J", "\\u001b[2J"),
        ("\x9b31m", "\\u009b31m"),
        ("\r\x08\x00\x7f", "\\u000d\\u0008\\u0000\\u007f"),
        ("user\u202egnp.exe", "user\\u202egnp.exe"),
        ("\u2066x\u2069", "\\u2066x\\u2069"),
        ("\ufeff\u200b", "\\ufeff\\u200b"),
        ("a\u2028b", "a\\u2028b"),
        ("\U000e0041", "\\udb40\\udc41"),  # a JSON surrogate pair for a tag character
        ("\udcff", "\\udcff"),
        ("tab\tline\n", "tab\tline\n"),
        (
            "caf\u00e9 \u2013 日本 \u00a0\u3000 \U0001f600",
            "caf\u00e9 \u2013 日本 \u00a0\u3000 \U0001f600",
        ),
        ("back\\slash", "back\\slash"),
    ],
)
def test_for_terminal_examples(raw: str, shown: str) -> None:
    assert for_terminal(raw) == shown


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
@example("<script>alert('x')</script> & \"quoted\" \x1b[2J\u202e")
def test_for_html_escapes_markup_and_controls(text: str) -> None:
    out = for_html(text)
    assert not {"<", ">", '"', "'"} & set(out)
    assert unsafe(out) == []
    # every & starts an entity the escaping made
    assert (
        out.replace("&amp;", "")
        .replace("&lt;", "")
        .replace("&gt;", "")
        .replace("&quot;", "")
        .replace("&#x27;", "")
        .count("&")
        == 0
    )


@settings(max_examples=300, deadline=None)
@given(SAFE_TEXT)
@example("a &amp; b <i>x</i> 'q' \"d\" &#x27;")
def test_for_html_round_trips_printable_text(text: str) -> None:
    assert html.unescape(for_html(text)) == text


def _stream() -> tuple[io.BytesIO, io.TextIOWrapper]:
    buf = io.BytesIO()
    return buf, io.TextIOWrapper(buf, encoding="utf-8", errors="strict", write_through=True)


def test_guard_escapes_every_write_even_split_sequences() -> None:
    buf, raw = _stream()
    out = guard(raw)
    out.write("\x1b")
    out.write("[2J")
    print("name: \u202eevil", file=out)
    out.flush()
    assert buf.getvalue().decode() == "\\u001b[2Jname: \\u202eevil\n"


def test_guard_writes_the_projects_colours_only_through_write_style() -> None:
    buf, raw = _stream()
    out = guard(raw)
    out.write_style("1;31")
    out.write("ALERT \x1b[1;31m")
    out.write_style("0")
    assert buf.getvalue().decode() == "\x1b[1;31mALERT \\u001b[1;31m\x1b[0m"
    for bad in ("31m\x1b]0;x\x07", "", "1;", "a", "1:2", "9" * 4):
        with pytest.raises(ValueError):
            out.write_style(bad)


def test_guard_wraps_once_and_passes_on_what_the_stream_knows() -> None:
    _, raw = _stream()
    out = guard(raw)
    assert isinstance(out, TerminalGuard)
    assert guard(out) is out
    assert out.raw is raw
    assert out.isatty() is False
    assert out.encoding == "utf-8"
    assert out.writable()


def test_guard_never_crashes_on_text_the_terminal_cannot_encode() -> None:
    # A latin-1 terminal (LANG=de_DE.ISO-8859-1) and a server that sends emoji.
    buf = io.BytesIO()
    raw = io.TextIOWrapper(buf, encoding="latin-1", errors="strict", write_through=True)
    out = guard(raw)
    out.write("banner: caf\u00e9 \U0001f600 \u2603\n")
    assert buf.getvalue() == b"banner: caf\xe9 \\U0001f600 \\u2603\n"


def test_one_line_escapes_the_line_break_too() -> None:
    assert for_terminal("a\nSMTP OK\tb", one_line=True) == "a\\u000aSMTP OK\tb"
    assert for_terminal("plain", one_line=True) == "plain"


def test_a_copy_of_the_guard_does_not_recurse() -> None:
    import copy

    _, raw = _stream()
    assert copy.copy(guard(raw)).raw is raw
