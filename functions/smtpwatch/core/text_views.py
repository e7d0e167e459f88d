"""Views of a text for the secret search: squeezed, case-folded and unescaped.

Each view keeps, for every character, where in the original text it came from, so
what is found in a view is masked in the original (``core/server_text.py``). Every
function is linear in the text: the guard builds these views for every reply.
"""

from __future__ import annotations

import re

__all__ = [
    "DROP_BYTES",
    "UNESCAPE_LEVELS",
    "compose",
    "fold",
    "isalnum_byte",
    "squeeze",
    "stands_alone",
    "unescape",
    "unescaped_views",
]

UNESCAPE_LEVELS = 3  # escapes decoded this many levels deep (JSON inside JSON)

# The escapes decoded, one group each (numbered as _decoded reads them).
_ESCAPE_SOURCE = (
    r"\\u([dD][89abAB][0-9A-Fa-f]{2}\\u[dD][c-fC-F][0-9A-Fa-f]{2})"  # 1: a UTF-16 pair
    r"|\\x([0-9A-Fa-f]{2})"  # 2
    r"|\\u([0-9A-Fa-f]{4})"  # 3
    r"|\\U([0-9A-Fa-f]{8})"  # 4
    r"|%([0-9A-Fa-f]{2})"  # 5
    r"|&#[xX]([0-9A-Fa-f]{1,6});"  # 6
    r"|=([0-9A-Fa-f]{2})"  # 7: quoted-printable
    r"|&#([0-9]{1,7});"  # 8
    r"|\\([0-7]{1,3})"  # 9: octal
    r"|\\([\\'\"/abfnrtv])"  # 10
    r"|&(amp|lt|gt|quot|apos);"  # 11
    r"|=\r?\n"  # quoted-printable soft line break: nothing
)
_escape: re.Pattern[str] | None = None
_HEX_GROUPS = (2, 3, 4, 5, 6, 7)
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}

# Kept in the normalised view: printable ASCII but space and "?", and any non-ASCII
# (sorted out one by one).
_KEPT = re.compile(r"[\x21-\x3e\x40-\x7e]+|[^\x00-\x7f]+")
# Bytes dropped from decoded base64 before searching: what the text view drops.
DROP_BYTES = bytes(
    b for b in range(256) if not chr(b).isprintable() or chr(b).isspace() or b == ord("?")
)


def isalnum_byte(b: int) -> bool:
    """An ASCII letter or digit, as a byte."""
    return 48 <= b <= 57 or 97 <= b <= 122 or 65 <= b <= 90


def stands_alone(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` is a word of its own: no letter or digit glued to it."""
    return (start == 0 or not text[start - 1].isalnum()) and (
        end >= len(text) or not text[end].isalnum()
    )


def squeeze(view: str) -> tuple[str, list[int]]:
    """``view`` without unprintable characters, whitespace, ``?`` and U+FFFD; with
    each kept character's index in ``view``."""
    parts: list[str] = []
    index: list[int] = []
    for match in _KEPT.finditer(view):
        start, end = match.span()
        run = match.group()
        if run[0] < "\x80":
            parts.append(run)
            index.extend(range(start, end))
            continue
        for i, ch in enumerate(run, start):
            if ch.isprintable() and not ch.isspace() and ch != "\ufffd":
                parts.append(ch)
                index.append(i)
    return "".join(parts), index


def fold(squeezed: str, index: list[int]) -> tuple[str, list[int]]:
    """Case-folded (and NFKC for non-ASCII characters), with the index carried."""
    if squeezed.isascii():
        return squeezed.lower(), index
    import unicodedata  # only text with non-ASCII characters needs it

    parts: list[str] = []
    out: list[int] = []
    for ch, where in zip(squeezed, index, strict=True):
        if ch < "\x80":
            parts.append(ch.lower())
            out.append(where)
            continue
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isprintable() and not c.isspace() and c != "?":
                parts.append(c)
                out.append(where)
    return "".join(parts), out


def _escape_pattern() -> re.Pattern[str]:
    # Compiled on first use (~0.5 ms, bench/import_cost.py): only a guard with a secret
    # decodes escapes, so `smtpwatch probe` without a login never pays for it. A race
    # compiles it twice.
    global _escape
    if _escape is None:
        _escape = re.compile(_ESCAPE_SOURCE)
    return _escape


def unescape(text: str) -> tuple[str, list[int], list[int]] | None:
    """One level of escapes decoded: the text and, for each of its characters, the
    span ``[lo, hi)`` of ``text`` it came from. None when there was no escape."""
    parts: list[str] = []
    lo: list[int] = []
    hi: list[int] = []
    pos = 0
    found = False
    for match in _escape_pattern().finditer(text):
        found = True
        start, end = match.span()
        if start > pos:
            parts.append(text[pos:start])
            lo.extend(range(pos, start))
            hi.extend(range(pos + 1, start + 1))
        char = _decoded(match)
        if char:
            parts.append(char)
            lo.append(start)
            hi.append(end)
        pos = end
    if not found:
        return None
    if pos < len(text):
        parts.append(text[pos:])
        lo.extend(range(pos, len(text)))
        hi.extend(range(pos + 1, len(text) + 1))
    return "".join(parts), lo, hi


def _decoded(match: re.Match[str]) -> str:
    group = match.lastindex
    if group is None:
        return ""  # a soft line break
    value = match.group(group)
    if group == 1:  # a surrogate pair, as JSON writes a character beyond U+FFFF
        high, low = int(value[:4], 16), int(value[6:], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    if group in _HEX_GROUPS:
        code = int(value, 16)
    elif group == 8:
        code = int(value)
    elif group == 9:
        code = int(value, 8)
    elif group == 10:
        return _SIMPLE.get(value, value)
    else:
        return _ENTITIES[value]
    return chr(code) if code <= 0x10FFFF else ""


def unescaped_views(text: str) -> list[str]:
    """``text`` and each further level of its escapes decoded (as many as there are)."""
    views = [text]
    for _ in range(UNESCAPE_LEVELS):
        step = unescape(views[-1])
        if step is None:
            break
        views.append(step[0])
    return views


def compose(
    lo: list[int] | None, hi: list[int] | None, step_lo: list[int], step_hi: list[int]
) -> tuple[list[int], list[int]]:
    """Spans of the original text for a view made from a view with spans ``lo``/``hi``."""
    if lo is None or hi is None:
        return step_lo, step_hi
    return [lo[i] for i in step_lo], [hi[j - 1] for j in step_hi]
