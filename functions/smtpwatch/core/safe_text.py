"""Text made safe to show: on a terminal (``for_terminal``) and in an HTML page
(``for_html``).

What a terminal must never receive from text smtpwatch did not write: C0 controls
other than newline and tab (ESC starts every escape sequence: ``ESC ]0;…BEL`` sets the
window title, ``ESC [2J`` clears the screen, ``CR`` overwrites a line), DEL, C1
controls (U+0080 to U+009F; U+009B is CSI on its own), format characters (bidi
overrides and isolates such as U+202E and U+2066, zero-width characters, the BOM,
tag characters), line and paragraph separators, and lone surrogates (which either
crash the write or, through ``surrogateescape``, come out as raw bytes such as 0x9B).
Each is shown as a visible ``\\uXXXX`` (a surrogate pair beyond U+FFFF). Those are
also JSON string escapes of the very same characters, and such characters only ever
occur inside JSON strings, so escaped ``--json`` output stays valid JSON and parses
to the original text. Everything else passes unchanged: letters of every script,
emoji, spaces, backslashes.

The choke point is the CLI's stdout and stderr, not each place that prints.
``cli.main`` wraps both in a ``TerminalGuard`` for the whole command, so every line
passes through ``for_terminal``: tables, JSON, argparse messages, errors naming a
user's value, log lines, tracebacks, and any print added later — no call site has to
remember anything, and hostile text cannot find a path around it. Escaping is per
character, so a sequence split across two writes is caught as well as a whole one.
(Escaping at each call site instead would be dozens of places, in every command,
each one a chance to forget.) A newline has to pass the guard — it is the layout of
every table — so a field printed on a line of its own is escaped with
``for_terminal(text, one_line=True)`` where a stored value could start a fake line.

The project's own colours (alert heads, the demo's story) are not let through by
recognising "our" escape sequences inside text — hostile text could carry the same
bytes. They never travel inside text at all: a writer asks the guard for a colour
with ``write_style("1;31")``, a separate call, and only that call writes ESC. Text is
text, styling is a method; a ``TerminalGuard`` never has to guess which is which.

``for_html`` escapes markup (``& < > " '``) and the same characters as
``for_terminal`` (a bidi override spoofs a page as well as a terminal).

Imported on every start of ``smtpwatch probe``, so it imports nothing at module level.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any, TextIO

__all__ = ["MESSAGE_LIMIT", "TerminalGuard", "for_html", "for_terminal", "guard", "one_line"]

MESSAGE_LIMIT = 300  # characters in a one-line error message

# Not printable for str.isprintable(), and still safe: the kept layout characters and
# the Unicode space separators (no-break, em, ideographic space ...).
_HARMLESS = frozenset(
    "\n\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000"
)


def _escape(char: str) -> str:
    if char in _HARMLESS or char.isprintable():
        return char
    code = ord(char)
    if code > 0xFFFF:  # as a JSON surrogate pair, so JSON output stays JSON
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def for_terminal(text: str, *, one_line: bool = False) -> str:
    """``text`` with every character a terminal could act on shown as ``\\uXXXX``.

    Newline and tab are kept (layout), everything else that ``str.isprintable`` calls
    unprintable is escaped except spaces: controls, format characters, separators,
    surrogates, private-use and unassigned code points. Idempotent. ``one_line``: a
    newline is escaped too, for one field on a line of its own (a line break in a
    stored name must not start a line that looks like smtpwatch's).
    """
    if text.isprintable():  # the common case, in C
        return text
    if one_line:
        text = text.replace("\n", "\\u000a")
    # Multi-line output (a table, indented JSON): only the lines that need it are
    # walked character by character.
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.isprintable():
            lines[i] = "".join([_escape(c) for c in line])
    return "\n".join(lines)


def for_html(text: str) -> str:
    """``text`` for an HTML page, as element content or a quoted attribute value:
    markup escaped (``& < > " '``), controls and format characters as for a terminal.
    Printable text comes back unchanged through ``html.unescape``."""
    import html

    return html.escape(for_terminal(text), quote=True)


class TerminalGuard:
    """A text stream whose ``write`` passes everything through ``for_terminal``.

    ``write_style`` is the one way to write an escape sequence: an SGR colour (digits
    and semicolons, e.g. "1;31", "0"). Other attributes (``fileno``, ``isatty``,
    ``buffer``, ``encoding`` ...) are the wrapped stream's.
    """

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        if text.isprintable():  # most writes (json.dump writes token by token)
            self.raw.write(text)
            return len(text)
        safe = for_terminal(text)
        try:
            self.raw.write(safe)
        except UnicodeEncodeError:
            # A terminal whose encoding lacks a character (latin-1 and an emoji from a
            # server banner): shown as an escape rather than a crash.
            encoding = getattr(self.raw, "encoding", None) or "ascii"
            self.raw.write(safe.encode(encoding, "backslashreplace").decode(encoding))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def write_style(self, sgr: str) -> None:
        """Write ``ESC [ sgr m``: the project's own colours, never text."""
        parts = sgr.split(";")
        if not all(p.isdigit() and p.isascii() and len(p) <= 3 for p in parts):
            raise ValueError(f"not an SGR colour: {sgr!r}")
        self.raw.write(f"\033[{sgr}m")

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return bool(self.raw.isatty())

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        if name == "raw":  # not set yet (a copy made without __init__): no recursion
            raise AttributeError(name)
        return getattr(self.raw, name)


def guard(stream: TextIO | TerminalGuard) -> TerminalGuard:
    """``stream`` wrapped in a ``TerminalGuard`` (itself if it is one already)."""
    return stream if isinstance(stream, TerminalGuard) else TerminalGuard(stream)


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` as one line for an error message: white space runs folded to one
    space, other unprintable characters shown as ``?``, cut to ``limit`` characters
    (ending in ``…``)."""
    line = " ".join(text.split())
    line = "".join(ch if ch.isprintable() else "?" for ch in line)
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"
