"""Text made safe to show: on a terminal (``for_terminal``) and in an HTML page
(``for_html``), and one-line error messages (``one_line``).

Characters a terminal could act on (controls, bidi and other format characters,
separators, lone surrogates) are shown as ``\\uXXXX``, which keeps JSON valid.
``TerminalGuard`` applies this to a whole stream; the CLI wraps stdout and stderr in
one (``guard``). Imported on every start of ``smtpwatch probe``: no imports at load.
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
